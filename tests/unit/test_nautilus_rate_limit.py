"""Per-client rate limiting of refused requests (nautilus.rate_limit), on a small ASGI app.

Time is a fake clock; clients are ASGI `client` addresses, as uvicorn sets them from the peer.
"""

from __future__ import annotations

import secrets

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from k3s_daas.nautilus.rate_limit import (
    RateLimit,
    RateLimiter,
    accepted_credential,
    address_key,
    charge,
)
from k3s_daas.seal.token import format_token, token_fingerprint

KNOWN = format_token("0x" + "11" * 32, b"\x22" * 32)
ADMIN = "admin-" + "ab" * 16


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Served:
    """The app behind the limiter: counts what reached it."""

    def __init__(self) -> None:
        self.calls = 0

    async def fail(self, _: Request) -> JSONResponse:
        self.calls += 1
        return JSONResponse({"error": "not_found"}, status_code=401)

    async def ok(self, _: Request) -> JSONResponse:
        self.calls += 1
        return JSONResponse({})

    async def refuse_three(self, _: Request) -> JSONResponse:
        """A 200 carrying three refused tokens (a validate batch)."""
        self.calls += 1
        charge(3)
        return JSONResponse({"results": ["refused"] * 3})


def build(
    rate: float = 1.0, burst: int = 5, clients: int = 100, exempt: frozenset[str] = frozenset()
) -> tuple[Starlette, Served, FakeClock, list[int]]:
    served, clock, limited = Served(), FakeClock(), []
    app = Starlette(routes=[Route("/fail", served.fail), Route("/ok", served.ok),
                            Route("/batch", served.refuse_three)])  # fmt: skip
    limiter = RateLimiter(rate, burst, clients, clock=clock)
    known = token_fingerprint(KNOWN)
    app.add_middleware(
        RateLimit,
        limiter=limiter,
        credential=accepted_credential(lambda fp: fp == known, ADMIN),
        on_limited=lambda: limited.append(1),
        exempt=exempt,
    )
    return app, served, clock, limited


def client(app: Starlette, host: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://master")


async def test_429_with_retry_after_once_the_burst_is_spent() -> None:
    app, served, clock, limited = build(rate=0.5, burst=5)
    async with client(app, "10.0.0.1") as http:
        for _ in range(5):
            assert (await http.get("/fail")).status_code == 401
        refused = await http.get("/fail")
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert refused.headers["retry-after"] == "2"  # one token back at 0.5 per second
        assert served.calls == 5 and limited == [1]  # the app never saw the refused one
        clock.now += 2.0
        assert (await http.get("/fail")).status_code == 401
        assert (await http.get("/fail")).status_code == 429


async def test_another_client_is_not_affected() -> None:
    app, _, _, _ = build(burst=3)
    async with client(app, "10.0.0.1") as a, client(app, "10.0.0.2") as b:
        for _ in range(10):
            await a.get("/fail")
        assert (await a.get("/fail")).status_code == 429
        for _ in range(2):
            assert (await b.get("/fail")).status_code == 401
        assert (await b.get("/ok")).status_code == 200
        assert (await b.get("/fail")).status_code == 401  # b's own third refusal
        assert (await b.get("/ok")).status_code == 429


async def test_successful_requests_never_drain_the_bucket() -> None:
    app, served, _, _ = build(burst=2)
    async with client(app, "10.0.0.1") as http:
        for _ in range(50):
            assert (await http.get("/ok")).status_code == 200
        assert [(await http.get("/fail")).status_code for _ in range(3)] == [401, 401, 429]
        assert served.calls == 52


async def test_an_accepted_credential_gets_through_from_a_flooding_address() -> None:
    app, _, _, _ = build(burst=2)
    async with client(app, "10.0.0.1") as http:
        for _ in range(10):
            await http.get("/fail", headers={"X-Seal-Token": "seal_" + secrets.token_hex(64)})
        assert (await http.get("/ok")).status_code == 429
        # a token the validator already accepted: its own budget, not the address's
        assert (await http.get("/ok", headers={"X-Seal-Token": KNOWN})).status_code == 200
        bearer = {"Authorization": f"Bearer {KNOWN}"}
        assert (await http.get("/ok", headers=bearer)).status_code == 200
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert (await http.get("/ok", headers=admin)).status_code == 200
        # an unknown token (a new random one) is the flood itself
        unknown = {"X-Seal-Token": "seal_" + secrets.token_hex(64)}
        assert (await http.get("/ok", headers=unknown)).status_code == 429
        # and the credential's own failures drain only its own bucket
        statuses = [(await http.get("/fail", headers=bearer)).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]


async def test_refusals_inside_a_200_are_charged() -> None:
    app, served, _, _ = build(rate=1.0, burst=3)
    async with client(app, "10.0.0.1") as http:
        assert (await http.get("/batch")).status_code == 200
        refused = await http.get("/ok")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    app, served, _, _ = build(rate=1.0, burst=1)
    async with client(app, "10.0.0.1") as http:
        assert (await http.get("/batch")).status_code == 200  # admitted with one token left
        refused = await http.get("/ok")
        assert refused.headers["retry-after"] == "3"  # in debt by two: three seconds
        assert served.calls == 1


async def test_disabled_never_refuses() -> None:
    for rate, burst in ((0.0, 5), (1.0, 0)):
        app, served, _, _ = build(rate=rate, burst=burst)
        async with client(app, "10.0.0.1") as http:
            assert {(await http.get("/fail")).status_code for _ in range(20)} == {401}
        assert served.calls == 20


def test_buckets_are_bounded_and_least_recent_dropped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, 2, clients=3, clock=clock)
    for i in range(1000):
        assert limiter.reserve(f"10.0.{i // 256}.{i % 256}") == 0.0
        assert len(limiter) <= 3
    limiter.settle("a", 5)  # five refusals on one reservation: 2 - 4 = two in debt
    assert limiter.reserve("a") == pytest.approx(3.0)


def test_only_clients_that_failed_lately_hold_a_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, 2, clock=clock)
    for i in range(100):  # successful requests give their token back: nothing is kept
        assert limiter.reserve(f"token:{i}") == 0.0
        limiter.settle(f"token:{i}", 0)
    assert len(limiter) == 0
    assert limiter.reserve("a") == 0.0
    limiter.settle("a", 1)  # a refusal: one token short of full, remembered
    assert len(limiter) == 1
    assert limiter.reserve("a") == 0.0
    assert limiter.reserve("a") == pytest.approx(1.0)  # the same budget as ever
    clock.now += 1.0
    assert limiter.reserve("a") == 0.0
    limiter.settle("a", 0)
    assert len(limiter) == 1  # still below full
    clock.now += 2.0
    assert limiter.reserve("a") == 0.0
    limiter.settle("a", 0)  # full again: forgotten, as a new client starts full
    assert len(limiter) == 0


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("not-an-address:x", "not-an-address:x"),
    ],
)
def test_client_keys(host: str, key: str) -> None:
    assert address_key({"type": "http", "client": (host, 1)}) == key
    assert address_key({"type": "http", "client": None}) == "?"


async def test_exempt_paths_are_served_to_a_flooding_address() -> None:
    app, _, _, _ = build(burst=2, exempt=frozenset({"/ok"}))
    async with client(app, "10.0.0.1") as http:
        for _ in range(5):
            await http.get("/fail")
        assert (await http.get("/fail")).status_code == 429
        assert (await http.get("/ok")).status_code == 200  # e.g. the health check
