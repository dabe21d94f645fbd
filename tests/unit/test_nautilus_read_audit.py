"""The background audit queue (`nautilus.read_audit`): entries are counted while they wait or are
being written (`nautilus_audit_queued`), dropped and counted when the queue is full."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from k3s_daas.nautilus.read_audit import ReadAudit


class SlowSink:
    """An audit sink that writes only when the test lets it."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.written: list[dict[str, Any]] = []

    async def append(self, **entry: Any) -> Any:
        await self.go.wait()
        self.written.append(entry)


async def test_queued_counts_entries_until_they_are_written_and_a_full_queue_drops() -> None:
    sink = SlowSink()
    dropped = Counter("dropped", "test", ["reason"], registry=CollectorRegistry())
    audit = ReadAudit(sink, dropped, capacity=2)
    assert audit.queued() == 0
    assert audit.record(action="a") and audit.record(action="b")
    await asyncio.sleep(0)  # the drain takes the first: being written, still counted
    assert audit.record(action="c")
    assert not audit.record(action="d")  # full: dropped, not counted as queued
    assert audit.queued() == 3
    assert dropped.labels("queue_full")._value.get() == 1
    sink.go.set()
    await audit.close()
    assert audit.queued() == 0
    assert [e["action"] for e in sink.written] == ["a", "b", "c"]
