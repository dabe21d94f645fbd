"""The batched object reader against a plain fake `ObjectReader`: same-id reads share a round
trip, a burst becomes one batch (split at `max_batch`), a failed batch fails every waiter, a
caller that gives up does not cancel the others, and the observer sees every read."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from k3s_daas.chain import ChainUnavailable, ObjectData, ObjectFetcher, ObjectReader


def obj(object_id: str) -> ObjectData:
    return ObjectData(object_id, 1, "0x2::m::T", None, True, {})


class FakeReader:
    """Records each `get_objects` call; `gate` holds reads until set; `fail` raises an outage."""

    def __init__(self, present: Sequence[str]) -> None:
        self.present = set(present)
        self.calls: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectData | None]:
        self.calls.append(list(object_ids))
        await self.gate.wait()
        if self.fail:
            raise ChainUnavailable("fake: down")
        return [obj(i) if i in self.present else None for i in object_ids]


def test_the_fake_is_an_object_reader() -> None:
    reader: ObjectReader = FakeReader([])  # structural: no subclassing, no type: ignore
    assert reader is not None


async def test_a_burst_is_one_batch_and_same_ids_share_it() -> None:
    reader = FakeReader(["a", "b"])
    f = ObjectFetcher(reader, window=0.001)
    got = await asyncio.gather(f.get("a"), f.get("b"), f.get("a"), f.get("zz"))
    assert reader.calls == [["a", "b", "zz"]]
    assert [o.object_id if o else None for o in got] == ["a", "b", "a", None]


async def test_max_batch_flushes_at_once_and_zero_window_does_not_wait() -> None:
    reader = FakeReader(["a", "b", "c"])
    f = ObjectFetcher(reader, window=3600, max_batch=2)  # only the size can flush the first two
    first = await asyncio.gather(f.get("a"), f.get("b"))
    assert [o.object_id for o in first if o] == ["a", "b"]
    assert reader.calls == [["a", "b"]]
    immediate = ObjectFetcher(reader, window=0)
    assert await immediate.get("c") == obj("c")
    assert reader.calls[-1] == ["c"]


async def test_without_batching_each_read_goes_alone() -> None:
    reader = FakeReader(["a", "b"])
    f = ObjectFetcher(reader, batching=False)
    await asyncio.gather(f.get("a"), f.get("b"))
    assert sorted(reader.calls) == [["a"], ["b"]]


async def test_a_failed_batch_fails_every_waiter() -> None:
    reader = FakeReader(["a", "b"])
    reader.fail = True
    f = ObjectFetcher(reader, window=0.001)
    results = await asyncio.gather(f.get("a"), f.get("b"), return_exceptions=True)
    assert all(isinstance(r, ChainUnavailable) for r in results)
    reader.fail = False
    assert await f.get("a") == obj("a")  # the next batch is a fresh read


async def test_a_caller_giving_up_does_not_cancel_the_shared_read() -> None:
    reader = FakeReader(["a", "b"])
    reader.gate.clear()
    f = ObjectFetcher(reader, window=3600, max_batch=2)  # the second get flushes the batch
    impatient = asyncio.create_task(f.get("a"))
    patient = asyncio.create_task(f.get("b"))
    while not reader.calls:  # the one read has started and waits on the gate
        await asyncio.sleep(0)
    impatient.cancel()
    reader.gate.set()
    assert await patient == obj("b")
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert reader.calls == [["a", "b"]]


async def test_observer_sees_size_and_duration_of_every_read_failed_or_not() -> None:
    seen: list[tuple[int, float]] = []
    reader = FakeReader(["a"])
    f = ObjectFetcher(reader, window=0.001, observe=lambda n, s: seen.append((n, s)))
    await asyncio.gather(f.get("a"), f.get("b"))
    reader.fail = True
    with pytest.raises(ChainUnavailable):
        await f.get("c")
    assert [n for n, _ in seen] == [2, 1]
    assert all(s >= 0 for _, s in seen)
