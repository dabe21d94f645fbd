"""A hung chain (the devnet SIGSTOPped): deadlines, not hopes; then catch-up after SIGCONT.

Timings are the harness's TEST_ENV: cache_ttl 1 s, staleness 4 s, chain_timeout 2 s. While the
chain hangs: a cached token is answered "valid" only while its last chain confirmation is within
`staleness` when the answer is sent; every answer comes within `chain_timeout` (one deadline per
request, whatever it reads); a never-seen token fails closed within it. After SIGCONT the master
catches up without a restart: new tokens validate and a slash revokes the registered worker.
This module owns its devnet, so stopping it affects no one else.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import TEST_ENV, MasterProcess, chain, new_staker
from harness.processes import wait_for
from k3s_daas.chain import K3sDaasPackage

pytestmark = pytest.mark.timeout(240)

CACHE_TTL = float(TEST_ENV["K3S_DAAS_NAUTILUS_CACHE_TTL"])
STALENESS = float(TEST_ENV["K3S_DAAS_NAUTILUS_STALENESS"])
CHAIN_TIMEOUT = float(TEST_ENV["K3S_DAAS_NAUTILUS_CHAIN_TIMEOUT"])
SLACK = 1.0  # HTTPS round trip and scheduling on a shared 2-core machine


@dataclass(frozen=True)
class Answer:
    token: str
    sent: float  # seconds after the last chain confirmation could have happened
    took: float
    valid: bool
    reason: str | None


@pytest.fixture
async def package(devnet: DevnetProcess) -> AsyncIterator[K3sDaasPackage]:
    client, pkg = chain(devnet)
    yield pkg
    await client.close()


async def ask(master: MasterProcess, token: str, since: float, until: float) -> list[Answer]:
    """Validate `token` back to back until `until` (monotonic); every answer, timed."""
    answers = []
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=60) as http:
        while (start := time.monotonic()) < until:
            body = (await http.post("/api/v1/validate", json={"token": token})).json()
            took = time.monotonic() - start
            answers.append(Answer(token, start - since, took, body["valid"], body.get("reason")))
            await asyncio.sleep(0.05)
    return answers


async def test_hung_chain_fails_closed_within_the_deadline_then_catches_up(
    master_factory: Callable[..., MasterProcess], devnet: DevnetProcess, package: K3sDaasPackage
) -> None:
    master = master_factory(K3S_DAAS_NAUTILUS_RATE_LIMIT="0")  # every refusal answered, none 429
    cached = await new_staker(package, devnet, f"hang-{secrets.token_hex(3)}")
    fresh = await new_staker(package, devnet, f"hang-{secrets.token_hex(3)}")
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=20) as http:
        assert (await cached.send(http, "register", master.public_key)).status_code == 200
    assert master.validate(cached.token)["valid"] is True  # now cached: a chain read ...
    confirmed = time.monotonic()  # ... that happened before this instant
    os.kill(devnet.proc.pid, signal.SIGSTOP)
    try:
        until = confirmed + STALENESS + 2 * CHAIN_TIMEOUT + 1
        runs = await asyncio.gather(
            *(ask(master, cached.token, confirmed, until) for _ in range(3)),
            ask(master, fresh.token, confirmed, until),
        )
    finally:
        os.kill(devnet.proc.pid, signal.SIGCONT)
    answers = [a for run in runs for a in run]
    valid = [a for a in answers if a.valid]
    slowest = max(a.took for a in answers)
    last_valid = max(a.sent + a.took for a in valid)
    print(f"\nhung chain: {len(answers)} answers, slowest {slowest:.2f}s; cached token valid "
          f"until {last_valid:.2f}s after its confirmation (bound {STALENESS}s)")  # fmt: skip

    assert all(a.took <= CHAIN_TIMEOUT + SLACK for a in answers), slowest
    assert all(a.token == cached.token for a in valid)  # the never-seen token: never valid ...
    assert {a.reason for a in runs[-1]} == {"chain_unavailable"}  # ... it fails closed
    # A "valid" answer was sent after its request started, so its request must have started
    # within the bound; and it reached us within the bound plus the round trip.
    assert all(a.sent <= STALENESS for a in valid)
    assert last_valid <= STALENESS + SLACK
    assert any(a.sent > CACHE_TTL for a in valid)  # served stale past the TTL, as designed
    assert all(not a.valid for a in answers if a.sent > STALENESS)

    # SIGCONT: the master catches up without a restart.
    wait_for(lambda: master.validate(fresh.token).get("valid") is True, timeout=30)
    wait_for(lambda: master.validate(cached.token).get("valid") is True, timeout=30)
    await package.slash(devnet.admin_key, cached.minted.stake_record_id)
    wait_for(lambda: master.workers()[cached.node_id]["status"] == "revoked", timeout=20)
    assert master.validate(cached.token)["reason"] == "stake_slashed"
