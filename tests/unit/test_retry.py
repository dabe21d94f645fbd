"""The one retry schedule (`k3s_daas.retry`): capped exponential ceilings, full jitter across the
whole range, a budget that ends retrying, and sleeps that go through the injected clock."""

from __future__ import annotations

import asyncio
import random
import statistics

import pytest

from k3s_daas.retry import Backoff, Retry
from tests.fixtures.clock import FakeClock


def test_ceilings_double_up_to_the_cap() -> None:
    backoff = Backoff(first=0.5, cap=3.0)
    assert [backoff.ceiling(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.ceiling(10_000) == 3.0  # no overflow however long the outage


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    backoff, rng = Backoff(first=1.0, cap=8.0), random.Random(7)
    delays = [backoff.delay(4, rng.random) for _ in range(10_000)]  # ceiling 8 s
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 0.1 and max(delays) > 7.9  # from (almost) 0 to (almost) the ceiling
    assert statistics.mean(delays) == pytest.approx(4.0, abs=0.15)  # uniform: mean = ceiling / 2
    assert statistics.pstdev(delays) == pytest.approx(8 / 12**0.5, abs=0.15)
    assert len({round(d, 3) for d in delays}) > 5_000  # not a handful of fixed values


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="0 < first <= cap"):
        Backoff(first=0.0, cap=1.0)
    with pytest.raises(ValueError, match="0 < first <= cap"):
        Backoff(first=2.0, cap=1.0)


async def test_wait_sleeps_through_the_injected_clock_and_reset_starts_over() -> None:
    clock = FakeClock()
    retry = Retry(Backoff(1.0, 4.0), sleep=clock.sleep, clock=clock, rng=lambda: 1.0)
    waiting = asyncio.create_task(retry.wait())
    await clock.sleeping(1)
    clock.advance(1.0)
    assert await waiting is True
    assert retry.next_delay() == 2.0 and retry.next_delay() == 4.0 and retry.next_delay() == 4.0
    retry.reset()
    assert retry.failures == 0 and retry.next_delay() == 1.0
    assert clock.sleeps == [1.0]


async def test_a_budget_ends_retrying_without_sleeping_past_it() -> None:
    clock = FakeClock()
    retry = Retry(Backoff(0.4, 0.4), budget=1.0, sleep=clock.sleep, clock=clock, rng=lambda: 1.0)
    assert retry.remaining() == 1.0
    task = asyncio.create_task(retry.wait())
    await clock.sleeping(1)
    clock.advance(0.4)
    assert await task is True
    task = asyncio.create_task(retry.wait())
    await clock.sleeping(2)
    clock.advance(0.4)
    assert await task is True
    assert retry.remaining() == pytest.approx(0.2)
    assert await retry.wait() is False  # 0.4 s more would end past the budget: give up now
    assert clock.sleeps == [0.4, 0.4]
    assert Retry(Backoff(1, 1)).remaining() == float("inf")
