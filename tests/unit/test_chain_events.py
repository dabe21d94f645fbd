"""The checkpoint subscription against a plain fake `CheckpointSource` (no gRPC): backfill from
the cursor, then the stream (a checkpoint already delivered is skipped, a gap is backfilled),
only the package's events, and the cursor saved once a checkpoint is fully taken."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain import CheckpointSource, Endpoint, EventData, MemoryCursorStore, subscribe

PKG = "0x" + "0d" * 32
OTHER = "0x" + "0e" * 32


def checkpoint(seq: int, *packages: str) -> v2.Checkpoint:
    events = [v2.Event(package_id=p, module="m", event_type=f"{p}::m::E") for p in packages]
    tx = v2.ExecutedTransaction(digest=f"tx{seq}", events=v2.TransactionEvents(events=events))
    return v2.Checkpoint(sequence_number=seq, transactions=[tx])


class FakeChain:
    """Checkpoints 1..5 exist; the tip is 2 when asked; the stream sends 2, then 5 (a gap)."""

    def __init__(self) -> None:
        self.history = {
            1: checkpoint(1, PKG),
            2: checkpoint(2, PKG, OTHER, PKG),
            3: checkpoint(3),
            4: checkpoint(4, PKG),
            5: checkpoint(5, PKG),
        }
        self.fetched: list[int] = []

    @property
    def endpoints(self) -> Sequence[Endpoint]:
        return [Endpoint("127.0.0.1", 1, False)]

    @property
    def preferred_endpoint(self) -> int:
        return 0

    async def latest_checkpoint(self) -> int:
        return 2

    async def checkpoint_bounds(self) -> tuple[int, int]:
        return 1, 2

    async def get_checkpoint(self, sequence_number: int | None = None) -> v2.Checkpoint | None:
        assert sequence_number is not None
        self.fetched.append(sequence_number)
        return self.history.get(sequence_number)

    async def stream_checkpoints(self, endpoint: int) -> AsyncIterator[v2.Checkpoint]:
        assert endpoint == 0
        yield self.history[2]
        yield self.history[5]


async def test_backfill_then_stream_in_order_with_the_cursor_behind_the_consumer() -> None:
    source: CheckpointSource = FakeChain()
    cursor = MemoryCursorStore(0)
    seen: list[EventData] = []
    async for event in subscribe(source, cursor=cursor, package_id=PKG):
        seen.append(event)
        if event.checkpoint == 2:
            assert cursor.checkpoint == 1  # checkpoint 2 is not fully taken yet
        if event.checkpoint == 5:
            break
    assert [(e.checkpoint, e.index) for e in seen] == [(1, 0), (2, 0), (2, 2), (4, 0), (5, 0)]
    assert all(e.package_id == PKG for e in seen)
    assert cursor.checkpoint == 4  # 5 was being consumed when the consumer left
    assert isinstance(source, FakeChain)
    assert source.fetched == [1, 2, 3, 4]  # 2 streamed again is skipped; the gap 3..4 is read
