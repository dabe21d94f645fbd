"""Per-client rate limiting of refused requests: a flood costs its sender, not the master.

Each client has a token bucket (`rate` per second, up to `burst`) kept in a bounded LRU, so a
flood of source addresses costs at most `clients` buckets. Only failures drain a bucket: a
request's answer with a 4xx status, or the refusals the app `charge`s while answering (a refused
token in a 200 validate batch, an unauthenticated TokenReview); successful requests give back
what they reserved. A client whose bucket is empty is answered 429 `rate_limited` with
`Retry-After` before the app runs (except on `exempt` paths: cheap operations endpoints such as
the health check, which a monitor behind a flooding address must still reach).

The client is its address (IPv6 by /64), unless the request carries a credential this master has
already accepted (a Seal token the validator holds, the admin token): then the credential is the
client, so a registered worker behind the same NAT as an attacker keeps its own budget.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from k3s_daas.nautilus.responses import error
from k3s_daas.seal.protocol import Reason
from k3s_daas.seal.token import TOKEN_LENGTH, token_fingerprint

#: Returns the bucket key of a request's accepted credential, or None (then: its address).
Credential = Callable[[Scope], str | None]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets by client key, least recently used dropped beyond `clients`."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clients = clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            while len(self._buckets) > self.clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def reserve(self, key: str) -> float:
        """Take one token for a request of `key`: 0.0 when admitted, else the seconds until a
        token is back (the request must be refused)."""
        bucket = self._bucket(key)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def settle(self, key: str, failures: int) -> None:
        """The request reserved one token and turned out to cost `failures`: take the rest, or
        give the reservation back. A bucket may go into debt (a batch of refusals). A bucket full
        again is dropped: a new one starts full, so only clients that failed lately hold one (not
        every worker that heartbeats: ~0.25 KB each)."""
        bucket = self._bucket(key)
        bucket.tokens -= failures - 1
        if bucket.tokens >= self.burst:
            del self._buckets[key]


@dataclass(slots=True)
class _Ticket:
    failures: int = 0


_current: ContextVar[_Ticket | None] = ContextVar("k3s_daas_rate_limit_ticket", default=None)


def charge(failures: int = 1) -> None:
    """Count `failures` refusals against the client of the request being answered (nothing
    outside a rate-limited request, e.g. on the exempt webhook listener)."""
    ticket = _current.get()
    if ticket is not None:
        ticket.failures += failures


def address_key(scope: Scope) -> str:
    """The client's address; an IPv6 client by its /64 (one host usually holds a whole /64)."""
    client = scope.get("client")
    host = str(client[0]) if client else "?"
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def accepted_credential(known: Callable[[str], bool], admin_token: str) -> Credential:
    """A `Credential` over the master's state: a Seal token (`X-Seal-Token` or `Authorization:
    Bearer`) whose fingerprint `known` accepts, or the admin token. Cheap: no chain, no store."""
    admin = admin_token.encode()

    def credential(scope: Scope) -> str | None:
        for name, value in scope.get("headers", ()):
            if name == b"x-seal-token":
                presented = value.strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].strip()
            else:
                continue
            if len(presented) == TOKEN_LENGTH:
                fingerprint = token_fingerprint(presented.decode("latin-1"))
                if known(fingerprint):
                    return "token:" + fingerprint[:32]
            elif admin and hmac.compare_digest(presented, admin):
                return "admin"
        return None

    return credential


class RateLimit:
    """Pure ASGI middleware: 429 for a client over its budget, failures charged to it."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        *,
        credential: Credential | None = None,
        on_limited: Callable[[], None] | None = None,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.credential = credential
        self.on_limited = on_limited
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limiter.enabled or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        key = (self.credential(scope) if self.credential else None) or address_key(scope)
        wait = self.limiter.reserve(key)
        if wait > 0:
            if self.on_limited is not None:
                self.on_limited()
            await self._refuse(send, wait)
            return
        ticket = _Ticket()
        status = 0

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        reset = _current.set(ticket)
        try:
            await self.app(scope, receive, observed)
        finally:
            _current.reset(reset)
            failed = 1 if 400 <= status < 500 else 0
            self.limiter.settle(key, max(ticket.failures, failed))

    @staticmethod
    async def _refuse(send: Send, wait: float) -> None:
        response = error(Reason.RATE_LIMITED.status, Reason.RATE_LIMITED,
                         Reason.RATE_LIMITED.message)  # fmt: skip
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        await response({"type": "http"}, _disconnected, send)


async def _disconnected() -> Message:
    return {"type": "http.disconnect"}


__all__ = [
    "Credential",
    "RateLimit",
    "RateLimiter",
    "accepted_credential",
    "address_key",
    "charge",
]
