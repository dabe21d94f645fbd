"""The one retry schedule: capped exponential backoff with full jitter, for every loop that waits
for something to come back (a master, the chain, etcd, the K3s API, the `k3s agent` child).

Full jitter (each delay uniform between 0 and the capped exponential ceiling) spreads clients
that failed together, so a fleet of workers never retries in lockstep after a master restart.
A shared top-level module because `chain`, `nautilus` and `worker` all retry and none may import
the others; sleep, clock and randomness are injectable so tests never wait on the wall clock.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """A schedule: retry n (1-based) waits uniform(0, min(cap, first * 2 ** (n - 1)))."""

    first: float
    cap: float

    def __post_init__(self) -> None:
        if not (self.first > 0 and self.cap >= self.first):
            raise ValueError(f"backoff needs 0 < first <= cap, got {self.first}, {self.cap}")

    def ceiling(self, attempt: int) -> float:
        """The largest delay of retry `attempt` (1-based)."""
        return min(self.cap, self.first * 2.0 ** min(max(attempt, 1) - 1, 60))

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """A full-jitter delay for retry `attempt`: uniform between 0 and its ceiling."""
        return self.ceiling(attempt) * rng()


class Retry:
    """One loop's retry state: `await retry.wait()` after a failure, `reset()` after a success;
    with a `budget` (seconds from creation or `reset()`), `wait()` says when time is up."""

    def __init__(
        self,
        backoff: Backoff,
        *,
        budget: float | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.backoff = backoff
        self.budget = budget
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self.failures = 0
        self._started = clock()

    def reset(self) -> None:
        """A success: the next failure starts the schedule over (and the budget restarts)."""
        self.failures = 0
        self._started = self._clock()

    def remaining(self) -> float:
        """Seconds left of the budget (infinite without one; never negative)."""
        if self.budget is None:
            return math.inf
        return max(0.0, self._started + self.budget - self._clock())

    def next_delay(self) -> float:
        """Count one failure and draw its delay (for loops whose sleep can be interrupted)."""
        self.failures += 1
        return self.backoff.delay(self.failures, self._rng)

    async def wait(self) -> bool:
        """Count one failure and sleep its delay; False, without sleeping, when the delay would
        end past the budget (the caller gives up)."""
        delay = self.next_delay()
        if delay >= self.remaining():
            return False
        await self._sleep(delay)
        return True


__all__ = ["Backoff", "Retry"]
