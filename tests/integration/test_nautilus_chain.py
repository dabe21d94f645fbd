"""The master follows the chain: revocation by event, chain outages, expiry (real devnet + master).

This module owns its devnet (module-scoped), so stopping it and advancing epochs affects no one else.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, chain, new_staker
from harness.processes import wait_for
from k3s_daas.chain import K3sDaasPackage

pytestmark = pytest.mark.timeout(240)


def node() -> str:
    return f"c-{secrets.token_hex(4)}"


@pytest.fixture
async def package(devnet: DevnetProcess) -> AsyncIterator[K3sDaasPackage]:
    client, pkg = chain(devnet)
    yield pkg
    await client.close()


def wait_reason(
    master: MasterProcess, token: str, reason: str | None, timeout: float = 10.0
) -> float:
    """Seconds until the master's answer for `token` has `reason` (None = valid)."""
    start = time.monotonic()
    while True:
        answer = master.validate(token)
        if answer.get("error") == "rate_limited":  # polling refusals drains the client's bucket
            time.sleep(0.5)
        elif "valid" in answer and answer.get("reason") == reason:
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, answer
        time.sleep(0.01)


async def test_slash_revokes_at_once(master: MasterProcess, devnet: DevnetProcess,
                                     package: K3sDaasPackage) -> None:  # fmt: skip
    """The devnet serves checkpoint events with no JSON, like a full node (pinned in
    test_devnet_events), so this proves the watcher reads `stake_id` from the event's BCS."""
    staker = await new_staker(package, devnet, node())
    assert master.validate(staker.token)["valid"] is True  # now cached
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=20) as http:
        assert (await staker.send(http, "register", master.public_key)).status_code == 200
    start = time.monotonic()
    await package.slash(devnet.admin_key, staker.minted.stake_record_id)
    slashed = time.monotonic()
    delay = wait_reason(master, staker.token, "stake_slashed")
    print(f"\nrevocation: tx {slashed - start:.3f}s, then denied after {delay * 1000:.1f} ms")
    # The denial is in effect first; the registry's status follows in the same event's handling.
    wait_for(lambda: master.workers()[staker.node_id]["status"] == "revoked", timeout=5)
    with master.http() as http:
        assert http.get("/health_check").json()["watcher_mode"] == "stream"


async def test_revoked_token_event(master: MasterProcess, devnet: DevnetProcess,
                                   package: K3sDaasPackage) -> None:  # fmt: skip
    """`token_id` comes from the event's BCS too: the devnet sends no event JSON."""
    staker = await new_staker(package, devnet, node())
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=20) as http:
        assert (await staker.send(http, "register", master.public_key)).status_code == 200
    await package.revoke_token(staker.key, staker.minted.token_id)
    wait_reason(master, staker.token, "not_found")
    deadline = time.monotonic() + 10
    while master.workers()[staker.node_id]["status"] != "revoked":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert master.workers()[staker.node_id]["reason"] == "token_revoked"


async def test_rotation_keeps_the_node_and_kills_the_old_secret(
    master: MasterProcess, devnet: DevnetProcess, package: K3sDaasPackage
) -> None:
    staker = await new_staker(package, devnet, node())
    assert master.validate(staker.token)["valid"] is True
    rotated = await package.rotate_token(staker.key, staker.token)
    wait_reason(master, staker.token, "bad_secret")
    assert master.validate(rotated.token)["valid"] is True


async def test_chain_down_then_back(master: MasterProcess, devnet: DevnetProcess,
                                    package: K3sDaasPackage) -> None:  # fmt: skip
    """Cached tokens keep validating up to the staleness bound (4 s here), new ones fail closed;
    when the chain is back the master recovers without a restart."""
    cached = await new_staker(package, devnet, node())
    fresh = await new_staker(package, devnet, node())
    assert master.validate(cached.token)["valid"] is True
    read_at = time.monotonic()  # the master's last chain read of `cached` is just before this
    devnet.stop()
    try:
        time.sleep(1.5)  # past the 1 s cache TTL: answers now come from the stale path
        assert master.validate(cached.token)["valid"] is True
        assert master.validate(fresh.token)["reason"] == "chain_unavailable"
        wait_reason(master, cached.token, "chain_unavailable", timeout=15)
        served = time.monotonic() - read_at
        print(f"\ncached token served {served:.1f}s after its last chain read, then failed closed")
        # the staleness bound is 4 s in tests, counted from the signed time of the newest
        # checkpoint the master had processed, which may precede the read by the devnet's
        # checkpoint interval (1 s)
        assert served >= 2.5
    finally:
        devnet.restart()
    wait_reason(master, fresh.token, None, timeout=20)
    assert master.validate(cached.token)["valid"] is True


async def test_expiry(
    master: MasterProcess, devnet: DevnetProcess, package: K3sDaasPackage
) -> None:
    """Last in the module: advances the epoch past the token lifetime (100 epochs)."""
    staker = await new_staker(package, devnet, node())
    assert master.validate(staker.token)["valid"] is True
    expires = staker.minted.view.expires_at
    epoch = 0
    while epoch < expires:
        epoch = devnet.advance_epoch()
    wait_reason(master, staker.token, "expired")
