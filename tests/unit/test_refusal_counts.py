"""Unauthenticated refusals audited as counts per (minute, reason) (nautilus.refusal_counts),
with a fake clock and a fake audit sink; and the validate route counting instead of appending."""

from __future__ import annotations

from typing import Any

import pytest

from k3s_daas.nautilus.refusal_counts import RefusalCounts, minute_label


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0 - 1_700_000_000.0 % 60 + 5  # 5 s into a minute

    def __call__(self) -> float:
        return self.now


class Sink:
    """An AuditSink that keeps what it was given; `fail` makes appends raise."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.fail = False

    async def append(self, **entry: Any) -> None:
        if self.fail:
            raise OSError("store down")
        self.entries.append(entry)


async def test_one_entry_per_minute_and_reason_written_when_the_minute_closes() -> None:
    clock, sink = FakeClock(), Sink()
    counts = RefusalCounts(sink, clock)
    first = int(clock.now // 60)
    for i in range(1000):
        counts.count("validate" if i % 4 else "register", "not_found")
    for _ in range(7):
        counts.count("list_workers", "unauthorized")
    assert await counts.flush() == 0 and sink.entries == []  # the minute is still open
    clock.now += 60
    counts.count("validate", "not_found")  # the next minute
    assert await counts.flush() == 2
    by_reason = {e["reason"]: e for e in sink.entries}
    assert set(by_reason) == {"not_found", "unauthorized"}
    found = by_reason["not_found"]
    assert found["details"] == {"count": 1000, "actions": {"register": 250, "validate": 750}}
    assert (found["action"], found["decision"], found["actor"]) == ("refusals", "denied",
                                                                    "anonymous")  # fmt: skip
    assert found["subject"] == minute_label(first) and found["subject"].endswith("Z")
    assert found.get("token_fingerprint") is None
    assert by_reason["unauthorized"]["details"]["count"] == 7
    assert counts.pending() == {(first + 1, "not_found"): 1}


async def test_shutdown_writes_the_open_minute() -> None:
    clock, sink = FakeClock(), Sink()
    counts = RefusalCounts(sink, clock)
    for _ in range(3):
        counts.count("heartbeat", "bad_signature")
    await counts.close()
    assert [(e["reason"], e["details"]["count"]) for e in sink.entries] == [("bad_signature", 3)]
    assert counts.pending() == {}


async def test_a_failed_write_keeps_the_count_for_the_next_flush() -> None:
    clock, sink = FakeClock(), Sink()
    counts = RefusalCounts(sink, clock)
    counts.count("validate", "not_found", 5)
    clock.now += 60
    sink.fail = True
    assert await counts.flush() == 0
    counts.count("validate", "not_found", 2)  # a new minute meanwhile
    clock.now += 60
    sink.fail = False
    assert await counts.flush() == 2
    assert [e["details"]["count"] for e in sink.entries] == [5, 2]


def test_minute_label() -> None:
    assert minute_label(0) == "1970-01-01T00:00Z"
    assert minute_label(28_333_334) == "2023-11-14T22:14Z"


@pytest.mark.parametrize("audit", [None, Sink()])
async def test_no_audit_still_counts(audit: Sink | None) -> None:
    counts = RefusalCounts(audit, FakeClock())
    counts.count("validate", "invalid_format")
    assert sum(counts.pending().values()) == 1
    await counts.close()
    assert counts.pending() == {}
