"""A master on a 3-member etcd that loses quorum: it fails fast and recovers by itself.

Two of the three members are killed. A registration and a heartbeat are answered
`503 store_unavailable` within 1 s (the store's per-operation deadline, not etcd's own request
timeout); the admin's workers list is answered from memory within 1 s (its audit entry is
written in the background, never awaited). The members come back: writes succeed again without
restarting the master, and every acknowledged registration and heartbeat is in etcd.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.etcd import EtcdCluster
from harness.master import MasterProcess, chain, new_staker
from k3s_daas.nautilus.registry import PREFIX
from k3s_daas.nautilus.store import open_store
from k3s_daas.nautilus.worker_record import WorkerRecord

FAST = 1.0  # seconds: the answer bound while etcd has no quorum


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call()
    return response, time.monotonic() - started


@pytest.mark.timeout(300)
async def test_quorum_loss_is_a_fast_503_and_recovers_without_a_restart(
    devnet: DevnetProcess,
    master_factory: Callable[..., MasterProcess],
    etcd_cluster_factory: Callable[[int], EtcdCluster],
    tmp_path: Path,
) -> None:
    etcd = etcd_cluster_factory(3)
    key_file = tmp_path / "data.key"
    master = master_factory(
        K3S_DAAS_NAUTILUS_STORE_URL=etcd.all_url, K3S_DAAS_NAUTILUS_DATA_KEY_FILE=str(key_file)
    )
    client, package = chain(devnet)
    try:
        first = await new_staker(package, devnet, "outage-w1")
        second = await new_staker(package, devnet, "outage-w2")
    finally:
        await client.close()
    admin = {"Authorization": f"Bearer {master.admin_token}"}
    acknowledged: dict[str, int] = {}  # node -> heartbeats acknowledged
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=30) as http:
        assert (await first.send(http, "register", master.public_key)).status_code == 200
        acknowledged["outage-w1"] = 0
        assert (await first.send(http, "heartbeat", master.public_key)).status_code == 200
        acknowledged["outage-w1"] = 1

        leader = etcd.leader()
        down = [leader, next(m for m in etcd.members if m is not leader)]
        for member in down:
            etcd.kill(member)

        registered, took = await timed(lambda: second.send(http, "register", master.public_key))
        assert registered.status_code == 503, registered.text
        assert registered.json()["error"] == "store_unavailable"
        assert took < FAST, f"registration answered after {took:.2f} s"
        beat, beat_took = await timed(lambda: first.send(http, "heartbeat", master.public_key))
        assert (beat.status_code, beat.json()["error"]) == (503, "store_unavailable")
        assert beat_took < FAST, f"heartbeat answered after {beat_took:.2f} s"
        listed, list_took = await timed(lambda: http.get("/api/v1/workers", headers=admin))
        assert listed.status_code == 200, listed.text
        assert list_took < FAST, f"workers list answered after {list_took:.2f} s"
        assert {w["node_id"] for w in listed.json()["workers"]} == {"outage-w1"}

        etcd.restart(*down)
        restarted = time.monotonic()
        deadline = time.monotonic() + 60
        while True:  # the same master process: no restart
            answer = await second.send(http, "register", master.public_key)
            if answer.status_code == 200:
                break
            assert answer.status_code == 503, answer.text
            assert time.monotonic() < deadline, "writes did not recover"
            await asyncio.sleep(0.2)
        acknowledged["outage-w2"] = 0
        print(f"\nno quorum: register 503 in {took:.2f} s, heartbeat 503 in {beat_took:.2f} s, "
              f"workers list 200 in {list_took:.3f} s; writes back "
              f"{time.monotonic() - restarted:.1f} s after the members were healthy")  # fmt: skip
        assert (await first.send(http, "heartbeat", master.public_key)).status_code == 200
        acknowledged["outage-w1"] = 2

    store = open_store(etcd.all_url + "?timeout=5", data_key=key_file.read_bytes())
    try:
        for node, beats in acknowledged.items():
            entry = await store.get(PREFIX + node)
            assert entry is not None, f"{node}: acknowledged, then lost"
            assert WorkerRecord.from_json(entry.value).heartbeats >= beats
    finally:
        await store.close()
