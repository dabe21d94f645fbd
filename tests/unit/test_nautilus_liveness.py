"""Batched heartbeat state (`nautilus.liveness`): routine heartbeats cost no store write, and no
replay window opens after a crash, on a takeover by another replica or on a re-registration.

Replicas are Registries with their own `Liveness` on one real in-memory Store (as masters on
one etcd); a crash is a replica dropped without a flush, a restart a new one with the same id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k3s_daas.nautilus.errors import MasterError
from k3s_daas.nautilus.liveness import PREFIX, Liveness, shard
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import Registry
from k3s_daas.nautilus.store import BytesStore, StoreUnavailableError, open_store
from k3s_daas.nautilus.store.base import MAX_BATCH_ITEMS, MAX_VALUE_LENGTH, batches
from k3s_daas.seal.protocol import NodeStatus, Reason
from tests.unit.test_nautilus_registry import claims

T0 = 1_800_000_000.0  # the masters' clock (s)
FP = "f" * 64


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class CountingStore(BytesStore):
    """The real memory store, counting writes (and able to refuse them)."""

    def __init__(self) -> None:
        super().__init__(open_store("memory://"))
        self.puts: list[str] = []
        self.batches: list[list[str]] = []  # the keys of each put_many
        self.broken = False

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        if self.broken:
            raise StoreUnavailableError("the store refuses writes (test)")
        self.puts.append(key)
        return await super().put(key, value, ttl=ttl)

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        if self.broken:
            raise StoreUnavailableError("the store refuses writes (test)")
        self.puts.extend(key for key, _ in items)
        self.batches.append([key for key, _ in items])
        return await super().put_many(items)


@pytest.fixture
async def store() -> AsyncIterator[CountingStore]:
    shared = CountingStore()
    yield shared
    await shared.close()


async def replica(store: CountingStore, name: str, clock: Clock, **kw: Any) -> Registry:
    """A started replica: records and liveness loaded, a first flush done (as the master)."""
    liveness = Liveness(store, name, flush_interval=1.0, future_seconds=2.0, clock=clock, **kw)
    registry = Registry(store, Metrics(), liveness=liveness)
    await registry.load()
    await liveness.flush()
    return registry


async def beat(registry: Registry, timestamp_ms: int, node: str = "n1") -> NodeStatus:
    record = await registry.heartbeat(claims(node=node), FP, running_pods=0, resource_usage={},
                                      timestamp=timestamp_ms)  # fmt: skip
    return record.status


async def refusal(registry: Registry, timestamp_ms: int) -> str:
    with pytest.raises(MasterError) as info:
        await beat(registry, timestamp_ms)
    return info.value.reason


def ms(seconds: float) -> int:
    return int(seconds * 1000)


async def test_routine_heartbeats_cost_no_store_write_until_the_flush(
    store: CountingStore,
) -> None:
    clock = Clock()
    a = await replica(store, "a", clock)
    await a.register(claims(), FP)
    await beat(a, ms(T0) - 100)  # registered -> ready: a state change, written now
    before = len(store.puts)
    for i in range(50):
        assert await beat(a, ms(T0) - 99 + i) == "ready"
    assert len(store.puts) == before  # fifty acknowledged, nothing written
    await a.liveness.flush()  # type: ignore[union-attr]
    assert store.puts[before:] == [f"{PREFIX}a/{k}" for k in sorted(_shards("n1"))] + [PREFIX + "a"]
    assert store.batches[-1] == store.puts[before:]  # one atomic write: the state, then its W
    got = a.get("n1")
    assert got is not None and got.heartbeats == 51


def _shards(*nodes: str) -> set[int]:
    return {shard(n) for n in nodes}


async def test_a_heartbeat_acknowledged_before_a_crash_is_refused_after_restart(
    store: CountingStore,
) -> None:
    clock = Clock()
    a = await replica(store, "a", clock)
    await a.register(claims(), FP)
    await beat(a, ms(T0) - 100)
    await a.liveness.flush()  # type: ignore[union-attr]
    captured = ms(T0)  # acknowledged after the last flush: its mark never reached the store
    await beat(a, captured)
    # kill -9: nothing more is written; the restarted replica keeps its id
    clock.now += 0.5
    restarted = await replica(store, "a", clock)
    stored = restarted.get("n1")
    assert stored is not None and stored.last_timestamp < captured  # only the W covers it
    assert await refusal(restarted, captured) == "replayed"
    assert await refusal(restarted, ms(T0) + 3_000) == "replayed"  # up to the stored W
    assert await beat(restarted, ms(T0) + 3_001) == "ready"  # the worker's next interval


async def test_concurrent_copies_of_a_routine_heartbeat_are_accepted_once(
    store: CountingStore,
) -> None:
    a = await replica(store, "a", Clock())
    await a.register(claims(), FP)
    await beat(a, ms(T0) - 100)
    outcomes = await asyncio.gather(*(beat(a, ms(T0)) for _ in range(5)), return_exceptions=True)
    assert sum(o == "ready" for o in outcomes) == 1
    assert all(isinstance(o, MasterError) and o.reason == "replayed" for o in outcomes
               if o != "ready")  # fmt: skip


async def test_a_routine_heartbeat_takes_no_lock_unless_the_node_is_busy(
    store: CountingStore,
) -> None:
    """A routine heartbeat (ready, ours, covered by W) awaits nothing, so it runs without the
    node's lock; while something else holds that lock (a status change writing the store) it
    waits its turn and sees what that wrote, as every heartbeat did."""
    a = await replica(store, "a", Clock())
    await a.register(claims(), FP)
    taken: list[str] = []
    lock = a.lock

    def counting(node_id: str) -> asyncio.Lock:
        taken.append(node_id)
        return lock(node_id)

    a.lock = counting  # type: ignore[method-assign]
    await beat(a, ms(T0) - 100)  # registered -> ready: a state change, under the lock
    assert taken == ["n1"]
    for i in range(5):
        assert await beat(a, ms(T0) - 99 + i) == "ready"
    assert taken == ["n1"]  # routine: no lock
    got = a.get("n1")
    assert got is not None and (got.heartbeats, got.last_timestamp) == (6, ms(T0) - 95)
    assert await refusal(a, ms(T0) - 95) == "replayed"  # the same guard on the lock-free path
    assert taken == ["n1", "n1"]  # a refusal is decided under the lock
    held = lock("n1")
    await held.acquire()  # e.g. set_status awaiting a store write
    waiting = asyncio.create_task(beat(a, ms(T0)))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await a.save(a.get("n1"), status=NodeStatus.REVOKED, reason=Reason.STAKE_SLASHED)  # type: ignore[arg-type]
    held.release()
    with pytest.raises(MasterError) as info:
        await waiting
    assert info.value.reason == Reason.STAKE_SLASHED


async def test_another_replica_taking_over_applies_the_crashed_ones_guard(
    store: CountingStore,
) -> None:
    clock = Clock()
    b = await replica(store, "b", clock)  # running before a ever flushed; follows nothing
    a = await replica(store, "a", clock)
    await a.register(claims(), FP)
    await beat(a, ms(T0) - 100)
    captured = ms(T0)
    await beat(a, captured)  # acknowledged by a, never flushed; then a dies
    await b.load()  # b's view of the records (a follower would have it from the watch)
    assert await refusal(b, captured) == "replayed"  # a's W, read from the store at the move
    clock.now += 1.0
    await b.liveness.flush()  # type: ignore[union-attr]
    assert await beat(b, ms(T0) + 3_001) == "ready"  # the next interval moves the node to b
    moved = b.get("n1")
    assert moved is not None and moved.replica == "b"
    restarted = await replica(store, "a", clock)  # a comes back: the node is b's now
    assert await refusal(restarted, captured) == "replayed"


async def test_an_answer_waits_for_a_stored_w_and_fails_closed_without_one(
    store: CountingStore,
) -> None:
    clock = Clock()
    a = await replica(
        store,
        "a",
        clock,
    )
    await a.register(claims(), FP)
    await beat(a, ms(T0) - 100)
    liveness = a.liveness
    assert liveness is not None
    clock.now += 10  # the flush is late: the next heartbeat is past the stored W
    waiting = asyncio.create_task(beat(a, ms(clock.now)))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await liveness.flush()
    assert await waiting == "ready"
    store.broken = True
    clock.now += 10
    with pytest.raises(StoreUnavailableError):
        await beat(a, ms(clock.now))
    assert a.get("n1") is not None and a.get("n1").last_timestamp < ms(clock.now)  # type: ignore[union-attr]


async def test_giving_a_node_up_and_registering_again_keep_its_guard(
    store: CountingStore,
) -> None:
    clock = Clock()
    a = await replica(store, "a", clock)
    await a.register(claims(), FP)
    t0 = datetime.fromtimestamp(T0, UTC)
    await a.heartbeat(claims(), FP, running_pods=0, resource_usage={}, timestamp=ms(T0) - 100,
                      now=t0)  # fmt: skip
    captured = ms(T0)
    await a.heartbeat(claims(), FP, running_pods=0, resource_usage={}, timestamp=captured,
                      now=t0)  # fmt: skip
    assert await a.sweep(1.0, 3, 100, now=t0 + timedelta(seconds=5)) == [("n1", "not_ready")]
    released = a.get("n1")
    assert released is not None and released.replica == "" and released.last_timestamp >= captured
    b = await replica(store, "b", clock)
    assert await refusal(b, captured) == "replayed"
    await b.register(claims(), FP)  # a new record: the old heartbeats stay refused
    assert await refusal(b, captured) == "replayed"


async def test_a_restart_keeps_the_flushed_liveness(store: CountingStore) -> None:
    clock = Clock()
    a = await replica(store, "a", clock)
    await a.register(claims(), FP)
    for i in range(3):
        await beat(a, ms(T0) + i)
    await a.liveness.flush()  # type: ignore[union-attr]
    restarted = await replica(store, "a", clock)
    got = restarted.get("n1")
    assert got is not None and got.heartbeats == 3 and got.last_timestamp == ms(T0) + 2
    assert got.status == "ready"


async def test_a_guard_stored_under_another_enclave_key_is_moot(store: CountingStore) -> None:
    """A heartbeat signed for another key fails the signature check before any guard, so a
    process under a new key (every restart today) refuses nothing for its predecessor's W."""
    clock = Clock()
    a = await replica(store, "a", clock, key_id="k1")
    await a.register(claims(), FP)
    await beat(a, ms(T0) - 100)
    await beat(a, ms(T0))
    clock.now += 0.5
    same_key = await replica(store, "a", clock, key_id="k1")
    assert await refusal(same_key, ms(T0) + 100) == "replayed"  # under the stored W
    new_key = await replica(store, "a", clock, key_id="k2")
    assert await beat(new_key, ms(T0) + 100) == "ready"  # only the node's mark applies
    other = await replica(store, "b", clock, key_id="k3")
    assert await beat(other, ms(T0) + 200) == "ready"  # a failover is accepted at once


def _same_shard(count: int) -> list[str]:
    """`count` node ids that share one shard (so a write of it must keep them all)."""
    first = shard("n0")
    return [n for n in (f"n{i}" for i in range(1000)) if shard(n) == first][:count]


async def _stored_shard(store: CountingStore, replica_id: str, node: str) -> dict[str, Any]:
    raw = await store.get(f"{PREFIX}{replica_id}/{shard(node)}")
    assert raw is not None
    return dict(json.loads(raw))


async def _two_beating_in_one_shard(
    store: CountingStore, clock: Clock
) -> tuple[Registry, list[str]]:
    """Replica `a` with two nodes of one shard, each registered, ready, then beating routinely
    (marks at T0 - 50 ms, in memory until the flush), and flushed."""
    a = await replica(store, "a", clock)
    nodes = _same_shard(2)
    for node in nodes:
        await a.register(claims(node=node), FP)
        await beat(a, ms(T0) - 100, node)
        await beat(a, ms(T0) - 50, node)
    await a.liveness.flush()  # type: ignore[union-attr]
    return a, nodes


async def test_a_node_no_longer_live_leaves_its_shard_at_the_next_flush(
    store: CountingStore,
) -> None:
    clock = Clock()
    a, (gone, kept) = await _two_beating_in_one_shard(store, clock)
    assert set(await _stored_shard(store, "a", gone)) == {gone, kept}
    await a.set_status(gone, NodeStatus.LEFT, Reason.GRACEFUL_LEAVE)
    await beat(a, ms(T0) - 40, kept)  # the shard is written again for this one
    await a.liveness.flush()  # type: ignore[union-attr]
    stored = await _stored_shard(store, "a", kept)
    assert set(stored) == {kept} and stored[kept][1] == ms(T0) - 40


async def test_durable_writes_alone_write_no_shard(store: CountingStore) -> None:
    """A registration (or any durable record write) is in the store already: the next flush
    writes only W, however many nodes registered (a burst of 1,000 must not rewrite shards)."""
    a = await replica(store, "a", Clock())
    for node in _same_shard(3):
        await a.register(claims(node=node), FP)
    await a.liveness.flush()  # type: ignore[union-attr]
    assert store.batches[-1] == [PREFIX + "a"]


async def test_the_first_flush_after_a_restart_keeps_every_loaded_node(
    store: CountingStore,
) -> None:
    clock = Clock()
    _, (quiet, busy) = await _two_beating_in_one_shard(store, clock)
    clock.now += 5
    restarted = await replica(store, "a", clock, key_id="k2")  # its first flush is done
    await beat(restarted, ms(clock.now), busy)  # only one node of the shard beats
    await restarted.liveness.flush()  # type: ignore[union-attr]
    stored = await _stored_shard(store, "a", quiet)
    assert set(stored) == {quiet, busy}
    assert stored[quiet][1] == ms(T0) - 50 and stored[busy][1] == ms(clock.now)


def test_a_large_flush_is_cut_into_bounded_batches_with_the_guard_last() -> None:
    many = [(f"/s/{i}", b"x") for i in range(MAX_BATCH_ITEMS + 10)]
    big = [(f"/b/{i}", bytes(MAX_VALUE_LENGTH // 3)) for i in range(4)]
    items = [*many, *big, ("/w", b"{}")]
    cut = list(batches(items))
    assert [key for batch in cut for key, _ in batch] == [key for key, _ in items]
    assert all(0 < len(b) <= MAX_BATCH_ITEMS for b in cut)
    assert all(sum(len(v) for _, v in b) <= MAX_VALUE_LENGTH for b in cut)
    assert len(cut) == 3 and cut[-1][-1] == ("/w", b"{}")


async def test_a_shard_of_routine_heartbeats_is_written_once_per_refresh_interval(
    store: CountingStore,
) -> None:
    """W goes out at every flush (the guard never waits); a shard whose nodes only beat, at
    most once per `refresh_interval`; at shutdown every pending shard at once."""
    clock = Clock()
    a = await replica(store, "a", clock, refresh_interval=10.0)
    liveness = a.liveness
    assert liveness is not None
    await a.register(claims(), FP)
    await beat(a, ms(T0) - 100)  # ready: a durable write
    own_shard = f"{PREFIX}a/{shard('n1')}"
    clock.now = T0 + 10  # every shard due
    await liveness.flush()
    assert store.batches[-1] == [PREFIX + "a"]  # the store holds the ready record itself
    await beat(a, ms(clock.now))
    clock.now += 1
    await liveness.flush()
    assert store.batches[-1] == [own_shard, PREFIX + "a"]
    written: list[int] = []
    for _ in range(9):  # beating every second, flushed every second: W only
        clock.now += 1
        await beat(a, ms(clock.now))
        written.append(await liveness.flush())
        assert store.batches[-1] == [PREFIX + "a"]
    assert written == sorted(written) and written[-1] == ms(clock.now) + 3_000
    clock.now += 1  # ten seconds since the shard was written
    await liveness.flush()
    assert store.batches[-1] == [own_shard, PREFIX + "a"]
    assert (await _stored_shard(store, "a", "n1"))["n1"][2] == 11  # every heartbeat counted
    clock.now += 1
    await beat(a, ms(clock.now))
    await liveness.flush(everything=True)  # the shutdown's flush
    assert store.batches[-1] == [own_shard, PREFIX + "a"]
    assert (await _stored_shard(store, "a", "n1"))["n1"][1] == ms(clock.now)


async def test_shards_come_due_staggered_not_all_in_one_flush(store: CountingStore) -> None:
    clock = Clock()
    a = await replica(store, "a", clock, refresh_interval=16.0)  # shard k due at T0 + k s
    liveness = a.liveness
    assert liveness is not None
    by_shard = {shard(n): n for n in (f"n{i}" for i in range(400))}
    assert len(by_shard) == 16
    for node in by_shard.values():
        await a.register(claims(node=node), FP)
        await beat(a, ms(T0) - 100, node)
        await beat(a, ms(T0) - 50, node)  # routine: every shard changed
    for k in range(3):
        clock.now = T0 + k + 0.5
        await liveness.flush()
        assert store.batches[-1] == [f"{PREFIX}a/{k}", PREFIX + "a"]


async def test_a_last_seen_read_from_the_store_gets_the_flush_lag_in_the_sweep(
    store: CountingStore,
) -> None:
    """Another replica's node (its last seen up to `lag` old when flushed) is not_ready only
    `lag` later than at its owner, who knows the exact instant."""
    clock = Clock()
    a = await replica(store, "a", clock, refresh_interval=4.0)
    seen = datetime.now(UTC)
    await a.register(claims(), FP)
    await a.heartbeat(claims(), FP, running_pods=0, resource_usage={}, timestamp=ms(T0) - 100,
                      now=seen)  # fmt: skip
    b = await replica(store, "b", clock, refresh_interval=4.0)
    assert b.liveness is not None and b.liveness.lag == 5.0
    assert await b.sweep(1.0, 3, 100, now=seen + timedelta(seconds=7.5)) == []
    assert await a.sweep(1.0, 3, 100, now=seen + timedelta(seconds=3.5)) == [("n1", "not_ready")]
    c = await replica(store, "c", clock, refresh_interval=4.0)
    assert await c.sweep(1.0, 3, 100, now=seen + timedelta(seconds=8.5)) == []  # not_ready now
