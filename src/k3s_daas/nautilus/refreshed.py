"""A value read from the chain at most every `ttl` seconds (the epoch, the pool's minimum stake).

Concurrent refreshes share one read; past the TTL a caller waits for it (the validator bounds
the wait). When the chain fails, the last value is served for up to `staleness` seconds past its
TTL - and once a refresh has failed, without waiting for the next one (which runs in the
background), so a hung chain holds callers only until its first read times out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from k3s_daas.chain import ChainError

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
        self.failing = False  # the last refresh failed: do not wait for the next one

    def set(self, value: T) -> None:
        self.value, self.at = value, self._clock()

    def current(self) -> T | None:
        """The value while it is within its TTL (no read, no await), else None."""
        if self.value is not None and self._clock() - self.at < self.ttl:
            return self.value
        return None

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
        if last is not None and self.failing:
            return last  # the refresh lands in the background
        try:
            return await asyncio.shield(refresh)
        except (ChainError, OSError):
            last = self.usable(staleness)
            if last is None:
                raise
            return last

    def _refresh(self) -> asyncio.Future[T]:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._load())
            self._inflight.add_done_callback(self._loaded)
        return self._inflight

    def _loaded(self, future: asyncio.Future[T]) -> None:
        self._inflight = None
        if future.cancelled():
            return
        self.failing = future.exception() is not None  # retrieved: no "never retrieved" noise
        if not self.failing:
            self.set(future.result())
