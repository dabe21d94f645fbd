"""Validator logic with crafted chain objects: exact type, owner, caches, coalescing, batching.

`ChainDouble` is a test double of ChainClient (get_objects/get_epoch only) that counts round trips;
it stands in where the real devnet cannot produce the object (a look-alike SealToken from another
package, a stake whose staker is not the token's owner) or where calls must be counted exactly.
Time is a `FakeClock` the tests advance: no test waits on the wall clock for a TTL.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from k3s_daas.chain import ChainUnavailable, EpochInfo, ObjectData
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.settings import ValidatorSettings
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal.token import format_token, secret_commitment

PKG = "0x" + "ab" * 32
OTHER_PKG = "0x" + "cd" * 32
POOL = "0x" + "01" * 32
OWNER = "0x" + "0a" * 32


def oid() -> str:
    return "0x" + secrets.token_hex(32)


class FakeClock:
    """Monotonic time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ChainDouble:
    """Counts BatchGetObjects round trips; `down` makes every call fail like an outage; `gate`,
    when set, holds every read until it is opened."""

    def __init__(self) -> None:
        self.objects: dict[str, ObjectData] = {}
        self.batches: list[list[str]] = []
        self.epoch = 5
        self.down = False
        self.gate: asyncio.Event | None = None

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectData | None]:
        if self.down:
            raise ChainUnavailable("double: down")
        self.batches.append(list(object_ids))
        if self.gate is not None:
            await self.gate.wait()
        return [self.objects.get(i) for i in object_ids]

    async def get_epoch(self) -> EpochInfo:
        if self.down:
            raise ChainUnavailable("double: down")
        return EpochInfo(self.epoch, 1000, 0)


def pool(min_stake: int = 100) -> ObjectData:
    fields = {"id": POOL, "min_stake": str(min_stake), "standard_threshold": "1000",
              "premium_threshold": "10000", "token_lifetime_epochs": "100",
              "unbonding_epochs": "2", "total_staked": "0", "slashed": "0",
              "node_stakes": {"id": oid(), "size": "0"}}  # fmt: skip
    return ObjectData(POOL, 1, f"{PKG}::staking::StakingPool", None, True, fields)


@dataclass
class Minted:
    token: str
    token_id: str
    stake_id: str


def mint(chain: ChainDouble, *, package: str = PKG, staker: str = OWNER, status: int = 0,
         balance: int = 1000, expires_at: int = 100) -> Minted:  # fmt: skip
    secret = secrets.token_bytes(32)
    token_id, stake_id = oid(), oid()
    token_fields: dict[str, Any] = {
        "id": token_id, "token_hash": base64.b64encode(secret_commitment(secret)).decode(),
        "owner": OWNER, "node_id": "n1", "stake_record": stake_id, "stake_amount": str(balance),
        "stake_type": 0, "permissions": ["pods:read"], "tier": 1, "issued_at": "0",
        "expires_at": str(expires_at), "enclave": oid(),
    }  # fmt: skip
    stake_fields: dict[str, Any] = {
        "id": stake_id, "pool": POOL, "staker": staker, "node_id": "n1", "stake_type": 0,
        "balance": str(balance), "amount": str(balance), "status": status,
        "staked_epoch": "0", "unbonding_epoch": "0",
    }  # fmt: skip
    chain.objects[token_id] = ObjectData(
        token_id, 3, f"{package}::k8s_gateway::SealToken", OWNER, False, token_fields
    )
    chain.objects[stake_id] = ObjectData(
        stake_id, 3, f"{PKG}::staking::StakeRecord", None, True, stake_fields
    )
    return Minted(format_token(token_id, secret), token_id, stake_id)


def validator(chain: ChainDouble, clock: FakeClock | None = None, **settings: Any) -> Validator:
    chain.objects[POOL] = pool()
    return Validator(
        chain,
        PKG,
        POOL,
        Metrics(),
        ValidatorSettings(**settings),
        clock=clock or FakeClock(),
    )


async def settle(done: Any, rounds: int = 100) -> None:
    """Let other tasks run (without waiting on time) until `done()` holds."""
    for _ in range(rounds):
        if done():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def reason(v: Validator, token: str) -> str:
    with pytest.raises(TokenRejected) as info:
        await v.validate(token)
    return info.value.reason


async def test_valid_token_gives_claims() -> None:
    chain = ChainDouble()
    v = validator(chain)
    m = mint(chain)
    claims = await v.validate(m.token)
    assert (claims.owner, claims.node_id, claims.stake_amount) == (OWNER, "n1", 1000)
    assert claims.token_id == m.token_id and claims.stake_record_id == m.stake_id


async def test_look_alike_from_another_package_is_wrong_type() -> None:
    chain = ChainDouble()
    v = validator(chain)
    m = mint(chain, package=OTHER_PKG)
    assert await reason(v, m.token) == "wrong_type"


async def test_owner_mismatch() -> None:
    chain = ChainDouble()
    v = validator(chain)
    m = mint(chain, staker="0x" + "0b" * 32)
    assert await reason(v, m.token) == "owner_mismatch"


@pytest.mark.parametrize(
    ("kw", "expected"),
    [({"status": 2}, "stake_slashed"), ({"status": 1}, "stake_withdrawing"),
     ({"status": 3}, "stake_withdrawing"), ({"balance": 50}, "stake_too_low"),
     ({"expires_at": 5}, "expired")],
)  # fmt: skip
async def test_stake_and_expiry_reasons(kw: dict[str, Any], expected: str) -> None:
    chain = ChainDouble()
    v = validator(chain)
    assert await reason(v, mint(chain, **kw).token) == expected


async def test_format_and_secret() -> None:
    chain = ChainDouble()
    v = validator(chain)
    m = mint(chain)
    assert await reason(v, "seal_" + "x" * 10_000) == "invalid_format"
    assert await reason(v, format_token(m.token_id, secrets.token_bytes(32))) == "bad_secret"
    assert await reason(v, format_token(oid(), secrets.token_bytes(32))) == "not_found"
    assert chain.batches == [] or all(len(b) <= 2 for b in chain.batches)


async def test_concurrent_misses_coalesce_into_one_fetch() -> None:
    chain = ChainDouble()
    v = validator(chain, batch_window_ms=0)  # reads go out at once (no batching timer)
    m = mint(chain)
    chain.gate = asyncio.Event()  # the first fetch stays in flight while all 50 ask
    pending = asyncio.gather(*(v.validate(m.token) for _ in range(50)))
    await settle(lambda: chain.batches)
    chain.gate.set()
    results = await pending
    assert len({r.token_id for r in results}) == 1
    fetched = [i for batch in chain.batches for i in batch]
    assert fetched.count(m.token_id) == 1 and fetched.count(m.stake_id) == 1


async def test_misses_of_many_tokens_share_batches() -> None:
    chain = ChainDouble()
    v = validator(chain, batch_window_ms=5)
    tokens = [mint(chain).token for _ in range(40)]
    await asyncio.gather(*(v.validate(t) for t in tokens))
    assert len(chain.batches) <= 3  # token batch (+pool), stake batch
    assert max(len(b) for b in chain.batches) >= 40


class HintedChain(ChainDouble):
    """A chain reader with `StakeHints` (as `VerifiedChain` has them from verified events)."""

    def __init__(self) -> None:
        super().__init__()
        self.hints: dict[str, str] = {}

    def stake_of(self, token_id: str) -> str | None:
        return self.hints.get(token_id)


async def warm_pool(v: Validator, chain: ChainDouble) -> None:
    """One validation, so the pool's minimum stake is cached; then forget the batches."""
    await v.validate(mint(chain).token)
    chain.batches.clear()


async def test_a_hinted_stake_record_is_read_with_its_token() -> None:
    chain = HintedChain()
    v = validator(chain)
    await warm_pool(v, chain)
    m = mint(chain)
    chain.hints[m.token_id] = m.stake_id
    claims = await v.validate(m.token)
    assert claims.stake_record_id == m.stake_id
    assert [sorted(b) for b in chain.batches] == [sorted([m.token_id, m.stake_id])]


async def test_a_wrong_hint_is_not_believed() -> None:
    chain = HintedChain()
    v = validator(chain)
    await warm_pool(v, chain)
    slashed, active = mint(chain, status=2), mint(chain)
    chain.hints[active.token_id] = slashed.stake_id  # names another token's (slashed) stake
    claims = await v.validate(active.token)
    assert claims.stake_record_id == active.stake_id  # the token's own field decides
    assert chain.batches[-1] == [active.stake_id]  # read once the token named it
    chain.hints[slashed.token_id] = active.stake_id  # and an active stake cannot vouch for it
    assert await reason(v, slashed.token) == "stake_slashed"


async def test_cache_hits_do_not_touch_the_chain_and_purge_forgets() -> None:
    chain = ChainDouble()
    v = validator(chain)
    m = mint(chain)
    await v.validate(m.token)
    before = len(chain.batches)
    for _ in range(100):
        await v.validate(m.token)
    assert len(chain.batches) == before
    chain.objects[m.stake_id].fields["status"] = 2
    assert (await v.validate(m.token)).token_id == m.token_id  # still cached
    assert v.purge_stake(m.stake_id) == 1
    assert await reason(v, m.token) == "stake_slashed"


async def test_negative_cache_is_short() -> None:
    chain, clock = ChainDouble(), FakeClock()
    v = validator(chain, clock, negative_ttl=0.05, absent_ttl=0)  # the fingerprint cache alone
    ghost = format_token(oid(), secrets.token_bytes(32))
    assert await reason(v, ghost) == "not_found"
    count = len(chain.batches)
    assert await reason(v, ghost) == "not_found"
    assert len(chain.batches) == count
    clock.advance(0.06)
    assert await reason(v, ghost) == "not_found"
    assert len(chain.batches) > count


async def test_stale_while_down_then_fail_closed() -> None:
    chain, clock = ChainDouble(), FakeClock()
    v = validator(chain, clock, cache_ttl=0.01, staleness=0.2, epoch_ttl=0.01)
    m, new = mint(chain), mint(chain)
    await v.validate(m.token)
    chain.down = True
    clock.advance(0.02)
    assert (await v.validate(m.token)).token_id == m.token_id
    assert await reason(v, new.token) == "chain_unavailable"
    clock.advance(0.25)
    assert await reason(v, m.token) == "chain_unavailable"
    chain.down = False
    clock.advance(0.2)
    assert await reason(v, m.token) == "chain_unavailable"  # still in the retry pause ...
    clock.advance(0.1)  # ... and now past it
    assert (await v.validate(m.token)).token_id == m.token_id


async def test_cache_is_bounded_and_keyed_by_fingerprint() -> None:
    chain = ChainDouble()
    v = validator(chain, cache_size=5)
    tokens = [mint(chain).token for _ in range(12)]
    for t in tokens:
        await v.validate(t)
    assert v.cache_size == 5
    assert not any(t in repr(vars(v.cache)) for t in tokens)


async def test_a_purge_during_a_cache_hit_is_not_served() -> None:
    """Regression (found by benchmarks/tokenreview.py): a hit whose epoch is too old to use
    awaits a fresh read; a StakeSlashed purge landing in that await must win - no stale claims,
    and no KeyError (a 500)."""
    chain, clock = ChainDouble(), FakeClock()
    v = validator(chain, clock, epoch_ttl=0.001, staleness=1.0)
    m = mint(chain)
    await v.validate(m.token)  # cached
    v._epoch.at = clock.now - 10  # the last epoch read is too old to answer with
    asked, gate = asyncio.Event(), asyncio.Event()
    real_get_epoch = chain.get_epoch

    async def slow_epoch() -> EpochInfo:
        asked.set()
        await gate.wait()
        return await real_get_epoch()

    chain.get_epoch = slow_epoch  # type: ignore[method-assign]  # slow down one read of the double
    hit = asyncio.create_task(v.validate(m.token))
    await asked.wait()  # the hit is now waiting for the epoch
    chain.objects[m.stake_id].fields["status"] = 2  # slashed on chain ...
    assert v.purge_stake(m.stake_id) == 1  # ... and the watcher purges meanwhile
    gate.set()
    with pytest.raises(TokenRejected) as info:
        await hit
    assert info.value.reason == "stake_slashed"
