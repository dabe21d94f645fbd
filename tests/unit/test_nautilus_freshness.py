"""The freshness bound of a verified master: the age of the newest processed checkpoint, from its
signed time, by the larger of the wall clock and the monotonic time since it was taken in; and a
validator that gives no "valid" answer, cached or read, while that age exceeds the bound."""

from __future__ import annotations

from k3s_daas.nautilus.freshness import ChainFreshness
from tests.unit.test_nautilus_validator import ChainDouble, FakeClock, mint, reason, validator

BOUND = 4.0


class Times:
    """Signed times of verified checkpoints, as `VerifiedChain.verified_timestamp_ms` gives them."""

    def __init__(self) -> None:
        self.ms: dict[int, int] = {}

    def verified_timestamp_ms(self, sequence_number: int) -> int | None:
        return self.ms.get(sequence_number)


def freshness(wall: FakeClock, monotonic: FakeClock, times: Times) -> ChainFreshness:
    return ChainFreshness(BOUND, times, wall=wall, monotonic=monotonic)


def test_age_is_from_the_signed_time_and_never_younger_than_the_monotonic_clock() -> None:
    wall, mono, times = FakeClock(), FakeClock(), Times()
    f = freshness(wall, mono, times)
    assert f.age() is None and not f.fresh()  # nothing processed: nothing is fresh
    times.ms[7] = int((wall.now - 1.0) * 1000)  # signed one second ago
    f.processed(7)
    assert f.age() == 1.0 and f.fresh()
    wall.advance(3.5)
    mono.advance(3.5)
    assert not f.fresh() and f.health()["chain_fresh"] is False
    wall.now -= 60  # the host turns the wall clock back: the checkpoint looks young again ...
    assert f.age() == 3.5 and f.fresh()  # ... but not younger than the time since it came in
    mono.advance(1.0)
    assert not f.fresh()


def test_only_a_newer_checkpoint_moves_it_and_unknown_ones_are_ignored() -> None:
    wall, mono, times = FakeClock(), FakeClock(), Times()
    f = freshness(wall, mono, times)
    times.ms[10] = int(wall.now * 1000)
    f.processed(10)
    wall.advance(5)
    mono.advance(5)
    times.ms[9] = int(wall.now * 1000)  # an older checkpoint (a catch-up): changes nothing
    f.processed(9)
    f.processed(11)  # not verified (no signed time known): changes nothing
    assert (f.checkpoint, f.fresh()) == (10, False)
    times.ms[11] = int(wall.now * 1000)
    f.processed(11)
    assert (f.checkpoint, f.fresh()) == (11, True)


async def test_no_valid_answer_cached_or_read_once_the_chain_is_older_than_the_bound() -> None:
    chain, clock, times = ChainDouble(), FakeClock(), Times()
    wall = FakeClock()
    v = validator(chain, clock, cache_ttl=100, staleness=BOUND)
    v.freshness = f = freshness(wall, clock, times)
    cached, cold = mint(chain), mint(chain)
    assert await reason(v, cached.token) == "chain_unavailable"  # no checkpoint processed yet
    times.ms[1] = int(wall.now * 1000)
    f.processed(1)
    assert (await v.validate(cached.token)).token_id == cached.token_id
    wall.advance(BOUND + 0.5)  # checkpoints withheld: the node answers as of checkpoint 1
    clock.advance(BOUND + 0.5)
    reads = len(chain.batches)
    assert await reason(v, cached.token) == "chain_unavailable"  # the cache hit is refused
    assert await reason(v, cold.token) == "chain_unavailable"  # so is a fresh read
    assert len(chain.batches) > reads  # (which did happen: the objects were there)
    refused = mint(chain, status=2)
    assert await reason(v, refused.token) == "stake_slashed"  # refusals are still answered
    times.ms[2] = int(wall.now * 1000)
    f.processed(2)  # the chain moves again
    assert (await v.validate(cold.token)).token_id == cold.token_id
