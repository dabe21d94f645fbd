"""`TimedStore` wraps any `Store` and reports each call's duration and failures (metrics), so
store latency and errors are visible whichever backend is configured."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from k3s_daas.nautilus.store.base import Entry, Store, WatchStream

T = TypeVar("T")
#: Told (operation, seconds, ok) after every call.
Observer = Callable[[str, float, bool], None]


class TimedStore:
    """A `Store` that times each call of the one it wraps (watch streams pass through)."""

    def __init__(self, store: Store, observe: Observer) -> None:
        self.store = store
        self.observe = observe

    async def _timed(self, op: str, call: Awaitable[T]) -> T:
        start = time.perf_counter()
        ok = False
        try:
            result = await call
            ok = True
            return result
        finally:
            self.observe(op, time.perf_counter() - start, ok)

    async def get(self, key: str) -> Entry | None:
        return await self._timed("get", self.store.get(key))

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        return await self._timed("put", self.store.put(key, value, ttl=ttl))

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        return await self._timed("put_many", self.store.put_many(items))

    async def compare_and_set(
        self, key: str, value: bytes, *, expected_revision: int | None, ttl: float | None = None
    ) -> bool:
        call = self.store.compare_and_set(key, value, expected_revision=expected_revision, ttl=ttl)
        return await self._timed("compare_and_set", call)

    async def delete(self, key: str) -> bool:
        return await self._timed("delete", self.store.delete(key))

    async def range(
        self, prefix: str, *, limit: int | None = None, after: str | None = None
    ) -> list[tuple[str, Entry]]:
        return await self._timed("range", self.store.range(prefix, limit=limit, after=after))

    def watch(self, prefix: str) -> WatchStream:
        return self.store.watch(prefix)

    async def close(self) -> None:
        await self.store.close()
