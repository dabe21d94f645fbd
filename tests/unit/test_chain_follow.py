"""Following checkpoints against a scripted fake `CheckpointSource` (no gRPC): UNIMPLEMENTED
falls back to polling (and another endpoint's stream is preferred), a gap in the stream is filled
in order, a repeated frame is handed out once, a number beyond the head waits, a pruned one is an
error and never skipped, and the cursor is saved only for fully consumed checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from grpclib import GRPCError
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain import (
    ChainError,
    CheckpointSource,
    Endpoint,
    FillCause,
    FollowMode,
    FollowSettings,
    MemoryCursorStore,
    follow_checkpoints,
    subscribe,
)

PKG = "0x" + "0d" * 32
FAST = FollowSettings(poll_interval=0.01, stream_retry=3600, backoff_start=0.001)

Stream = Callable[["FakeNode"], AsyncIterator[v2.Checkpoint]]


def checkpoint(seq: int) -> v2.Checkpoint:
    event = v2.Event(package_id=PKG, module="m", event_type=f"{PKG}::m::E")
    tx = v2.ExecutedTransaction(digest=f"tx{seq}", events=v2.TransactionEvents(events=[event]))
    return v2.Checkpoint(sequence_number=seq, transactions=[tx])


async def unimplemented(node: FakeNode) -> AsyncIterator[v2.Checkpoint]:
    raise GRPCError(Status.UNIMPLEMENTED, "subscription service not enabled")
    yield checkpoint(0)  # pragma: no cover - makes this an async generator


def frames(*numbers: int, then_idle: bool = True) -> Stream:
    """A stream that sends these checkpoints, then stays open (or ends)."""

    async def stream(node: FakeNode) -> AsyncIterator[v2.Checkpoint]:
        for seq in numbers:
            node.head = max(node.head, seq)
            yield checkpoint(seq)
        while then_idle:
            await asyncio.sleep(3600)

    return stream


class FakeNode:
    """Checkpoints `lowest..head` exist; `streams[endpoint]` scripts each stream opened there.

    `lagging` numbers answer NOT_FOUND that many times first (an endpoint behind the others).
    """

    def __init__(self, head: int, streams: dict[int, list[Stream]], lowest: int = 0) -> None:
        self.head = head
        self.lowest = lowest
        self.streams = streams
        self.lagging: dict[int, int] = {}
        self.fetched: list[int] = []
        self.not_found: list[int] = []
        self.opened: list[int] = []

    @property
    def endpoints(self) -> Sequence[Endpoint]:
        return [Endpoint("127.0.0.1", 1 + i, False) for i in range(len(self.streams))]

    @property
    def preferred_endpoint(self) -> int:
        return 0

    async def latest_checkpoint(self) -> int:
        return self.head

    async def checkpoint_bounds(self) -> tuple[int, int]:
        return self.lowest, self.head

    async def get_checkpoint(self, sequence_number: int | None = None) -> v2.Checkpoint | None:
        assert sequence_number is not None
        if self.lagging.get(sequence_number, 0) > 0:
            self.lagging[sequence_number] -= 1
            self.not_found.append(sequence_number)
            return None
        if not self.lowest <= sequence_number <= self.head:
            self.not_found.append(sequence_number)
            return None
        self.fetched.append(sequence_number)
        return checkpoint(sequence_number)

    def stream_checkpoints(self, endpoint: int) -> AsyncIterator[v2.Checkpoint]:
        self.opened.append(endpoint)
        scripts = self.streams[endpoint]
        return (scripts.pop(0) if len(scripts) > 1 else scripts[0])(self)


class Seen:
    """A FollowObserver that records what it is told."""

    def __init__(self) -> None:
        self.modes: list[FollowMode] = []
        self.filled: list[tuple[int, FillCause]] = []

    def on_mode(self, mode: FollowMode) -> None:
        self.modes.append(mode)

    def on_filled(self, sequence_number: int, cause: FillCause) -> None:
        self.filled.append((sequence_number, cause))


async def take(
    node: CheckpointSource,
    first: int,
    count: int,
    seen: Seen | None = None,
    settings: FollowSettings = FAST,
) -> list[int]:
    out: list[int] = []

    async def run() -> None:
        async for cp in follow_checkpoints(node, first, settings, seen):
            out.append(int(cp.sequence_number or 0))
            if len(out) == count:
                return

    await asyncio.wait_for(run(), 5)
    return out


async def collect(node: CheckpointSource, first: int, into: list[int]) -> None:
    """Follow until an error, recording each number."""
    async for cp in follow_checkpoints(node, first, FAST):
        into.append(int(cp.sequence_number or 0))


async def test_unimplemented_stream_falls_back_to_polling_by_number() -> None:
    node = FakeNode(head=3, streams={0: [unimplemented]})
    seen = Seen()

    async def grow() -> None:
        for _ in range(2):
            await asyncio.sleep(0.05)
            node.head += 1

    grower = asyncio.create_task(grow())
    assert await take(node, 1, 5, seen) == [1, 2, 3, 4, 5]
    await grower
    assert node.opened == [0]  # not tried again before stream_retry
    assert node.fetched == [1, 2, 3, 4, 5]  # each read once, by number, in order
    assert seen.modes == ["stream", "poll"]
    assert [cause for _, cause in seen.filled] == ["catch_up"] * 3  # read before UNIMPLEMENTED


async def test_another_endpoints_stream_is_preferred_to_polling() -> None:
    node = FakeNode(head=1, streams={0: [unimplemented], 1: [frames(2, 3)]})
    seen = Seen()
    assert await take(node, 1, 3, seen) == [1, 2, 3]
    assert node.opened == [0, 1]
    assert node.fetched == [1]  # 2 and 3 came from the stream of endpoint 1
    assert seen.modes == ["stream"]


async def test_the_stream_is_probed_again_after_stream_retry() -> None:
    node = FakeNode(head=1, streams={0: [unimplemented, frames(2)]})
    seen = Seen()
    settings = FollowSettings(poll_interval=0.01, stream_retry=0.05)
    assert await take(node, 1, 2, seen, settings) == [1, 2]
    assert node.opened == [0, 0]
    assert node.fetched == [1]
    assert seen.modes == ["stream", "poll", "stream"]  # stream again once a frame came


async def test_a_gap_in_the_stream_is_filled_in_order() -> None:
    node = FakeNode(head=2, streams={0: [frames(3, 6, 7)]})
    seen = Seen()
    assert await take(node, 3, 5, seen) == [3, 4, 5, 6, 7]
    assert node.fetched == [4, 5]
    assert seen.filled == [(4, "gap"), (5, "gap")]


async def test_a_frame_delivered_twice_is_handed_out_once() -> None:
    node = FakeNode(head=2, streams={0: [frames(3, 3, 4, 3, 4, 5)]})
    assert await take(node, 3, 3) == [3, 4, 5]
    assert node.fetched == []


async def test_a_stream_that_ends_resumes_from_the_next_number() -> None:
    node = FakeNode(head=2, streams={0: [frames(3, 4, then_idle=False), frames(5, 6)]})
    assert await take(node, 3, 4) == [3, 4, 5, 6]
    assert node.opened == [0, 0]


async def test_a_number_beyond_the_head_waits_until_it_exists() -> None:
    node = FakeNode(head=2, streams={0: [unimplemented]})
    got: list[int] = []

    async def run() -> None:
        async for cp in follow_checkpoints(node, 3, FAST):
            got.append(int(cp.sequence_number or 0))
            return

    task = asyncio.create_task(run())
    await asyncio.sleep(0.1)  # ten poll intervals at the head
    assert not task.done() and got == []  # waiting, no error
    node.head = 3
    await asyncio.wait_for(task, 5)
    assert got == [3]


async def test_not_found_from_an_endpoint_behind_the_head_is_not_yet() -> None:
    node = FakeNode(head=4, streams={0: [unimplemented]})
    node.lagging[3] = 2  # the endpoint that answers GetCheckpoint is behind
    assert await take(node, 2, 3) == [2, 3, 4]
    assert node.not_found == [3, 3]
    assert node.fetched == [2, 3, 4]


async def test_a_pruned_checkpoint_is_an_error_never_skipped() -> None:
    node = FakeNode(head=7, streams={0: [unimplemented]}, lowest=5)
    got: list[int] = []
    with pytest.raises(ChainError) as caught:
        await asyncio.wait_for(collect(node, 3, got), 5)
    assert caught.value.reason == "checkpoint_pruned"
    assert "checkpoint 3 is pruned (lowest available 5)" in caught.value.message
    assert got == []


async def test_a_gap_that_was_pruned_meanwhile_is_an_error_never_skipped() -> None:
    async def stream(node: FakeNode) -> AsyncIterator[v2.Checkpoint]:
        node.head = 3
        yield checkpoint(3)
        node.lowest, node.head = 5, 6  # 4 is pruned before the gap is noticed
        yield checkpoint(6)

    node = FakeNode(head=2, streams={0: [stream]})
    got: list[int] = []
    with pytest.raises(ChainError) as caught:
        await asyncio.wait_for(collect(node, 3, got), 5)
    assert caught.value.reason == "checkpoint_pruned"
    assert got == [3]  # never 6 without 4


async def test_subscribe_by_polling_keeps_the_cursor_behind_the_consumer() -> None:
    node = FakeNode(head=4, streams={0: [unimplemented]})
    cursor = MemoryCursorStore(1)
    seen: list[int] = []
    async for event in subscribe(node, cursor=cursor, package_id=PKG, follow=FAST):
        seen.append(event.checkpoint)
        if event.checkpoint == 3:
            assert cursor.checkpoint == 2  # 3 is being consumed
            break
    assert seen == [2, 3]
    assert cursor.checkpoint == 2
    resumed = []
    async for event in subscribe(node, cursor=cursor, package_id=PKG, follow=FAST):
        resumed.append(event.checkpoint)
        if event.checkpoint == 4:
            break
    assert resumed == [3, 4]  # the unacknowledged checkpoint again, nothing lost
