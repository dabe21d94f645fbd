"""The revoked set every replica follows (nautilus/revocations.py) and the watcher's cursor that
waits for it: replicas sharing one Store (memory://), a Redis double cut off from tombstones.

The scenario of the fault test in unit form: replica A saw a slash but could not tombstone the
shared cache; replica B starts afresh (a restart past the slash) and finds the pre-slash answer in
the shared cache - it must refuse it, and so must a running replica following the Store.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from k3s_daas.chain import EventData
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import Registry
from k3s_daas.nautilus.revocations import PREFIX, Revocations, Revoked
from k3s_daas.nautilus.shared_protocol import SharedEntry
from k3s_daas.nautilus.store import BytesStore, StoreUnavailableError, open_store
from k3s_daas.nautilus.store.base import Entry, WatchEvent
from k3s_daas.nautilus.validator import Validator
from k3s_daas.nautilus.watcher import CURSOR_KEY, ChainWatcher, StoreCursor
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.protocol import Reason
from tests.unit.test_nautilus_validator import PKG, POOL, ChainDouble, FakeClock, Minted, mint, pool


class CutOffRedis:
    """A shared cache that still serves what it holds but takes no tombstone (a partition that
    healed after the slash): the pre-slash answer stays readable."""

    def __init__(self) -> None:
        self.entries: dict[str, SharedEntry] = {}

    async def get(self, fingerprint: str) -> SharedEntry | None:
        return self.entries.get(fingerprint)

    async def put(self, fingerprint: str, claims: Claims, fetched_at: float) -> None:
        self.entries[fingerprint] = SharedEntry(claims, fetched_at)

    async def forget_token(self, token_id: str) -> None:
        return None

    async def forget_stake(self, stake_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


class FlakyStore(BytesStore):
    """A memory store whose writes fail while `down` (and that logs the keys it wrote)."""

    def __init__(self) -> None:
        super().__init__(open_store("memory://"))
        self.down = False
        self.written: list[str] = []

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        if self.down:
            raise StoreUnavailableError("double: no quorum")
        self.written.append(key)
        return await super().put(key, value, ttl=ttl)

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        if self.down:
            raise StoreUnavailableError("double: no quorum")
        done = await super().compare_and_set(key, expected, value, ttl=ttl)
        if done:
            self.written.append(key)
        return done


def replica(chain: ChainDouble, store: BytesStore | None, shared: CutOffRedis) -> Validator:
    chain.objects.setdefault(POOL, pool())
    revoked = Revocations(store) if store is not None else Revocations()
    return Validator(chain, PKG, POOL, Metrics(), clock=FakeClock(), shared=shared, revoked=revoked)


def slash(chain: ChainDouble, m: Minted) -> None:
    chain.objects[m.stake_id].fields["status"] = 2


async def reason(v: Validator, token: str) -> str:
    with pytest.raises(TokenRejected) as info:
        await v.validate(token)
    return info.value.reason


def count(v: Validator, outcome: str) -> float:
    return float(v.metrics.cache.labels(outcome)._value.get())


async def eventually(check: Any, rounds: int = 200) -> None:
    for _ in range(rounds):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_a_replica_restarted_past_a_slash_refuses_the_shared_entry() -> None:
    chain, store, redis = ChainDouble(), FlakyStore(), CutOffRedis()
    a = replica(chain, store, redis)
    m = mint(chain)
    await a.validate(m.token)  # a chain read, offered to the shared cache
    slash(chain, m)
    a.revoke("stake", m.stake_id, Reason.STAKE_SLASHED, source="StakeSlashed", checkpoint=7)
    assert await reason(a, m.token) == "stake_slashed"
    assert await a.revoked.flush()

    without = replica(chain, None, redis)  # what a restarted replica did before the fix
    assert (await without.validate(m.token)).token_id == m.token_id

    b = replica(chain, store, redis)
    assert await b.revoked.load() == 1  # a restart loads the set before serving
    for _ in range(5):  # the shared hit, then never from its own cache either
        assert await reason(b, m.token) == "stake_slashed"
    assert count(b, "shared_hit") == 1 and count(b, "revoked") == 1
    assert count(b, "negative_hit") == 4


async def test_a_running_replica_follows_records_and_purges_its_cache() -> None:
    chain, store, redis = ChainDouble(), FlakyStore(), CutOffRedis()
    a, b = replica(chain, store, redis), replica(chain, store, redis)
    m = mint(chain)
    await b.validate(m.token)  # cached by b
    following = asyncio.create_task(b.revoked.run())
    try:
        await asyncio.wait_for(b.revoked.following.wait(), 2)
        slash(chain, m)
        a.revoke("stake", m.stake_id, Reason.STAKE_SLASHED, source="StakeSlashed")
        await a.revoked.flush()
        await eventually(lambda: b.cache_size == 0)  # purged when the record arrived
        assert await reason(b, m.token) == "stake_slashed"
    finally:
        following.cancel()


async def test_a_slashed_stake_read_from_the_chain_is_recorded_for_every_replica() -> None:
    chain, store, redis = ChainDouble(), FlakyStore(), CutOffRedis()
    a, b = replica(chain, store, redis), replica(chain, store, redis)
    m = mint(chain)
    await b.validate(m.token)  # b cached it before the slash; its watcher lags
    redis.entries.clear()
    slash(chain, m)
    assert await reason(a, m.token) == "stake_slashed"  # a read it from the chain
    assert a.revoked.pending == 1
    assert await a.revoked.flush()
    await b.revoked.load()
    assert await reason(b, m.token) == "stake_slashed"


async def test_the_cursor_moves_only_after_the_revocations_it_covers_are_durable() -> None:
    store = FlakyStore()
    revoked = Revocations(store)
    cursor = StoreCursor(store, revoked)
    assert await cursor.load() is None
    revoked.add("stake", "0x" + "aa" * 32, Reason.STAKE_SLASHED, source="StakeSlashed")
    await cursor.save(10)
    store.down = True
    assert await cursor.persist() is False
    assert await store.get(CURSOR_KEY) is None  # not past a revocation the store lacks
    store.down = False
    assert await cursor.persist() is True
    assert store.written == [PREFIX + "stake/0x" + "aa" * 32, CURSOR_KEY]
    assert await store.get(CURSOR_KEY) == b"10"
    await store.put(CURSOR_KEY, b"50")  # another replica moved the shared cursor on
    assert await cursor.load() == 10  # a running watcher resumes from its own position
    assert await StoreCursor(store).load() == 50  # a starting one from the shared cursor


async def test_the_watcher_applies_events_while_the_store_is_down() -> None:
    chain, store, redis = ChainDouble(), FlakyStore(), CutOffRedis()
    v = replica(chain, store, redis)
    m = mint(chain)
    await v.validate(m.token)
    source: Any = None  # events are fed to `handle` by hand: no checkpoint source
    watcher = ChainWatcher(source, PKG, v, Registry(store, Metrics()), store, Metrics())
    store.down = True

    def event(name: str, checkpoint: int, **fields: str) -> EventData:
        return EventData(checkpoint, "tx", 0, f"{PKG}::m::{name}", "m", name, fields)

    await watcher.handle(event("StakeSlashed", 11, stake_id=m.stake_id))
    assert await reason(v, m.token) == "stake_slashed"  # in effect before it is durable
    await watcher.cursor.save(11)
    assert await watcher.cursor.persist() is False and v.revoked.pending == 1
    store.down = False
    assert await watcher.cursor.persist() is True and v.revoked.pending == 0
    assert await store.get(CURSOR_KEY) == b"11"


async def test_a_rotation_hides_shared_answers_confirmed_before_it() -> None:
    chain, store, redis = ChainDouble(), FlakyStore(), CutOffRedis()
    a = replica(chain, store, redis)
    m = mint(chain)
    await a.validate(m.token)  # in the shared cache, with the old secret
    a.revoke("secret", m.token_id, Reason.BAD_SECRET, source="SealTokenRotated", checkpoint=3)
    await a.revoked.flush()
    b = replica(chain, store, redis)
    await b.revoked.load()
    await b.validate(m.token)  # the chain answers (the double did not rotate), not Redis
    assert count(b, "shared_hit") == 0
    redis.entries.clear()
    await a.validate(m.token)  # a read after the rotation (+ the skew margin) is shareable
    fp = next(iter(redis.entries))
    redis.entries[fp] = SharedEntry(redis.entries[fp].claims, time.time() + 5)
    c = replica(chain, store, redis)
    await c.revoked.load()
    await c.validate(m.token)
    assert count(c, "shared_hit") == 1


async def test_records_are_created_once_and_bad_ones_are_ignored() -> None:
    store = FlakyStore()
    first, second = Revocations(store), Revocations(store)
    stake = "0x" + "bb" * 32
    first.add("stake", stake, Reason.STAKE_WITHDRAWING, source="UnstakeRequested")
    second.add("stake", stake, Reason.STAKE_SLASHED, source="StakeSlashed")
    assert not first.add("stake", stake, Reason.STAKE_SLASHED, source="StakeSlashed")
    assert await first.flush() and await second.flush()
    raw = await store.get(PREFIX + "stake/" + stake)
    assert raw is not None and Revoked.model_validate_json(raw).source == "UnstakeRequested"
    fresh = Revocations(store)
    assert await fresh.load() == 1
    assert not fresh.apply(WatchEvent("put", PREFIX + "nonsense/0x1", Entry(raw, 1)))
    assert not fresh.apply(WatchEvent("put", PREFIX + "stake/0x2", Entry(b"{not json", 1)))
    assert not fresh.apply(WatchEvent("delete", PREFIX + "stake/" + stake, None))
    assert fresh.counts() == {"stake": 1, "token": 0, "secret": 0}
