"""HTTP latency per route template (never the raw path: ids would explode the series) and the
webhooks' decisions, measured once for every request in a pure ASGI middleware."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from k3s_daas.kube.webhooks import DECISION_STATE
from k3s_daas.nautilus.metrics import Metrics

UNMATCHED = "unmatched"  # no route: 404, or refused before routing (429, 413)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/nodes/{name}`), or `unmatched`."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware, outermost: times every HTTP request and counts webhook decisions."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        #: Each webhook's (decisions counter, latency histogram) children, looked up once.
        self._webhook: dict[tuple[str, str], tuple[Any, Any]] = {}
        #: Latency histogram children by (route template, method, status): `labels()` takes a
        #: lock and checks its arguments on every call (a few µs on the hottest request).
        self._latency: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500  # an exception before the answer started is answered 500 outside us

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - start
            m = self.metrics
            key = (route_template(scope), scope["method"], status)
            child = self._latency.get(key)
            if child is None:  # templates x methods x statuses: a bounded set
                child = self._latency[key] = m.http_latency.labels(key[0], key[1], str(status))
            child.observe(seconds)
            decision = state.get(DECISION_STATE)
            if isinstance(decision, tuple) and len(decision) == 2:
                children = self._webhook.get(decision)
                if children is None:
                    review, outcome = decision
                    children = (m.webhook_decisions.labels(review, outcome),
                                m.webhook_latency.labels(review))  # fmt: skip
                    self._webhook[decision] = children
                children[0].inc()
                children[1].observe(seconds)
