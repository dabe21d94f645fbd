"""/readyz's checks and their kube-apiserver style report; the HTTP metrics middleware (route
templates, webhook decisions); the timed store wrapper. In process, with plain fakes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from harness.kube_doubles import MemoryAuthenticator, MemoryNodeSource
from k3s_daas.kube.install import install
from k3s_daas.nautilus.health import (
    CheckResult,
    Readiness,
    StoreCheck,
    chain_check,
    enclave_check,
    report,
    watcher_check,
)
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.request_metrics import RequestMetrics
from k3s_daas.nautilus.store import MemoryStore, StoreClosedError, StoreUnavailableError
from k3s_daas.nautilus.store.timed import TimedStore
from k3s_daas.nautilus.store.view import BytesStore
from k3s_daas.seal import Tier
from tests.fixtures.kube import sample_node, seal_token, user_claims


class Follower:
    def __init__(self, age: float | None, lag: int = 0) -> None:
        self.age = age
        self.lag = lag

    def chain_age(self) -> float | None:
        return self.age


class FailingStore(BytesStore):
    def __init__(self) -> None:
        super().__init__(MemoryStore())
        self.writes = 0

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        self.writes += 1
        raise StoreUnavailableError("etcd down")

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        self.writes += 1
        raise StoreUnavailableError("etcd down")


class HangingStore(BytesStore):
    def __init__(self) -> None:
        super().__init__(MemoryStore())

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        await asyncio.Event().wait()
        return 0

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        await asyncio.Event().wait()
        return 0


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


async def test_every_check_passing_is_ok_and_verbose_lists_them() -> None:
    follower = Follower(age=1.0, lag=3)
    readiness = Readiness([
        ("chain", chain_check(follower, staleness=4)),
        ("watcher", watcher_check(follower, max_lag=5)),
        ("store", StoreCheck(BytesStore(MemoryStore()), timeout=1)),
        ("enclave", enclave_check(lambda: "0xe")),
    ])  # fmt: skip
    results = await readiness.run()
    assert report("readyz", results, verbose=False) == (200, "ok")
    status, text = report("readyz", results, verbose=True)
    assert status == 200
    assert text.splitlines() == [
        "[+]chain ok", "[+]watcher ok", "[+]store ok", "[+]enclave ok", "readyz check passed",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("check", "fragment"),
    [
        (chain_check(Follower(age=None), 4), "the chain has not answered since start"),
        (chain_check(Follower(age=9.5), 4), "no answer from the chain for 10s (staleness 4s)"),
        (watcher_check(Follower(age=0, lag=7), 5), "7 checkpoints behind the tip (at most 5)"),
        (StoreCheck(FailingStore(), timeout=1), "a write failed (store_unavailable)"),
        (StoreCheck(HangingStore(), timeout=0.05), "a write took over 0.05s"),
        (enclave_check(lambda: ""), "the enclave is not registered on chain"),
    ],
)
async def test_a_failing_check_is_named_with_its_reason_and_503(check: Any, fragment: str) -> None:
    results = await Readiness([("ping", enclave_check(lambda: "x")), ("it", check)]).run()
    status, text = report("readyz", results, verbose=False)  # a failure always lists them
    assert status == 503
    assert text.splitlines() == ["[+]ping ok", f"[-]it failed: {fragment}", "readyz check failed"]


async def test_a_check_that_raises_fails_without_crashing() -> None:
    async def broken() -> str | None:
        raise RuntimeError("bug")

    assert (await Readiness([("x", broken)]).run()) == [
        CheckResult("x", "check error (RuntimeError)")
    ]


async def test_store_check_writes_at_most_once_per_interval() -> None:
    store = FailingStore()
    check = StoreCheck(store, timeout=1, cache_seconds=60)
    answers = await asyncio.gather(*(check() for _ in range(20)))
    assert store.writes == 1 and len(set(answers)) == 1 and answers[0] is not None


async def test_store_check_writes_a_key_that_expires() -> None:
    memory = MemoryStore()
    check = StoreCheck(BytesStore(memory), timeout=1)
    assert await check() is None
    [(key, _)] = await memory.range("/health/ready/")
    assert key == check.key


async def test_timed_store_reports_each_call_and_failures() -> None:
    metrics = Metrics()
    store = TimedStore(MemoryStore(), metrics.observe_store)
    await store.put("/a", b"1")
    assert (await store.get("/a")) is not None
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.get("/a")
    got = samples(metrics)
    assert got[("nautilus_store_seconds_count", frozenset({("op", "put")}))] == 1
    assert got[("nautilus_store_seconds_count", frozenset({("op", "get")}))] == 2
    assert got[("nautilus_store_errors_total", frozenset({("op", "get")}))] == 1


def _app(metrics: Metrics) -> tuple[FastAPI, str]:
    token = seal_token(3)
    auth = MemoryAuthenticator({token: user_claims(100, Tier.BASIC)})
    app = FastAPI()
    install(app, auth=auth, nodes=MemoryNodeSource([sample_node("n1")]))
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app, token


async def test_http_latency_is_labelled_by_route_template_and_webhooks_count_decisions() -> None:
    metrics = Metrics()
    app, token = _app(metrics)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
        headers = {"authorization": f"Bearer {token}"}
        for name in ("n1", "n2", "n3"):
            await client.get(f"/api/v1/nodes/{name}", headers=headers)
        await client.get("/nowhere")
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
        for t in (token, "k3s-daas.bad"):
            await client.post("/apis/webhooks/tokenreview", json={**review, "spec": {"token": t}})
        sar = {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "nobody", "resourceAttributes": {"verb": "get", "resource": "pods"}},
        }  # fmt: skip
        await client.post("/apis/webhooks/subjectaccessreview", json=sar)
    got = samples(metrics)
    routes = {
        dict(labels)["route"] for (name, labels) in got if name.endswith("request_seconds_count")
    }
    assert "/api/v1/nodes/{name}" in routes and "unmatched" in routes
    assert not any("n1" in r or "n2" in r for r in routes)  # never the raw path
    node_gets = [v for (name, labels), v in got.items() if name == "nautilus_http_request_seconds_count"
                 and dict(labels)["route"] == "/api/v1/nodes/{name}"]  # fmt: skip
    assert sum(node_gets) == 3
    decisions = {
        tuple(sorted(dict(labels).items())): v
        for (name, labels), v in got.items() if name == "nautilus_webhook_decisions_total"
    }  # fmt: skip
    assert decisions == {
        (("decision", "authenticated"), ("review", "tokenreview")): 1,
        (("decision", "unauthenticated"), ("review", "tokenreview")): 1,
        (("decision", "no_opinion"), ("review", "subjectaccessreview")): 1,
    }
    assert got[("nautilus_webhook_seconds_count", frozenset({("review", "tokenreview")}))] == 2


def test_process_and_build_info_series_are_exported() -> None:
    names = {name for name, _ in samples(Metrics())}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names
    assert "k3s_daas_build_info" in names
