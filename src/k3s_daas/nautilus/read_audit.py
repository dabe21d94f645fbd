"""Best-effort audit of allowed reads (the admin's workers list): queued, never awaited.

A read answered from memory must not wait on the store: with etcd out of quorum the audit append
would take the whole store deadline and then fail the read. Allowed reads go to a bounded queue
drained by one task; when the store is down or the queue is full, entries are dropped and
counted (`nautilus_audit_dropped_total`), never blocking. Denied attempts are not reads: their
entries are written before the refusal is answered, as every other decision is.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from prometheus_client import Counter

from k3s_daas.log import get_logger
from k3s_daas.nautilus.registry import AuditSink

log = get_logger(__name__)

CAPACITY: Final = 1024  # entries waiting for the store; more are dropped


class ReadAudit:
    """`record(**entry)` queues one entry for `sink`; `close()` writes what is queued."""

    def __init__(self, sink: AuditSink, dropped: Counter, *, capacity: int = CAPACITY) -> None:
        self.sink = sink
        self._dropped = dropped
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=capacity)
        self._task: asyncio.Task[None] | None = None
        self._pending = 0  # queued or being written

    def record(self, **entry: Any) -> bool:
        """Queue an entry (the drain task starts on first use); False when it was dropped."""
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self._dropped.labels("queue_full").inc()
            return False
        self._pending += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="read-audit")
        return True

    def queued(self) -> int:
        """Entries queued or being written (`nautilus_audit_queued`)."""
        return self._pending

    async def _drain(self) -> None:
        while not self._queue.empty():
            entry = self._queue.get_nowait()
            try:
                await self.sink.append(**entry)
            except Exception as exc:  # the store is unavailable: the read was answered anyway
                self._dropped.labels("store_error").inc()
                log.warning("read audit entry dropped", error=exc.__class__.__name__)
            finally:
                self._queue.task_done()
                self._pending -= 1

    async def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (at most `timeout` seconds), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


__all__ = ["ReadAudit"]
