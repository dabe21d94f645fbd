"""The validator's deadlines against a hung or slow chain (`ChainReader` doubles), fake clock.

Time has two sources here, as in the master: the validator's clock (cache ages, staleness) is a
`FakeClock` the doubles move to stand for time spent waiting on the chain, and the request
deadline (`chain_timeout`) is the event loop's, kept short. Each test is wrapped in a guard so
code without a deadline fails instead of hanging.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from k3s_daas.chain import ChainUnavailable, EpochInfo, ObjectData
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal.claims import Claims
from tests.unit.test_nautilus_validator import ChainDouble, FakeClock, mint, validator

TIMEOUT = 0.1  # chain_timeout of these validators (real seconds)
SLACK = 0.08  # scheduling, on a shared machine
GUARD = 2.0  # code without a deadline would wait forever: fail instead


class HungChain(ChainDouble):
    """Healthy until `hang` is set; then every call moves the validator's clock by `elapse`
    (plus `epoch_elapse` for the epoch: time the caller spends waiting) and never returns, or
    fails once `fail` is set."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.hang = False
        self.fail = False
        self.elapse = 0.0
        self.epoch_elapse = 0.0
        self.calls = 0

    async def _stall(self, extra: float = 0.0) -> None:
        self.calls += 1
        self.clock.advance(self.elapse + extra)
        if self.fail:
            raise ChainUnavailable("double: timed out")
        await asyncio.Event().wait()

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectData | None]:
        if self.hang:
            await self._stall()
        return await super().get_objects(object_ids)

    async def get_epoch(self) -> EpochInfo:
        if self.hang:
            await self._stall(self.epoch_elapse)
        return await super().get_epoch()


class SlowChain(ChainDouble):
    """Answers every call correctly, each after `delay` real seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectData | None]:
        await asyncio.sleep(self.delay)
        return await super().get_objects(object_ids)

    async def get_epoch(self) -> EpochInfo:
        await asyncio.sleep(self.delay)
        return await super().get_epoch()


def make(chain: ChainDouble, clock: FakeClock, **settings: Any) -> Validator:
    defaults: dict[str, Any] = {"chain_timeout": TIMEOUT, "cache_ttl": 1.0, "staleness": 5.0,
                                "epoch_ttl": 0.5, "batch_window_ms": 0}  # fmt: skip
    return validator(chain, clock, **{**defaults, **settings})


async def timed(v: Validator, token: str) -> tuple[Claims | str, float]:
    """The answer (claims or the refusal's reason) and the real seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        answer: Claims | str = await asyncio.wait_for(v.validate(token), GUARD)
    except TokenRejected as exc:
        answer = exc.reason
    return answer, loop.time() - start


async def test_a_never_seen_token_fails_closed_within_chain_timeout() -> None:
    clock = FakeClock()
    chain = HungChain(clock)
    v = make(chain, clock)
    m = mint(chain)
    chain.hang = True
    answer, took = await timed(v, m.token)
    assert answer == "chain_unavailable"
    assert TIMEOUT - 0.01 <= took <= TIMEOUT + SLACK


async def test_every_read_of_a_request_shares_one_deadline() -> None:
    """A never-seen token reads epoch, pool and token, then its stake: three rounds of a slow
    chain (each under the timeout) must not add up to more than one chain_timeout."""
    chain = SlowChain(delay=0.06)
    v = make(chain, FakeClock())
    m = mint(chain)
    answer, took = await timed(v, m.token)
    assert answer == "chain_unavailable"
    assert took <= TIMEOUT + SLACK
    chain.delay = 0.01  # a chain quick enough answers within the same deadline
    v._chain_down_until = float("-inf")  # past the retry pause
    answer, took = await timed(v, m.token)
    assert isinstance(answer, Claims) and answer.token_id == m.token_id


async def test_a_cached_positive_is_refused_once_stale_at_answer_time() -> None:
    """The age is judged when the answer is given, not when the request began: a request that
    starts within the bound but waits past it on a hung chain fails closed."""
    clock = FakeClock()
    chain = HungChain(clock)
    v = make(chain, clock)
    m = mint(chain)
    await v.validate(m.token)  # confirmed now
    chain.hang, chain.elapse = True, 0.5
    clock.advance(4.8)  # past cache_ttl, within staleness (5 s)
    answer, took = await timed(v, m.token)  # the chain read moves the clock to 5.3 s
    assert answer == "chain_unavailable"
    assert took <= TIMEOUT + SLACK


async def test_a_failing_epoch_read_cannot_carry_an_answer_past_the_bound() -> None:
    """Before the fix the age was checked, then the epoch awaited: a slow failing epoch read
    pushed a "valid" answer past the bound. Every valid answer is within it when given."""
    clock = FakeClock()
    chain = HungChain(clock)
    v = make(chain, clock)
    m = mint(chain)
    await v.validate(m.token)
    confirmed = clock.now
    chain.hang, chain.fail, chain.epoch_elapse = True, True, 0.3
    clock.advance(4.8)
    answer, _ = await timed(v, m.token)
    assert answer == "chain_unavailable" or clock.now - confirmed <= 5.0


async def test_a_joined_lookup_keeps_the_joiners_own_bound_and_deadline() -> None:
    """A request joining a lookup begun earlier (coalesced) is answered against its own clock:
    here the bound passes while both wait, so neither is told "valid"."""
    clock = FakeClock()
    chain = HungChain(clock)
    v = make(chain, clock)
    m = mint(chain)
    await v.validate(m.token)
    chain.hang = True
    clock.advance(4.9)
    first = asyncio.create_task(timed(v, m.token))
    await asyncio.sleep(TIMEOUT / 2)
    clock.advance(0.2)  # the bound (5 s) passes while the lookup hangs
    second = asyncio.create_task(timed(v, m.token))
    for answer, took in await asyncio.gather(first, second):
        assert answer == "chain_unavailable"
        assert took <= TIMEOUT + SLACK
    assert chain.calls == 1  # the second joined the first's read (or its retry pause)


async def test_a_fresh_hit_waits_for_a_hung_epoch_refresh_only_once() -> None:
    """Past epoch_ttl a hit waits for the epoch's refresh - within its deadline, then it is
    served from the cache; once that read has failed, hits answer at once (the next refresh
    runs in the background)."""
    clock = FakeClock()
    chain = HungChain(clock)
    v = make(chain, clock)
    m = mint(chain)
    await v.validate(m.token)
    chain.hang = True
    clock.advance(0.8)  # past epoch_ttl (0.5 s), within cache_ttl (1 s)
    answer, took = await timed(v, m.token)
    assert isinstance(answer, Claims) and took <= TIMEOUT + SLACK
    await asyncio.sleep(0.01)  # the refresh's own deadline has passed: it failed
    answer, took = await timed(v, m.token)
    assert isinstance(answer, Claims) and took < TIMEOUT / 2
    assert chain.calls == 2  # one refresh each, neither waited for


async def test_stale_answers_end_at_the_bound_and_recover_without_restart() -> None:
    clock = FakeClock()
    chain = HungChain(clock)
    v = make(chain, clock)
    m = mint(chain)
    await v.validate(m.token)
    chain.hang = True
    clock.advance(2.0)
    answer, _ = await timed(v, m.token)  # past the TTL: served stale after the deadline
    assert isinstance(answer, Claims)
    clock.advance(3.1)
    answer, took = await timed(v, m.token)  # past the bound: fails closed, without waiting
    assert answer == "chain_unavailable" and took <= TIMEOUT + SLACK
    chain.hang = False
    await asyncio.sleep(SLACK)  # the reads begun while it hung end at their own deadline
    clock.advance(1.0)  # past the retry pause
    answer, _ = await timed(v, m.token)
    assert isinstance(answer, Claims)


@pytest.mark.parametrize("staleness", [0.0, 0.5])
async def test_staleness_below_cache_ttl_bounds_hits_too(staleness: float) -> None:
    """No positive older than `staleness` is ever served: an older cache entry is re-read."""
    clock = FakeClock()
    chain = HungChain(clock)
    v = make(chain, clock, staleness=staleness)
    m = mint(chain)
    await v.validate(m.token)
    reads = len(chain.batches)
    clock.advance(0.6)  # within cache_ttl (1 s), past staleness
    assert (await v.validate(m.token)).token_id == m.token_id
    assert len(chain.batches) > reads  # from the chain, not the cache
