"""Unauthenticated refusals, audited as counts: one entry per (minute, reason), not one per request.

A refusal of a request whose credential never verified (a random token, a bad signature, a wrong
admin token) says nothing about who sent it, and writing ~500 bytes for each would let a flood
grow the audit log without bound. So each is counted in memory by the wall-clock minute it
happened in and by reason, and the minute is written as one entry (`action="refusals"`, the
minute as `subject`, `details.count` and the count per action) once it has closed — or at
shutdown. Each refusal is also charged to its client's rate-limit bucket
(`nautilus.rate_limit.charge`). Decisions about authenticated requests keep their own entries.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from k3s_daas.log import get_logger
from k3s_daas.nautilus.rate_limit import charge
from k3s_daas.nautilus.registry import AuditSink

log = get_logger(__name__)

MINUTE: Final = 60
#: Pending (minute, reason) keys kept while the audit cannot be written (oldest dropped beyond).
MAX_PENDING: Final = 10_000
ACTION: Final = "refusals"


def minute_label(minute: int) -> str:
    """`2025-01-31T12:34Z` for the minute number `minute` (seconds since the epoch // 60)."""
    return datetime.fromtimestamp(minute * MINUTE, UTC).strftime("%Y-%m-%dT%H:%MZ")


class RefusalCounts:
    """Counts refusals per (minute, reason) and writes each closed minute as one audit entry."""

    def __init__(self, audit: AuditSink | None, clock: Callable[[], float] = time.time) -> None:
        self.audit = audit
        self._clock = clock
        self._counts: dict[tuple[int, str], Counter[str]] = {}
        self.written = 0  # entries written so far
        self.dropped = 0  # refusals lost because the audit could not be written for too long

    def count(self, action: str, reason: str, n: int = 1) -> None:
        """`n` refusals of `action` for `reason`, now; charged to the requesting client."""
        charge(n)
        key = (int(self._clock() // MINUTE), str(reason))
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = Counter()
            while len(self._counts) > MAX_PENDING:
                oldest = min(self._counts)
                self.dropped += self._counts.pop(oldest).total()
        counts[action] += n

    def pending(self) -> dict[tuple[int, str], int]:
        """The counts not written yet, by (minute, reason)."""
        return {key: counts.total() for key, counts in self._counts.items()}

    async def flush(self, *, everything: bool = False) -> int:
        """Write every closed minute (every minute with `everything`); returns entries written.
        A failed write keeps its count (and the later ones) for the next flush."""
        current = int(self._clock() // MINUTE)
        keys = sorted(k for k in self._counts if everything or k[0] < current)
        written = 0
        for key in keys:
            counts = self._counts.pop(key)
            try:
                await self._write(key, counts)
            except Exception as exc:  # the store may be down: keep the count, try next time
                self._counts.setdefault(key, Counter()).update(counts)
                log.warning("refusal counts not audited yet", error=exc.__class__.__name__)
                break
            written += 1
        self.written += written
        return written

    async def _write(self, key: tuple[int, str], counts: Counter[str]) -> None:
        if self.audit is None:
            return
        minute, reason = key
        details = {"count": counts.total(), "actions": dict(sorted(counts.items()))}
        await self.audit.append(
            actor="anonymous", action=ACTION, subject=minute_label(minute), decision="denied",
            reason=reason, details=details,
        )  # fmt: skip

    async def run(self) -> None:
        """Write each minute shortly after it closes; never returns until cancelled."""
        while True:
            now = self._clock()
            await asyncio.sleep(MINUTE - now % MINUTE + 0.5)
            await self.flush()

    async def close(self) -> None:
        """Shutdown: write everything counted so far, the current minute included."""
        await self.flush(everything=True)


__all__ = ["ACTION", "MINUTE", "RefusalCounts", "minute_label"]
