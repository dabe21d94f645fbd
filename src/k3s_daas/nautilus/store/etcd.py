"""`etcd://host:port[,host:port...]`: the Store on an etcd v3 cluster, for replicated masters.

Several master replicas share one etcd: compare-and-set is an etcd transaction on the key's
mod_revision (create_revision == 0 for "must not exist"), TTL is a lease per write, watch is an
etcd watch, and revisions are the cluster's. Client: aetcd 1.0 (asyncio, grpcio), one channel per
member (`etcd_client`: DNS names or IPs, plaintext or TLS with a client certificate). The store
talks to one member at a time and moves to the next when a call to it fails or times out; an
idempotent call retries on the next member inside its deadline. Every operation has a deadline
(`timeout`, 0.7 s by default): a cluster without quorum is a fast `StoreUnavailableError`,
never a hang.

etcd keeps every revision of every key until it is compacted, and refuses writes once its
database reaches its quota (2 GB by default); the liveness shards alone rewrite tens of KB a
second. So, as the kube-apiserver does, the store compacts the history every `compact` seconds
(300 by default; 0 leaves it to the cluster's own `--auto-compaction-*`) up to the revision it
noted one period before: at least one period of history stays for watches that lag. Replicas
each do it; a compaction behind another's is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from k3s_daas.seal.errors import MissingExtraError

try:  # the `etcd` extra
    import aetcd
    import aetcd.exceptions
    import aetcd.rpc
    import aetcd.utils
except ImportError:
    raise MissingExtraError("etcd", "an etcd:// store") from None

from k3s_daas.log import get_logger
from k3s_daas.nautilus.store.base import (
    Entry,
    StoreClosedError,
    StoreConfigError,
    StoreUnavailableError,
    WatchEvent,
    WatchStream,
    check_items,
    check_key,
    check_limit,
    check_prefix,
    check_ttl,
    check_value,
)
from k3s_daas.nautilus.store.etcd_client import (
    TLS_OPTIONS,
    EtcdTls,
    member_clients,
    parse_endpoints,
    parse_query,
    parse_tls,
)
from k3s_daas.retry import Backoff, Retry

log = get_logger(__name__)

T = TypeVar("T")

#: Seconds one operation may take, retries included: without quorum a request is answered
#: `503 store_unavailable` within 1 s instead of waiting on etcd's own ~5-7 s request timeout.
DEFAULT_TIMEOUT: Final = 0.7
#: Seconds between compactions of etcd's history (the kube-apiserver's default interval).
DEFAULT_COMPACT: Final = 300.0
#: Between retries of an idempotent call inside its deadline (jittered).
RETRY_BACKOFF: Final = Backoff(first=0.05, cap=0.2)
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


class _EtcdWatch(WatchStream):
    """An aetcd prefix watch mapped to `WatchEvent`s."""

    def __init__(self, store: EtcdStore, prefix: str) -> None:
        super().__init__()
        self._store = store
        self._prefix = prefix
        self._watch: Any = None
        self._iterator: Any = None
        self._client: Any = None

    async def _open(self) -> None:
        client = self._client = self._store._client_or_fail()
        try:
            self._watch = await client.watch_prefix(_enc(self._prefix))
        except _FAILURES as exc:
            self._store._failed(client)
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
            self._store._failed(self._client)
            raise StoreUnavailableError(f"etcd watch ended: {exc}") from None
        key = _dec(event.kv.key)
        if event.kind == "DELETE":
            return WatchEvent("delete", key, None)
        return WatchEvent("put", key, Entry(bytes(event.kv.value), int(event.kv.mod_revision)))


class EtcdStore:
    """The Store on etcd v3 (aetcd); each call ends within `timeout`, idempotent ones retrying
    transport failures inside it, on the next member when there are several."""

    def __init__(
        self,
        endpoints: list[tuple[str, int]],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        tls: EtcdTls | None = None,
        compact: float = DEFAULT_COMPACT,
    ) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self.tls = tls
        self.compact = compact
        self._clients = member_clients(endpoints, timeout=math.ceil(timeout), tls=tls)
        self._current = 0
        self._closed = False
        self._compactor: asyncio.Task[None] | None = None
        self._noted_revision = 0  # the cluster's revision at the last compaction tick
        self._compacted = 0  # the revision we last compacted to
        self.compactions = 0

    @classmethod
    def from_url(cls, url: str) -> EtcdStore:
        """`etcd://h:p[,h:p...][?timeout=S][&compact=S][&tls_ca=F][&tls_cert=F&tls_key=F]
        [&tls=true]`."""
        parts = urlsplit(url)
        if not parts.netloc or parts.path not in ("", "/"):
            raise StoreConfigError(f"expected etcd://host:port[,host:port...], got {url!r}")
        query = parse_query(url)
        unknown = set(query) - {"timeout", "compact", *TLS_OPTIONS}
        if unknown:
            raise StoreConfigError(f"unknown etcd store options: {sorted(unknown)}")
        try:
            timeout = float(query.get("timeout", DEFAULT_TIMEOUT))
            compact = float(query.get("compact", DEFAULT_COMPACT))
        except ValueError:
            raise StoreConfigError("timeout and compact are numbers of seconds") from None
        if not timeout > 0:
            raise StoreConfigError("timeout must be positive")
        if not 0 <= compact < math.inf:
            raise StoreConfigError("compact must be 0 (off) or a positive number of seconds")
        return cls(parse_endpoints(parts.netloc), timeout=timeout, tls=parse_tls(query),
                   compact=compact)  # fmt: skip

    def _client_or_fail(self) -> Any:
        if self._closed:
            raise StoreClosedError("the store is closed")
        return self._clients[self._current]

    def _failed(self, client: Any) -> None:
        """`client`'s member failed a call: the next calls go to the next member."""
        if len(self._clients) > 1 and self._clients[self._current] is client:
            self._current = (self._current + 1) % len(self._clients)
            log.warning("etcd member failed; using the next", failed=client.name,
                        next=self._clients[self._current].name)  # fmt: skip

    async def _call(self, fn: Callable[[Any], Awaitable[T]], *, retry: bool = True) -> T:
        """Run `fn(client)` within the operation's deadline (`timeout`, retries included);
        idempotent calls retry transport failures inside it, with jittered backoff, on the next
        member (each attempt then gets half of what is left, so a silent member costs half)."""
        if self._compactor is None and self.compact > 0 and not self._closed:
            self._compactor = asyncio.get_running_loop().create_task(self._compact_history())
        attempts = Retry(RETRY_BACKOFF, budget=self.timeout)
        share = 2 if retry and len(self._clients) > 1 else 1
        while True:
            client = self._client_or_fail()
            try:
                return await asyncio.wait_for(fn(client), attempts.remaining() / share)
            except _FAILURES as exc:
                self._failed(client)
                if not retry or not await attempts.wait():
                    what = "no answer within the deadline" if _timed_out(exc) else str(exc)
                    raise StoreUnavailableError(f"etcd unavailable: {what}") from None

    async def _kv(self, method: str, request: Any) -> Any:
        """One KV call (`Range`, `Txn`) with a request built here, through `_call` (retried:
        only idempotent requests come this way)."""

        async def fn(client: Any) -> Any:
            await client.connect()
            return await getattr(client.kvstub, method)(
                request, timeout=self.timeout, metadata=client.metadata
            )

        return await self._call(fn)

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

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        request = aetcd.rpc.TxnRequest(success=[
            aetcd.rpc.RequestOp(request_put=aetcd.rpc.PutRequest(key=_enc(key), value=value))
            for key, value in check_items(items)
        ])  # fmt: skip

        response = await self._kv("Txn", request)  # retried: the same values twice is harmless
        return int(response.header.revision)

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

        response = await self._kv("Range", request)
        return [(_dec(kv.key), Entry(bytes(kv.value), int(kv.mod_revision))) for kv in response.kvs]

    def watch(self, prefix: str) -> WatchStream:
        return _EtcdWatch(self, check_prefix(prefix))

    # -- history ----------------------------------------------------------------------------
    async def revision(self) -> int:
        """The cluster's current revision (a count-only range: no key is read)."""
        response = await self._kv("Range", aetcd.rpc.RangeRequest(key=b"\0", count_only=True))
        return int(response.header.revision)

    async def compact_once(self) -> int:
        """One tick: compact up to the revision the last tick noted, note the current one;
        returns the revision compacted to (0: nothing yet)."""
        current, target = await self.revision(), self._noted_revision
        target = target if target > self._compacted else 0

        async def fn(client: Any) -> None:
            try:
                await client.compact(target)
            except aetcd.exceptions.ClientError as exc:  # OUT_OF_RANGE: compacted further
                cause = exc.__cause__
                if not (isinstance(cause, aetcd.rpc.AioRpcError)
                        and cause.code() == aetcd.rpc.StatusCode.OUT_OF_RANGE):  # fmt: skip
                    raise

        if target:
            await self._call(fn)  # retried: compacting twice to one revision is harmless
            self.compactions += 1
            self._compacted = target
        self._noted_revision = current
        return target

    async def _compact_history(self) -> None:
        """Every `compact` seconds, until closed; a failed tick is retried at the next one."""
        while not self._closed:
            await asyncio.sleep(self.compact)
            try:
                compacted = await self.compact_once()
            except (StoreUnavailableError, StoreClosedError) as exc:
                log.warning("etcd compaction skipped", error=exc.__class__.__name__)
                continue
            if compacted:
                log.debug("etcd history compacted", revision=compacted)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        for client in self._clients:
            with contextlib.suppress(*_FAILURES):  # closing a dead channel
                await client.close()
