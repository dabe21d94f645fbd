"""A value read from the chain at most every `ttl` seconds (the epoch, the pool's minimum stake).

Concurrent refreshes share one read. Past its TTL the last value is still served, for up to
`staleness` seconds more, while a refresh runs in the background (or after it failed): a hung
chain never holds a caller that has a recent enough value. With no value, or one older than
that, callers wait for the read (the validator bounds the wait) and get its failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Refreshed(Generic[T]):
    """One chain-backed value with its TTL; `get` refreshes it when it is older than that."""

    def __init__(self, load: Callable[[], Awaitable[T]], ttl: float, clock: Callable[[], float]):
        self._load = load
        self.ttl = ttl
        self._clock = clock
        self.value: T | None = None
        self.at = float("-inf")
        self._inflight: asyncio.Future[T] | None = None

    def set(self, value: T) -> None:
        self.value, self.at = value, self._clock()

    def usable(self, staleness: float) -> T | None:
        """The last value while it is within `ttl + staleness` of its read, else None."""
        if self.value is not None and self._clock() - self.at < self.ttl + staleness:
            return self.value
        return None

    async def get(self, staleness: float) -> T:
        if self.value is not None and self._clock() - self.at < self.ttl:
            return self.value
        refresh = self._refresh()
        last = self.usable(staleness)
        if last is not None:
            return last  # the refresh lands in the background
        return await asyncio.shield(refresh)

    def _refresh(self) -> asyncio.Future[T]:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._load())
            self._inflight.add_done_callback(self._loaded)
        return self._inflight

    def _loaded(self, future: asyncio.Future[T]) -> None:
        self._inflight = None
        if not future.cancelled() and future.exception() is None:  # retrieved: no warning
            self.set(future.result())
