"""The heartbeat's fast path (nautilus.fast_route): `create_app`'s heartbeats skip FastAPI yet
keep the app's request metrics, rate limit, body cap and error shape; every other request still
goes through FastAPI. In process, over a service double."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from k3s_daas.log import configure_logging
from k3s_daas.nautilus.app import create_app
from k3s_daas.nautilus.context import AppContext
from k3s_daas.nautilus.errors import MasterError
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.seal.protocol import PATHS, HeartbeatAnswer, NodeStatus, Reason
from k3s_daas.seal.token import format_token

HEARTBEAT = PATHS["heartbeat"]
TOKEN = format_token("0x" + "11" * 32, b"\x22" * 32)
ANSWER = HeartbeatAnswer(
    node_id="n1", state=NodeStatus.READY, owner="0x" + "aa" * 32, stake=1, tier="basic",
    permissions=[], expires_at_epoch=9, enclave_id="0xe", heartbeat_interval=30.0,
    master_time_ms=1, epoch=3, next_heartbeat_s=30.0,
)  # fmt: skip


class RefusalsDouble:
    def __init__(self) -> None:
        self.counted: list[tuple[str, str]] = []

    def count(self, kind: str, reason: str) -> None:
        self.counted.append((kind, reason))


class ServiceDouble:
    """The master's service as the heartbeat sees it: `verify` then `heartbeat`; `fails` is
    raised by `verify` instead."""

    def __init__(self, fails: Exception | None = None) -> None:
        self.fails = fails
        self.verified: list[bytes] = []
        self.refusals = RefusalsDouble()

    async def verify(self, _: type, token: str | None, body: bytes) -> Any:
        self.verified.append(body)
        if self.fails is not None:
            raise self.fails
        return token

    async def heartbeat(self, _: Any) -> bytes:
        return ANSWER.model_dump_json().encode()  # the signed answer's bytes, as the service's


class ValidatorDouble:
    def __init__(self) -> None:
        self.cache: dict[str, Any] = {}  # no token accepted yet: every client is its address


def context(service: ServiceDouble, metrics: Metrics, **settings: Any) -> AppContext:
    return AppContext(
        settings=NautilusSettings(**settings),
        service=cast(Any, service),
        validator=cast(Any, ValidatorDouble()),
        registry=cast(Any, object()),
        metrics=metrics,
        enclave=cast(Any, None),
        admin_token="admin",
    )


def build(
    service: ServiceDouble, *, mount_kube: bool = True, **settings: Any
) -> tuple[httpx.AsyncClient, Metrics]:
    metrics = Metrics()
    ctx = context(service, metrics, **settings)
    transport = httpx.ASGITransport(
        app=create_app(ctx, mount_kube=mount_kube), client=("10.0.0.1", 40_000)
    )
    return httpx.AsyncClient(transport=transport, base_url="https://master"), metrics


def latency_counts(metrics: Metrics) -> dict[tuple[str, str, str], float]:
    """(route, method, status) -> requests counted in the latency histogram."""
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == "nautilus_http_request_seconds_count":
                found[(s.labels["route"], s.labels["method"], s.labels["status"])] = s.value
    return found


def assert_error(answer: httpx.Response, status: int, reason: Reason) -> None:
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"error", "message"} and body["error"] == reason.value


async def test_a_heartbeat_is_answered_and_timed_under_its_route_template() -> None:
    service = ServiceDouble()
    http, metrics = build(service)
    async with http:
        answer = await http.post(HEARTBEAT, content=b"{}", headers={"x-seal-token": TOKEN})
    assert answer.status_code == 200
    assert HeartbeatAnswer.model_validate_json(answer.content) == ANSWER
    assert service.verified == [b"{}"]
    assert latency_counts(metrics) == {(HEARTBEAT, "POST", "200"): 1}


async def test_a_heartbeat_never_enters_fastapis_middleware_stack() -> None:
    app = create_app(context(ServiceDouble(), Metrics()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://master") as http:
        assert (await http.post(HEARTBEAT, content=b"{}")).status_code == 200
        assert app.middleware_stack is None  # built lazily by the first request through it
        assert (await http.get("/nowhere")).status_code == 404
        assert app.middleware_stack is not None


async def test_a_refused_heartbeat_keeps_its_status_reason_and_template() -> None:
    service = ServiceDouble(MasterError(reason=Reason.NOT_REGISTERED))
    http, metrics = build(service)
    async with http:
        answer = await http.post(HEARTBEAT, content=b"{}")
    assert_error(answer, 404, Reason.NOT_REGISTERED)
    assert latency_counts(metrics) == {(HEARTBEAT, "POST", "404"): 1}


async def test_a_heartbeat_over_the_body_cap_is_refused_413() -> None:
    service = ServiceDouble()
    http, _ = build(service, max_body_bytes=1024)

    async def streamed() -> AsyncIterator[bytes]:  # no content-length: the bytes are counted
        for _ in range(3):
            yield b"x" * 512

    async with http:
        declared = await http.post(HEARTBEAT, content=b"x" * 1025)
        counted = await http.post(HEARTBEAT, content=streamed())
    for answer in (declared, counted):
        assert_error(answer, 413, Reason.BODY_TOO_LARGE)
        assert answer.json()["message"] == "request bodies are capped at 1024 bytes"
    assert service.verified == []


async def test_a_heartbeat_client_over_its_budget_gets_429_from_the_apps_limiter() -> None:
    service = ServiceDouble(MasterError(reason=Reason.NOT_REGISTERED))
    http, metrics = build(service, rate_limit=0.5, rate_limit_burst=2)
    async with http:
        refused = [(await http.post(HEARTBEAT, content=b"{}")).status_code for _ in range(2)]
        limited = await http.post(HEARTBEAT, content=b"{}")
        elsewhere = await http.get("/api/v1/nowhere")  # the same client, the same bucket
    assert refused == [404, 404]
    for answer in (limited, elsewhere):
        assert_error(answer, 429, Reason.RATE_LIMITED)
        assert answer.headers["retry-after"] == "2"
    assert len(service.verified) == 2  # the limited heartbeat never reached the service
    assert service.refusals.counted == [("rate_limit", Reason.RATE_LIMITED)] * 2
    assert metrics.rate_limited._value.get() == 2


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level, stderr = list(root.handlers), root.level, sys.stderr
    stream = io.StringIO()
    configure_logging("info", json=True, stream=stream)
    yield stream
    sys.stderr = stderr
    root.handlers[:] = handlers
    root.setLevel(level)
    configure_logging()


async def test_an_unexpected_exception_is_a_500_internal_with_one_line(
    log_stream: io.StringIO,
) -> None:
    http, metrics = build(ServiceDouble(RuntimeError("a bug")))
    async with http:
        answer = await http.post(HEARTBEAT, content=b"{}")
    assert_error(answer, 500, Reason.INTERNAL)
    lines = [line for line in log_stream.getvalue().splitlines() if "a bug" in line
             or "RuntimeError" in line]  # fmt: skip
    assert len(lines) == 1 and "unexpected error" in lines[0]
    assert "Traceback" not in log_stream.getvalue()
    assert latency_counts(metrics) == {(HEARTBEAT, "POST", "500"): 1}


async def test_other_requests_and_other_methods_still_go_through_fastapi() -> None:
    service = ServiceDouble()
    http, metrics = build(service, mount_kube=False)
    async with http:
        wrong_method = await http.get(HEARTBEAT)
        no_route = await http.post("/api/v1/nowhere", content=b"{}")
    assert_error(wrong_method, 405, Reason.METHOD_NOT_ALLOWED)  # FastAPI's router and handler
    assert_error(no_route, 404, Reason.NOT_FOUND)
    assert service.verified == []
    counted = latency_counts(metrics)
    assert counted[("unmatched", "POST", "404")] == 1
    assert sum(v for (_, method, _), v in counted.items() if method == "GET") == 1


async def test_with_kubernetes_mounted_a_get_is_the_kubernetes_apis() -> None:
    service = ServiceDouble()
    http, _ = build(service)
    async with http:
        answer = await http.get(HEARTBEAT)  # GET /api/v1/nodes/{name}, a node named "heartbeat"
    assert answer.status_code == 401 and answer.json()["kind"] == "Status"
    assert service.verified == []
