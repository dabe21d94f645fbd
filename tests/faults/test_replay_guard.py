"""Batched heartbeats and kill -9: two real replicas on a real etcd.

A worker registers at replica A and heartbeats; A is killed (its last heartbeats acknowledged
from memory, perhaps never flushed). The heartbeat captured just before the kill is refused by
B and by the restarted A (signed for the killed process's enclave key: `bad_signature`; under a
shared or persisted key the stored W would refuse it as `replayed`, tests/unit/
test_nautilus_liveness.py); the worker failing over to B is accepted within one heartbeat
interval; copies of one heartbeat sent together are accepted once; the acknowledged
registration is never lost.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.etcd import EtcdCluster
from harness.master import MasterProcess, Staker, chain, new_staker
from harness.processes import wait_for

pytestmark = pytest.mark.timeout(300)

INTERVAL = 4.0  # above the liveness flush interval (1 s) + the future tolerance (2 s)


def client(master: MasterProcess) -> httpx.AsyncClient:
    tls = ssl.create_default_context(cafile=master.ca_path)
    return httpx.AsyncClient(base_url=master.url, verify=tls, timeout=10)


async def send(master: MasterProcess, staker: Staker, body: dict[str, Any]) -> tuple[int, str]:
    async with client(master) as http:
        answer = await staker.send(http, "heartbeat", master.public_key, body=body)
    return answer.status_code, answer.json().get("error", "")


async def test_kill9_replica_replays_refused_failover_within_one_interval(
    devnet: DevnetProcess,
    master_factory: Callable[..., MasterProcess],
    etcd_cluster_factory: Callable[[int], EtcdCluster],
    tmp_path: Path,
) -> None:
    etcd = etcd_cluster_factory(1)
    env = {
        "K3S_DAAS_NAUTILUS_STORE_URL": etcd.url,
        "K3S_DAAS_NAUTILUS_DATA_KEY_FILE": str(tmp_path / "shared-data.key"),
        "K3S_DAAS_NAUTILUS_HEARTBEAT_INTERVAL": str(INTERVAL),
        "K3S_DAAS_NAUTILUS_RATE_LIMIT": "0",  # every refusal answered, none 429
    }
    a, b = master_factory(**env), master_factory(**env)
    client_, package = chain(devnet)
    try:
        staker = await new_staker(package, devnet, "replay-kill")
    finally:
        await client_.close()
    async with client(a) as http:
        assert (await staker.send(http, "register", a.public_key)).status_code == 200
        for _ in range(3):  # the first is the durable registered -> ready; then routine ones
            assert (await staker.send(http, "heartbeat", a.public_key)).status_code == 200
        copies = staker.body("heartbeat", a.public_key)
        answers = await asyncio.gather(*(staker.send(http, "heartbeat", a.public_key, body=copies)
                                         for _ in range(4)))  # fmt: skip
        assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
        captured = staker.body("heartbeat", a.public_key)
        assert (
            await staker.send(http, "heartbeat", a.public_key, body=captured)
        ).status_code == 200
    a.kill9()
    killed = time.time()

    # B had followed the registration; the captured heartbeat is not B's to accept
    wait_for(lambda: staker.node_id in b.workers(), timeout=10)
    status, reason = await send(b, staker, captured)
    assert (status, reason) in ((401, "bad_signature"), (409, "replayed")), (status, reason)
    # the worker fails over to B: beats once per interval until one is accepted
    outcomes: list[tuple[int, str]] = []
    while not outcomes or outcomes[-1][0] != 200:
        outcomes.append(await send(b, staker, staker.body("heartbeat", b.public_key)))
        if outcomes[-1][0] != 200:
            assert outcomes[-1] == (409, "replayed"), outcomes  # under A's stored W
            assert len(outcomes) < 3, outcomes
            await asyncio.sleep(INTERVAL)
    accepted_after = time.time() - killed
    assert accepted_after <= INTERVAL + 2.0, (accepted_after, outcomes)

    a.start()  # same data directory: same replica id, its W loaded
    status, reason = await send(a, staker, captured)
    assert (status, reason) in ((401, "bad_signature"), (409, "replayed")), (status, reason)
    record = a.workers()[staker.node_id]
    assert record["status"] == "ready" and record["replica"] != ""  # the registration kept
    print(f"\nfailover accepted {accepted_after:.1f} s after the kill, outcomes {outcomes}")
