"""Failover within one heartbeat interval: two masters share one etcd (one registry), a real
worker agent lists both, and master A is killed with SIGKILL.

The worker's next heartbeat finds A gone and goes to B in the same beat (no backoff first); B
holds the worker's record (followed from etcd), so it takes the heartbeat without a
re-registration. Measured: SIGKILL -> first heartbeat answered by B, against the interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.etcd import EtcdCluster
from harness.master import MasterProcess
from harness.processes import stop_process, wait_for
from harness.workers import ready, start_worker, state

INTERVAL = 2.0  # seconds, for the masters and the worker alike
JITTER = 0.1  # the worker's default heartbeat jitter (a fraction of the interval)
SLACK = 1.0  # attesting B and one heartbeat round trip, on a loaded 2-core machine


@pytest.mark.timeout(300)
def test_kill9_of_a_master_moves_heartbeats_to_the_next_within_one_interval(
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
    }
    a, b = master_factory(**env), master_factory(**env)
    proc, folder = start_worker(
        tmp_path, devnet, [a, b], "failover-w1", 1_000, heartbeat_interval=INTERVAL
    )
    try:
        wait_for(lambda: ready(folder, beats=2) or proc.poll() is not None, timeout=120)
        assert proc.poll() is None, (folder / "worker.log").read_text()[-2000:]
        before: dict[str, Any] = state(folder)
        assert before["master_url"] == a.url
        wait_for(lambda: b.workers().get("failover-w1", {}).get("status") == "ready", timeout=15)
        created = b.workers()["failover-w1"]["created"]  # the record A wrote, followed by B

        a.kill9()
        killed = time.monotonic()
        wait_for(lambda: state(folder).get("master_url") == b.url, timeout=30, interval=0.02)
        landed = time.monotonic() - killed
        after = state(folder)

        bound = INTERVAL * (1 + JITTER) + SLACK
        assert landed <= bound, f"first heartbeat at B {landed:.2f} s after the kill (> {bound})"
        assert after["heartbeats"] > before["heartbeats"]
        assert after["status"] == "ready"
        assert after["registered_at"] == before["registered_at"]  # no re-registration
        worker = b.workers()["failover-w1"]
        assert worker["status"] == "ready"
        assert worker["created"] == created  # the same admission, not a new one
        with b.http() as http:
            metrics = http.get("/metrics").text
        assert 'nautilus_registrations_total{result="ok"}' not in metrics  # B registered no one
        assert 'nautilus_heartbeats_total{result="ok"}' in metrics
        agent = httpx.get(after["metrics_url"], timeout=10).text  # the agent's own /metrics
        assert "k3s_daas_worker_failovers_total 1.0" in agent
        assert 'k3s_daas_worker_phase{phase="ready"} 1.0' in agent
        print(f"\nfailover: first heartbeat at B {landed:.2f} s after SIGKILL of A "
              f"(interval {INTERVAL} s)")  # fmt: skip
    finally:
        stop_process(proc)
