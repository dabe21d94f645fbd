"""The worker agent's Prometheus metrics, served on a local port (`metrics_host:metrics_port`,
127.0.0.1 by default: node exporters and a local Prometheus agent scrape it, nobody else).

Series: heartbeat latency and results, master failovers, the agent's phase, `k3s agent`
restarts, the last heartbeat's time, process and build_info. A port in use does not stop the
agent (its heartbeats matter more than its metrics): it logs one line naming the setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import Receive, Scope, Send

from k3s_daas.log import get_logger
from k3s_daas.seal.protocol import WorkerPhase
from k3s_daas.serving import HttpLimits, Server, serve_app
from k3s_daas.telemetry import process_and_build

log = get_logger("k3s_daas.worker.metrics")

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class WorkerMetrics:
    """One agent's series, in its own registry."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        process_and_build(r)
        self.heartbeat_latency = Histogram(
            "k3s_daas_worker_heartbeat_seconds",
            "Heartbeat round trips (failovers to other masters included)",
            buckets=BUCKETS,
            registry=r,
        )
        self.heartbeats = Counter(
            "k3s_daas_worker_heartbeats",
            "Heartbeats by result (ok, unavailable: no master answered, refused)",
            ["result"],
            registry=r,
        )
        self.failovers = Counter(
            "k3s_daas_worker_failovers", "Moves to another master after one failed", registry=r
        )
        self.phase = Gauge(
            "k3s_daas_worker_phase", "1 for the agent's current phase", ["phase"], registry=r
        )
        self.last_heartbeat = Gauge(
            "k3s_daas_worker_last_heartbeat_timestamp_seconds",
            "When a master last accepted a heartbeat",
            registry=r,
        )
        self.k3s_restarts = Gauge(
            "k3s_daas_worker_k3s_restarts", "Times `k3s agent` exited and was restarted", registry=r
        )

    def set_phase(self, phase: WorkerPhase) -> None:
        for each in WorkerPhase:
            self.phase.labels(each.value).set(1 if each == phase else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI app: GET /metrics, 404 elsewhere."""
        assert scope["type"] == "http"
        found = scope["path"] == "/metrics"
        body = self.render() if found else b"not found\n"
        kind = CONTENT_TYPE_LATEST if found else "text/plain"
        await send({"type": "http.response.start", "status": 200 if found else 404,
                    "headers": [(b"content-type", kind.encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


class MetricsServer:
    """Serves `metrics` on host:port until `stop()`; `url` once bound (port 0: any free one)."""

    def __init__(self, metrics: WorkerMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.url: str | None = None
        self._server: Server | None = None
        self._task: asyncio.Task[Any] | None = None

    async def start(self) -> str | None:
        """Bind and serve; None (and one log line) when the address cannot be bound."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(16)
        except OSError as exc:
            sock.close()
            log.error("metrics_not_served", address=f"{self.host}:{self.port}",
                      error=exc.strerror or str(exc),
                      next_step="set K3S_DAAS_WORKER_METRICS_PORT to a free port")  # fmt: skip
            return None
        port = sock.getsockname()[1]
        self._server = serve_app(self.metrics, self.host, port, HttpLimits())
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{port}/metrics"
        log.info("metrics_serving", url=self.url)
        return self.url

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        self._server = self._task = None
