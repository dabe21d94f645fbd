"""A value read from the chain at most every `ttl` seconds (the epoch, the pool's minimum stake).

Concurrent refreshes share one read; when the chain fails, the last value is served for up to
`staleness` seconds past its TTL, then the failure is raised (the validator fails closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from k3s_daas.chain import ChainError

T = TypeVar("T")


class Refreshed(Generic[T]):
    """One chain-backed value with its TTL; `get` reloads it when it is older than that."""

    def __init__(self, load: Callable[[], Awaitable[T]], ttl: float, clock: Callable[[], float]):
        self._load = load
        self.ttl = ttl
        self._clock = clock
        self.value: T | None = None
        self.at = float("-inf")
        self._inflight: asyncio.Future[T] | None = None

    def set(self, value: T) -> None:
        self.value, self.at = value, self._clock()

    async def get(self, staleness: float) -> T:
        now = self._clock()
        if self.value is not None and now - self.at < self.ttl:
            return self.value
        try:
            if self._inflight is None:
                self._inflight = asyncio.ensure_future(self._load())
                self._inflight.add_done_callback(self._clear)
            value = await asyncio.shield(self._inflight)
        except (ChainError, OSError):
            if self.value is not None and now - self.at < self.ttl + staleness:
                return self.value
            raise
        self.set(value)
        return value

    def _clear(self, future: asyncio.Future[T]) -> None:
        self._inflight = None
        if not future.cancelled():
            future.exception()
