"""The worker agent on a host: its local /metrics server and the node teardown after a
revocation (`k3s_killall`, driven with a TEST DOUBLE of K3s's killall script: no K3s here)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from k3s_daas.seal.protocol import WorkerPhase
from k3s_daas.worker.config import WorkerConfig
from k3s_daas.worker.k3s import stop_node_containers
from k3s_daas.worker.metrics import MetricsServer, WorkerMetrics
from tests.fixtures.k3s import killall_runs, write_fake_killall


async def test_killall_script_runs_once_and_reports_success(tmp_path: Path) -> None:
    exe, log = write_fake_killall(tmp_path)
    assert await stop_node_containers(str(exe), timeout=30) is True
    assert killall_runs(log) == 1


async def test_killall_failures_are_reported_not_raised(tmp_path: Path) -> None:
    failing, log = write_fake_killall(tmp_path, code=2)
    assert await stop_node_containers(str(failing), timeout=30) is False
    assert killall_runs(log) == 1
    assert await stop_node_containers(str(tmp_path / "absent.sh"), timeout=30) is False


async def test_a_hanging_killall_is_killed_after_its_timeout(tmp_path: Path) -> None:
    exe, log = write_fake_killall(tmp_path, sleep=600)
    assert await stop_node_containers(str(exe), timeout=0.2) is False
    pid = int(log.read_text().split()[0])
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_config_defaults_serve_metrics_locally_and_run_k3s_killall(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("")
    config = WorkerConfig(node_id="n1", sui_key_file=key)
    assert (config.metrics_host, config.metrics_port) == ("127.0.0.1", 9464)
    assert config.k3s_killall == "/usr/local/bin/k3s-killall.sh"


async def test_metrics_server_serves_the_agent_series_on_a_free_port() -> None:
    metrics = WorkerMetrics()
    metrics.set_phase(WorkerPhase.READY)
    metrics.heartbeat_latency.observe(0.02)
    metrics.heartbeats.labels("ok").inc()
    metrics.failovers.inc()
    server = MetricsServer(metrics, "127.0.0.1", 0)
    url = await server.start()
    try:
        assert url is not None and url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            body = (await client.get(url)).text
            assert (await client.get(url.replace("/metrics", "/other"))).status_code == 404
    finally:
        await server.stop()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert found[("k3s_daas_worker_phase", (("phase", "ready"),))] == 1
    assert found[("k3s_daas_worker_phase", (("phase", "attesting"),))] == 0
    assert found[("k3s_daas_worker_heartbeat_seconds_count", ())] == 1
    assert found[("k3s_daas_worker_failovers_total", ())] == 1
    assert ("k3s_daas_build_info", ()) not in found  # it carries its version labels
    assert any(name == "k3s_daas_build_info" for name, _ in found)
    assert any(name == "process_cpu_seconds_total" for name, _ in found)


async def test_a_port_in_use_leaves_the_agent_running_without_metrics() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        server = MetricsServer(WorkerMetrics(), "127.0.0.1", taken.getsockname()[1])
        assert await server.start() is None
        await server.stop()
