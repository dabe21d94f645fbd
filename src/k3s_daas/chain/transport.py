"""Endpoint failover under the chain client: pooled gRPC channels, retried reads, unsent writes.

Kept apart from the API so the rules (docs/chain.md "Client, endpoints and failover") live in one
place: which errors move a read on to the next endpoint, when a write may go to another one, and
which endpoint is tried first.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import ProtocolError, StreamTerminatedError
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask

from k3s_daas.chain.endpoint import Endpoint, parse_endpoints
from k3s_daas.chain.errors import ChainError, ChainUnavailable
from k3s_daas.log import get_logger
from k3s_daas.retry import Backoff, Retry

log = get_logger(__name__)

T = TypeVar("T")

#: Between rounds of a read over every endpoint (jittered: clients must not retry in lockstep).
READ_BACKOFF = Backoff(first=0.05, cap=1.0)

#: gRPC statuses after which a read moves on to the next endpoint.
RETRYABLE = frozenset({Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED})
#: Transport failures (no gRPC status): the connection broke or never came up.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    StreamTerminatedError,
    ProtocolError,
    ConnectionError,
)
#: The request bytes cannot have left the process: the connection was never established.
NOT_SENT: tuple[type[BaseException], ...] = (
    ConnectionRefusedError,
    socket.gaierror,
    ssl.SSLCertVerificationError,
)


#: Sui's text for an owned input whose version (or digest) is no longer the live one.
STALE_TEXT = "is not available for consumption"
#: Sui's texts for owned inputs locked by another transaction (QuorumDriver / TransactionDriver).
LOCKED_TEXTS = ("because of locked objects", "already locked by a different transaction")


def rejection_kind(status: Status, message: str) -> str:
    """Why a node refused a transaction, by code AND text (codes moved between Sui versions):
    `objects_locked` (another transaction holds an input: rebuilding cannot help),
    `stale_object` (an input moved on: rebuild with fresh versions) or `rejected`."""
    if any(text in message for text in LOCKED_TEXTS):
        return "objects_locked"
    if STALE_TEXT in message:
        return "stale_object"
    if status == Status.FAILED_PRECONDITION:
        return "objects_locked"
    return "rejected"


def mask(paths: Sequence[str]) -> FieldMask:
    """A read mask (Sui answers only id/version/digest without one)."""
    return FieldMask(paths=list(paths))


def describe(exc: BaseException | None) -> str:
    """A failure in one line, for messages that say why no endpoint answered."""
    if exc is None:
        return "no attempt"
    if isinstance(exc, GRPCError):
        return f"{exc.status.name}: {exc.message or ''}".strip(": ")
    return f"{exc.__class__.__name__}: {exc}".strip(": ")


def answer_error(exc: GRPCError, what: str) -> ChainError:
    """A non-retryable gRPC error from a read: the node answered, and the answer is an error."""
    reason = {
        Status.INVALID_ARGUMENT: "bad_request",
        Status.NOT_FOUND: "not_found",
        Status.UNIMPLEMENTED: "unimplemented",
    }.get(exc.status, "chain_error")
    return ChainError(f"{what}: {exc.status.name}: {exc.message or ''}".rstrip(": "), reason=reason)


class Transport:
    """The endpoints of one client, a lazily opened channel per endpoint, and which one answered
    last (tried first next time). One per event loop: grpclib channels belong to a loop."""

    def __init__(
        self,
        endpoints: str | Endpoint | Sequence[str | Endpoint],
        *,
        retries: int = 2,
        tls_ca: Path | None = None,
    ) -> None:
        self.endpoints = parse_endpoints(endpoints)
        self.retries = max(0, retries)
        self.tls_ca = tls_ca
        #: Index of the endpoint tried first (the last one that answered).
        self.preferred = 0
        self._channels: dict[int, Channel] = {}
        self._ssl: ssl.SSLContext | None = None

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(
                cafile=str(self.tls_ca) if self.tls_ca is not None else None
            )
            ctx.set_alpn_protocols(["h2"])
            self._ssl = ctx
        return self._ssl

    def channel(self, index: int) -> Channel:
        """The pooled channel of endpoint `index` (grpclib reconnects it when it drops)."""
        channel = self._channels.get(index)
        if channel is None:
            endpoint = self.endpoints[index]
            channel = Channel(
                endpoint.host, endpoint.port, ssl=self._ssl_context() if endpoint.tls else None
            )
            self._channels[index] = channel
        return channel

    def order(self) -> list[int]:
        """Endpoint indexes in the order to try them: the preferred one first."""
        n = len(self.endpoints)
        return [(self.preferred + i) % n for i in range(n)]

    def demote(self, index: int) -> None:
        if self.preferred == index:
            self.preferred = (index + 1) % len(self.endpoints)

    async def read(self, call: Callable[[Channel], Awaitable[T]], what: str) -> T:
        """Run an idempotent call with failover: every endpoint once, plus `retries` more
        attempts (with a short jittered backoff), moving on after UNAVAILABLE/DEADLINE_EXCEEDED or a
        transport error. Other gRPC errors are answers, not outages: they propagate at once."""
        attempts = len(self.endpoints) + self.retries
        last: BaseException | None = None
        order = self.order()
        retry = Retry(READ_BACKOFF)
        for attempt in range(attempts):
            index = order[attempt % len(order)]
            if attempt >= len(order):
                await retry.wait()
            try:
                result = await call(self.channel(index))
            except GRPCError as exc:
                if exc.status not in RETRYABLE:
                    raise
                last = exc
            except TRANSPORT_ERRORS as exc:
                last = exc
            else:
                self.preferred = index
                return result
            log.debug("chain read failed", what=what, endpoint=str(self.endpoints[index]))
            self.demote(index)
        raise ChainUnavailable(
            f"{what}: no chain endpoint answered ({describe(last)}; "
            f"tried {', '.join(str(e) for e in self.endpoints)})"
        )

    async def send(self, call: Callable[[Channel], Awaitable[T]], what: str) -> T:
        """Run a non-idempotent call once: the next endpoint is tried only while the connection
        could not even be opened (the bytes never left). Any other failure propagates as is;
        ChainUnavailable when no endpoint could be reached."""
        not_sent: BaseException | None = None
        for index in self.order():
            try:
                result = await call(self.channel(index))
            except NOT_SENT as exc:
                not_sent = exc
                self.demote(index)
                continue
            self.preferred = index
            return result
        raise ChainUnavailable(f"{what} not sent: no endpoint reachable ({describe(not_sent)})")


__all__ = [
    "LOCKED_TEXTS",
    "NOT_SENT",
    "READ_BACKOFF",
    "RETRYABLE",
    "STALE_TEXT",
    "TRANSPORT_ERRORS",
    "Transport",
    "answer_error",
    "describe",
    "mask",
    "rejection_kind",
]
