"""Floods cost little, on a real master: refused clients get 429 + Retry-After (per client; a
registered worker behind the same address still gets in; never on the mTLS webhook listener),
and unauthenticated refusals reach the audit log as one count per minute and reason.

Clients are told apart by their loopback source address (127.0.0.1 / 127.0.0.2), as the master
sees them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, Staker, chain, new_staker
from harness.processes import CLI, free_port
from k3s_daas.kube.tls import issue_client_certificate
from k3s_daas.kube.webhooks import TOKENREVIEW_PATH

pytestmark = pytest.mark.timeout(240)

BURST = 5


def random_token() -> str:
    return "seal_" + secrets.token_hex(64)


def http_from(master: MasterProcess, source: str, **kw: object) -> httpx.AsyncClient:
    verify = ssl.create_default_context(cafile=master.ca_path)
    transport = httpx.AsyncHTTPTransport(local_address=source, verify=verify)
    return httpx.AsyncClient(base_url=master.url, transport=transport, timeout=15, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def limited(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    MasterProcess
]:  # fmt: skip
    """A master with a small budget (BURST refusals, then one per 2 s) and a webhook listener."""
    env = {
        "K3S_DAAS_NAUTILUS_RATE_LIMIT": "0.5",
        "K3S_DAAS_NAUTILUS_RATE_LIMIT_BURST": str(BURST),
        "K3S_DAAS_NAUTILUS_WEBHOOK_PORT": str(free_port()),
    }
    node = MasterProcess(devnet, tmp_path_factory.mktemp("limited") / "data", free_port(), env)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def staker(devnet: DevnetProcess) -> Staker:
    async def make() -> Staker:
        client, package = chain(devnet)
        try:
            return await new_staker(package, devnet, "flood-w1")
        finally:
            await client.close()

    return asyncio.run(make())


async def test_429_after_the_burst_per_client_and_a_worker_still_gets_in(
    limited: MasterProcess, staker: Staker
) -> None:
    async with http_from(limited, "127.0.0.1") as flooder:
        registered = await staker.send(flooder, "register", limited.public_key)
        assert registered.status_code == 200, registered.text
        answers = [
            await flooder.post("/api/v1/validate", json={"token": random_token()})
            for _ in range(BURST + 3)
        ]
        statuses = [a.status_code for a in answers]
        assert statuses[:BURST] == [200] * BURST  # refused tokens, each charged
        assert statuses[BURST:] == [429] * 3
        refused = answers[-1]
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 3
        assert (await flooder.post("/api/v1/validate", json={"token": random_token()})).status_code == 429  # fmt: skip

        # the registered worker behind the same address: its own budget
        beat = await staker.send(flooder, "heartbeat", limited.public_key)
        assert beat.status_code == 200, beat.text

    async with http_from(limited, "127.0.0.2") as other:
        fine = await other.post("/api/v1/validate", json={"token": random_token()})
        assert fine.status_code == 200 and fine.json()["valid"] is False
        metrics = (await other.get("/metrics")).text
    assert "nautilus_rate_limited_total 4.0" in metrics


async def test_the_webhook_listener_is_never_rate_limited(
    limited: MasterProcess, tmp_path: Path
) -> None:
    cert = issue_client_certificate(limited.data_dir / "tls")
    (tmp_path / "c.crt").write_bytes(cert.cert_pem)
    (tmp_path / "c.key").write_bytes(cert.key_pem)
    tls = ssl.create_default_context(cafile=limited.ca_path)
    tls.load_cert_chain(tmp_path / "c.crt", tmp_path / "c.key")
    url = str(limited.info["webhook_url"])
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}}
    async with httpx.AsyncClient(base_url=url, verify=tls, timeout=15) as apiserver:
        for _ in range(BURST * 6):
            review["spec"] = {"token": random_token()}
            answer = await apiserver.post(TOKENREVIEW_PATH, json=review)
            assert answer.status_code == 200
            assert answer.json()["status"]["authenticated"] is False


def audit_tail(master: MasterProcess) -> list[dict[str, object]]:
    store = f"sqlite:///{(master.data_dir / 'store.db').resolve()}"
    done = subprocess.run(
        [CLI, "audit", "tail", "-n", "200", "--json", "--store", store,
         "--data-key-file", str(master.data_dir / "data.key")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


async def test_invalid_validations_are_audited_as_one_count(
    master_factory: Callable[..., MasterProcess],
) -> None:
    master = master_factory()
    count = 40
    if time.time() % 60 > 50:  # all within one minute: one entry
        await asyncio.sleep(61 - time.time() % 60)
    async with http_from(master, "127.0.0.1") as http:
        for _ in range(count):
            answer = await http.post("/api/v1/validate", json={"token": random_token()})
            assert answer.json()["reason"] == "not_found"
    master.stop()  # shutdown writes the open minute
    counted = [e for e in audit_tail(master) if e["action"] == "refusals"]
    assert len(counted) == 1, counted
    entry = counted[0]
    assert (entry["reason"], entry["details"]) == (
        "not_found", {"count": count, "actions": {"validate": count}}
    )  # fmt: skip
    assert entry["token_fingerprint"] is None
