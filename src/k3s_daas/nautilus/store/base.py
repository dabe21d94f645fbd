"""The `Store` contract every backend keeps, and the pieces the backends share.

The master keeps its state (worker records, nonces, chain cursor, audit log) behind one small
async protocol so the embedded SQLite default and an etcd cluster for HA are interchangeable,
and sealing (`SealedStore`) wraps either without knowing which.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal, Protocol, Self, runtime_checkable

from k3s_daas.seal.errors import K3sDaasError

MAX_KEY_LENGTH: Final = 1024
MAX_VALUE_LENGTH: Final = 1024 * 1024  # etcd's default request cap is 1.5 MiB
#: One `put_many`: at most etcd's default `--max-txn-ops`, and the values within one value's cap
#: (one request, under etcd's 1.5 MiB request limit, whatever the backend).
MAX_BATCH_ITEMS: Final = 128


class StoreError(K3sDaasError):
    """The store could not do what was asked."""

    reason = "store_error"


class StoreConfigError(StoreError, ValueError):
    """A store URL or option that cannot be used (unknown scheme, bad endpoint, bad key length)."""

    reason = "store_config"


class StoreUnavailableError(StoreError):
    """The backend cannot be reached or failed (etcd down, disk error): callers fail closed."""

    reason = "store_unavailable"


class StoreClosedError(StoreError):
    """The store was used after `close()`."""

    reason = "store_closed"


class StoreIntegrityError(StoreError):
    """A sealed value failed authentication: tampered, moved to another key, or the wrong key."""

    reason = "store_tampered"

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Entry:
    """A stored value and the revision of its last write (the handle for compare-and-set)."""

    value: bytes
    revision: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change under a watched prefix; `entry` is None for deletes (and TTL expiry)."""

    kind: Literal["put", "delete"]
    key: str
    entry: Entry | None


class WatchStream:
    """An async iterator of `WatchEvent`s; events are guaranteed from when `start()` returns.

    Use `async with store.watch(prefix) as events: async for event in events: ...` so the
    subscription exists before the body writes anything; plain iteration starts it lazily.
    """

    def __init__(self) -> None:
        self._started = False
        self._closed = False

    async def start(self) -> None:
        """Register the subscription (idempotent)."""
        if not self._started:
            self._started = True
            await self._open()

    async def aclose(self) -> None:
        """Stop receiving events; a pending `__anext__` ends with StopAsyncIteration."""
        if not self._closed:
            self._closed = True
            await self._close()

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def _next(self) -> WatchEvent | None:
        """The next event, or None once the stream is closed."""
        raise NotImplementedError

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._closed:
            raise StopAsyncIteration
        await self.start()
        event = await self._next()
        if event is None:
            raise StopAsyncIteration
        return event

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@runtime_checkable
class Store(Protocol):
    """Async key-value store with revisions, compare-and-set, prefix ranges, watch and TTL.

    Keys are `/`-rooted str paths (`/workers/<node_id>`) and stay readable in every backend;
    values are bytes. Revisions grow monotonically per store (etcd: the cluster revision).
    """

    async def get(self, key: str) -> Entry | None:
        """The live entry at `key`, or None (absent or expired)."""
        ...

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        """Write unconditionally; returns the new revision. `ttl` seconds, then it vanishes."""
        ...

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        """Write every `(key, value)` in one atomic step (all or none, no TTL); returns the
        revision after it. One commit instead of one per key (`check_items` bounds it)."""
        ...

    async def compare_and_set(
        self,
        key: str,
        value: bytes,
        *,
        expected_revision: int | None,
        ttl: float | None = None,
    ) -> bool:
        """Write only if the key's revision is `expected_revision` (None: it must not exist)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove `key`; True if it existed."""
        ...

    async def range(
        self, prefix: str, *, limit: int | None = None, after: str | None = None
    ) -> list[tuple[str, Entry]]:
        """Live entries whose key starts with `prefix`, by key; `after` (exclusive) pages."""
        ...

    def watch(self, prefix: str) -> WatchStream:
        """A stream of puts and deletes under `prefix`, in commit order."""
        ...

    async def close(self) -> None:
        """Release connections and threads; open watch streams end."""
        ...


async def put_if_absent(store: Store, key: str, value: bytes, *, ttl: float | None = None) -> bool:
    """Create `key` only if it does not exist (replay caches, audit sequence numbers)."""
    return await store.compare_and_set(key, value, expected_revision=None, ttl=ttl)


def check_key(key: str) -> str:
    """Reject keys that could alias or break a backend (must be `/`-rooted, no NUL, bounded)."""
    if not isinstance(key, str) or not key.startswith("/"):
        raise StoreConfigError(f"store keys are '/'-rooted paths, got {key!r}")
    if "\x00" in key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_LENGTH:
        raise StoreConfigError("store key contains NUL or is too long")
    return key


def check_prefix(prefix: str) -> str:
    """A prefix follows the key rules, except that the empty string is not allowed either."""
    return check_key(prefix)


def check_value(value: bytes) -> bytes:
    """Values are bytes and bounded (etcd refuses large requests; fail the same everywhere)."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise StoreConfigError("store values are bytes")
    if len(value) > MAX_VALUE_LENGTH:
        raise StoreConfigError(f"store value larger than {MAX_VALUE_LENGTH} bytes")
    return bytes(value)


def check_items(items: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """A `put_many` batch: 1 to MAX_BATCH_ITEMS distinct keys, values within one value's cap in
    all (etcd refuses a key twice in one transaction; fail the same everywhere)."""
    if not 0 < len(items) <= MAX_BATCH_ITEMS:
        raise StoreConfigError(f"put_many takes 1 to {MAX_BATCH_ITEMS} items, got {len(items)}")
    checked = [(check_key(key), check_value(value)) for key, value in items]
    if len({key for key, _ in checked}) != len(checked):
        raise StoreConfigError("put_many names a key twice")
    if sum(len(value) for _, value in checked) > MAX_VALUE_LENGTH:
        raise StoreConfigError(f"put_many values larger than {MAX_VALUE_LENGTH} bytes in all")
    return checked


def batches(items: Sequence[tuple[str, bytes]]) -> Iterator[list[tuple[str, bytes]]]:
    """`items` in order, cut into `put_many` batches within `check_items`' bounds (a caller that
    must store something last puts it last: it goes in the last batch)."""
    batch: list[tuple[str, bytes]] = []
    size = 0
    for key, value in items:
        if batch and (len(batch) == MAX_BATCH_ITEMS or size + len(value) > MAX_VALUE_LENGTH):
            yield batch
            batch, size = [], 0
        batch.append((key, value))
        size += len(value)
    yield batch


def check_ttl(ttl: float | None) -> float | None:
    """TTLs are positive finite seconds."""
    if ttl is None:
        return None
    if not math.isfinite(ttl) or ttl <= 0:
        raise StoreConfigError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return float(ttl)


def check_limit(limit: int | None) -> int | None:
    """Range limits are positive integers."""
    if limit is not None and limit <= 0:
        raise StoreConfigError(f"range limit must be positive, got {limit!r}")
    return limit


class _QueueWatch(WatchStream):
    """A subscription fed by `WatchHub.publish` (memory and SQLite: in-process notification)."""

    def __init__(self, hub: WatchHub, prefix: str) -> None:
        super().__init__()
        self._hub = hub
        self.prefix = prefix
        self.queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()

    async def _open(self) -> None:
        self._hub.subscribers.add(self)

    async def _close(self) -> None:
        self._hub.subscribers.discard(self)
        self.queue.put_nowait(None)

    async def _next(self) -> WatchEvent | None:
        return await self.queue.get()


class WatchHub:
    """Fan-out of committed changes to in-process subscribers, in commit order."""

    def __init__(self) -> None:
        self.subscribers: set[_QueueWatch] = set()

    def stream(self, prefix: str) -> WatchStream:
        """A new (not yet started) subscription to `prefix`."""
        return _QueueWatch(self, check_prefix(prefix))

    def publish(self, events: Iterable[WatchEvent]) -> None:
        """Deliver events to every subscriber whose prefix matches (call on the event loop)."""
        for event in events:
            for sub in tuple(self.subscribers):
                if event.key.startswith(sub.prefix):
                    sub.queue.put_nowait(event)

    def close(self) -> None:
        """End every subscription."""
        for sub in tuple(self.subscribers):
            sub._closed = True
            sub.queue.put_nowait(None)
        self.subscribers.clear()
