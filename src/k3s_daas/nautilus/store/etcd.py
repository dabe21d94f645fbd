"""`etcd://host:port[,host:port...]`: the Store on an etcd v3 cluster, for replicated masters.

Several master replicas share one etcd: compare-and-set is an etcd transaction on the key's
mod_revision (create_revision == 0 for "must not exist"), TTL is a lease per write, watch is an
etcd watch, and revisions are the cluster's. Client: aetcd 1.0 (asyncio, grpcio). With several
endpoints the gRPC channel gets a multi-address target (`ipv4:a:p,b:p,...`) and reconnects to
a live member when the one in use dies (measured: writes resume about 2 s later). Every operation
has a deadline (`timeout`, 0.7 s by default): a cluster without quorum is a fast
`StoreUnavailableError`, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, urlsplit

from k3s_daas.seal.errors import MissingExtraError

try:  # the `etcd` extra
    import aetcd
    import aetcd.exceptions
    import aetcd.rpc
    import aetcd.utils
except ImportError:
    raise MissingExtraError("etcd", "an etcd:// store") from None

from k3s_daas.nautilus.store.base import (
    Entry,
    StoreClosedError,
    StoreConfigError,
    StoreUnavailableError,
    WatchEvent,
    WatchStream,
    check_key,
    check_limit,
    check_prefix,
    check_ttl,
    check_value,
)
from k3s_daas.retry import Backoff, Retry

T = TypeVar("T")

#: Seconds one operation may take, retries included: without quorum a request is answered
#: `503 store_unavailable` within 1 s instead of waiting on etcd's own ~5-7 s request timeout.
DEFAULT_TIMEOUT: Final = 0.7
#: Between retries of an idempotent call inside its deadline (jittered).
RETRY_BACKOFF: Final = Backoff(first=0.05, cap=0.2)
#: gRPC reconnects within a second once a member is back (its default backoff grows to 120 s,
#: which would keep a recovered cluster unused long after the outage).
CHANNEL_OPTIONS: Final = {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
}
_FAILURES = (aetcd.exceptions.ClientError, aetcd.rpc.AioRpcError, asyncio.TimeoutError, OSError)


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or (
        isinstance(exc, aetcd.rpc.AioRpcError)
        and exc.code() == aetcd.rpc.StatusCode.DEADLINE_EXCEEDED
    )


def _enc(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _dec(key: bytes) -> str:
    return key.decode("utf-8", "surrogatepass")


def parse_endpoints(netloc: str) -> list[tuple[str, int]]:
    """`h:p,h:p` -> [(h, p), ...]; several endpoints must be IPv4 literals (a gRPC limit)."""
    endpoints = []
    for part in netloc.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise StoreConfigError(f"etcd endpoint must be host:port, got {part!r}")
        endpoints.append((host, int(port)))
    if len(endpoints) > 1:
        for host, _ in endpoints:
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise StoreConfigError(
                    f"with several etcd endpoints each host must be an IPv4 address, got {host!r}"
                ) from None
    return endpoints


class _EtcdWatch(WatchStream):
    """An aetcd prefix watch mapped to `WatchEvent`s."""

    def __init__(self, store: EtcdStore, prefix: str) -> None:
        super().__init__()
        self._store = store
        self._prefix = prefix
        self._watch: Any = None
        self._iterator: Any = None

    async def _open(self) -> None:
        client = self._store._client_or_fail()
        try:
            self._watch = await client.watch_prefix(_enc(self._prefix))
        except _FAILURES as exc:
            raise StoreUnavailableError(f"etcd watch failed: {exc}") from None
        self._iterator = aiter(self._watch)

    async def _close(self) -> None:
        if self._watch is not None:
            with contextlib.suppress(*_FAILURES):  # the stream may be gone already
                await self._watch.cancel()

    async def _next(self) -> WatchEvent | None:
        try:
            event = await anext(self._iterator)
        except StopAsyncIteration:
            return None
        except _FAILURES as exc:
            raise StoreUnavailableError(f"etcd watch ended: {exc}") from None
        key = _dec(event.kv.key)
        if event.kind == "DELETE":
            return WatchEvent("delete", key, None)
        return WatchEvent("put", key, Entry(bytes(event.kv.value), int(event.kv.mod_revision)))


class EtcdStore:
    """The Store on etcd v3 (aetcd); each call ends within `timeout`, idempotent ones retrying
    transport failures inside it."""

    def __init__(self, endpoints: list[tuple[str, int]], *, timeout: float = DEFAULT_TIMEOUT):
        self.endpoints = endpoints
        self.timeout = timeout
        if len(endpoints) == 1:
            host, port = endpoints[0]
        else:  # aetcd dials f"{host}:{port}": make that the gRPC multi-address target
            head = ",".join(f"{h}:{p}" for h, p in endpoints[:-1])
            host, port = f"ipv4:{head},{endpoints[-1][0]}", endpoints[-1][1]
        self._client: Any = aetcd.Client(
            host=host, port=port, timeout=math.ceil(timeout), options=dict(CHANNEL_OPTIONS)
        )
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> EtcdStore:
        """`etcd://h:p[,h:p...][?timeout=SECONDS]` (plaintext gRPC; TLS is not wired yet)."""
        parts = urlsplit(url)
        if not parts.netloc or parts.path not in ("", "/"):
            raise StoreConfigError(f"expected etcd://host:port[,host:port...], got {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if set(query) - {"timeout"}:
            raise StoreConfigError(f"unknown etcd store options: {sorted(set(query))}")
        try:
            timeout = float(query.get("timeout", DEFAULT_TIMEOUT))
        except ValueError:
            raise StoreConfigError("timeout must be a number of seconds") from None
        if not timeout > 0:
            raise StoreConfigError("timeout must be positive")
        return cls(parse_endpoints(parts.netloc), timeout=timeout)

    def _client_or_fail(self) -> Any:
        if self._closed:
            raise StoreClosedError("the store is closed")
        return self._client

    async def _call(self, fn: Callable[[Any], Awaitable[T]], *, retry: bool = True) -> T:
        """Run `fn(client)` within the operation's deadline (`timeout`, retries included);
        idempotent calls retry transport failures inside it, with jittered backoff."""
        client = self._client_or_fail()
        attempts = Retry(RETRY_BACKOFF, budget=self.timeout)
        while True:
            try:
                return await asyncio.wait_for(fn(client), attempts.remaining())
            except _FAILURES as exc:
                if not retry or not await attempts.wait():
                    what = "no answer within the deadline" if _timed_out(exc) else str(exc)
                    raise StoreUnavailableError(f"etcd unavailable: {what}") from None

    async def _lease(self, client: Any, ttl: float | None) -> Any:
        if ttl is None:
            return None
        return await client.lease(max(1, math.ceil(ttl)))

    async def get(self, key: str) -> Entry | None:
        check_key(key)
        got = await self._call(lambda c: c.get(_enc(key)))
        return None if got is None else Entry(bytes(got.value), int(got.mod_revision))

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        check_key(key)
        value, ttl = check_value(value), check_ttl(ttl)

        async def fn(client: Any) -> int:
            lease = await self._lease(client, ttl)
            result = await client.put(_enc(key), value, lease=lease)
            return int(result.header.revision)

        return await self._call(fn)

    async def compare_and_set(
        self,
        key: str,
        value: bytes,
        *,
        expected_revision: int | None,
        ttl: float | None = None,
    ) -> bool:
        check_key(key)
        value, ttl = check_value(value), check_ttl(ttl)
        raw = _enc(key)

        async def fn(client: Any) -> bool:
            lease = await self._lease(client, ttl)
            txn = client.transactions
            compare = (
                txn.create(raw) == 0
                if expected_revision is None
                else txn.mod(raw) == expected_revision
            )
            succeeded, _ = await client.transaction(
                compare=[compare], success=[txn.put(raw, value, lease=lease)], failure=[]
            )
            return bool(succeeded)

        # Not retried: a lost answer to a transaction that did commit must not turn into False.
        return await self._call(fn, retry=False)

    async def delete(self, key: str) -> bool:
        check_key(key)
        result = await self._call(lambda c: c.delete(_enc(key)))
        return result is not None

    async def range(
        self, prefix: str, *, limit: int | None = None, after: str | None = None
    ) -> list[tuple[str, Entry]]:
        check_prefix(prefix)
        check_limit(limit)
        start = _enc(prefix)
        if after is not None and after >= prefix:
            start = _enc(after) + b"\x00"
        request = aetcd.rpc.RangeRequest(
            key=start,
            range_end=aetcd.utils.prefix_range_end(_enc(prefix)),
            limit=limit or 0,
            sort_order=aetcd.rpc.RangeRequest.ASCEND,
            sort_target=aetcd.rpc.RangeRequest.KEY,
        )

        async def fn(client: Any) -> Any:
            await client.connect()
            return await client.kvstub.Range(
                request, timeout=self.timeout, metadata=client.metadata
            )

        response = await self._call(fn)
        return [(_dec(kv.key), Entry(bytes(kv.value), int(kv.mod_revision))) for kv in response.kvs]

    def watch(self, prefix: str) -> WatchStream:
        return _EtcdWatch(self, check_prefix(prefix))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(*_FAILURES):  # closing a dead channel
            await self._client.close()
