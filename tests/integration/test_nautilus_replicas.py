"""Two real masters sharing one real etcd and one Redis: one registry, one audit
chain, one validation cache.

Each master registers its own enclave on chain (its own `/enclave/id/<operator>`); they share the
data key (as replicas of one deployment do: on Nitro, the same KMS key released to the same
PCRs). A worker registered at one is seen by the other at once; a heartbeat at the other makes
it ready for both; a slash revokes it on both; the shared audit chain stays intact.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.etcd import EtcdCluster
from harness.master import MasterProcess, chain, new_staker
from harness.processes import CLI
from tests.fixtures.services import RedisServer


async def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


def status(master: MasterProcess, node: str) -> str | None:
    worker: dict[str, Any] | None = master.workers().get(node)
    return None if worker is None else str(worker["status"])


@pytest.mark.timeout(240)
async def test_two_masters_on_one_etcd_share_workers_and_audit(
    devnet: DevnetProcess,
    master_factory: Callable[..., MasterProcess],
    etcd_cluster_factory: Callable[[int], EtcdCluster],
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    etcd = etcd_cluster_factory(1)
    env = {
        "K3S_DAAS_NAUTILUS_STORE_URL": etcd.url,
        "K3S_DAAS_NAUTILUS_DATA_KEY_FILE": str(tmp_path / "shared-data.key"),
        "K3S_DAAS_NAUTILUS_SHARED_CACHE_URL": redis_server.url,
    }
    a, b = master_factory(**env), master_factory(**env)
    assert a.enclave_id != b.enclave_id  # one Enclave object on chain per replica
    client, package = chain(devnet)
    try:
        staker = await new_staker(package, devnet, "replica-w1")
        async with (
            httpx.AsyncClient(base_url=a.url, verify=a.ca_path, timeout=30) as http_a,
            httpx.AsyncClient(base_url=b.url, verify=b.ca_path, timeout=30) as http_b,
        ):
            # b answers from the validation a read from the chain (the shared Redis cache)
            assert (await http_a.post("/api/v1/validate", json={"token": staker.token})).json()[
                "valid"
            ]
            assert (await http_b.post("/api/v1/validate", json={"token": staker.token})).json()[
                "valid"
            ]
            assert (
                'nautilus_cache_total{outcome="shared_hit"} 1.0'
                in (await http_b.get("/metrics")).text
            )
            registered = await staker.send(http_a, "register", a.public_key)
            assert registered.status_code == 200, registered.text
            await eventually(lambda: status(b, "replica-w1") == "registered")
            beat = await staker.send(http_b, "heartbeat", b.public_key)  # at the other replica
            assert beat.status_code == 200, beat.text
            await eventually(lambda: status(a, "replica-w1") == "ready")
            await package.slash(devnet.admin_key, staker.minted.stake_record_id)
            await eventually(
                lambda: status(a, "replica-w1") == status(b, "replica-w1") == "revoked"
            )
            denied = await staker.send(http_a, "heartbeat", a.public_key)
            assert denied.status_code == 403 and denied.json()["error"] == "stake_slashed"
    finally:
        await client.close()
    verify = subprocess.run(
        [CLI, "audit", "verify", "--store", etcd.url, "--data-key-file", env["K3S_DAAS_NAUTILUS_DATA_KEY_FILE"]],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("audit log intact:")
