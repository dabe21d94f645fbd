"""`memory://`: the Store contract in one process's memory, for tests of the Store's users.

Same semantics as the persistent backends (revisions, CAS, TTL expiry with delete events,
ordered watch), nothing survives the process.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from k3s_daas.nautilus.store.base import (
    Entry,
    StoreClosedError,
    StoreConfigError,
    WatchEvent,
    WatchHub,
    WatchStream,
    check_items,
    check_key,
    check_limit,
    check_prefix,
    check_ttl,
    check_value,
)

SWEEP_INTERVAL = 0.5


class MemoryStore:
    """A dict with revisions; every operation completes without awaiting, so each is atomic."""

    def __init__(self, *, sweep_interval: float = SWEEP_INTERVAL) -> None:
        self._data: dict[str, tuple[Entry, float | None]] = {}
        self._expiries: list[tuple[float, int, str]] = []  # (deadline, revision, key)
        self._revision = 0
        self._hub = WatchHub()
        self._sweep_interval = sweep_interval
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        """`memory://` (no host, no path): a fresh empty store."""
        parts = urlsplit(url)
        if parts.netloc or parts.path not in ("", "/"):
            raise StoreConfigError(f"memory store URLs are just 'memory://', got {url!r}")
        return cls()

    def _begin(self) -> None:
        if self._closed:
            raise StoreClosedError("the store is closed")
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        self._expire(time.monotonic())

    def _expire(self, now: float) -> None:
        events = []
        while self._expiries and self._expiries[0][0] <= now:
            _, revision, key = heapq.heappop(self._expiries)
            current = self._data.get(key)
            if current is not None and current[0].revision == revision:
                del self._data[key]
                self._revision += 1
                events.append(WatchEvent("delete", key, None))
        self._hub.publish(events)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            self._expire(time.monotonic())

    def _write(self, key: str, value: bytes, ttl: float | None) -> int:
        self._revision += 1
        deadline = None
        if ttl is not None:
            deadline = time.monotonic() + ttl
            heapq.heappush(self._expiries, (deadline, self._revision, key))
        entry = Entry(value, self._revision)
        self._data[key] = (entry, deadline)
        self._hub.publish([WatchEvent("put", key, entry)])
        return self._revision

    async def get(self, key: str) -> Entry | None:
        check_key(key)
        self._begin()
        item = self._data.get(key)
        return item[0] if item is not None else None

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        check_key(key)
        value, ttl = check_value(value), check_ttl(ttl)
        self._begin()
        return self._write(key, value, ttl)

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        checked = check_items(items)
        self._begin()
        for key, value in checked:  # no await in between: no reader sees half of it
            self._write(key, value, None)
        return self._revision

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
        self._begin()
        item = self._data.get(key)
        current = item[0].revision if item is not None else None
        if current != expected_revision:
            return False
        self._write(key, value, ttl)
        return True

    async def delete(self, key: str) -> bool:
        check_key(key)
        self._begin()
        if self._data.pop(key, None) is None:
            return False
        self._revision += 1
        self._hub.publish([WatchEvent("delete", key, None)])
        return True

    async def range(
        self, prefix: str, *, limit: int | None = None, after: str | None = None
    ) -> list[tuple[str, Entry]]:
        check_prefix(prefix)
        check_limit(limit)
        self._begin()
        keys = sorted(
            k for k in self._data if k.startswith(prefix) and (after is None or k > after)
        )
        return [(k, self._data[k][0]) for k in keys[:limit]]

    def watch(self, prefix: str) -> WatchStream:
        return self._hub.stream(prefix)

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._hub.close()
