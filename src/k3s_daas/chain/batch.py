"""Batched object reads: concurrent reads of one id share a round trip, and reads that arrive
within a short window go to the chain as one BatchGetObjects.

A hot reader (the master validating many tokens at once) would otherwise make one round trip per
object; this turns a burst into a few batched reads without changing what each caller gets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from k3s_daas.chain.reader import ObjectReader
from k3s_daas.chain.records import ObjectData

#: Called after every batched read, failed or not, with (number of ids, seconds it took).
BatchObserver = Callable[[int, float], None]


class ObjectFetcher:
    """Reads objects by id; same-id reads and reads within `window` seconds (up to `max_batch`
    ids) go in one `get_objects` call. `batching=False` reads each id on its own."""

    def __init__(
        self,
        reader: ObjectReader,
        *,
        window: float = 0.002,
        max_batch: int = 100,
        batching: bool = True,
        observe: BatchObserver | None = None,
    ) -> None:
        self.reader = reader
        self.window = window
        self.max_batch = max_batch
        self.batching = batching
        self.observe = observe
        self._pending: dict[str, asyncio.Future[ObjectData | None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, object_id: str) -> ObjectData | None:
        """The object, or None if it does not exist; the read's error if the batch failed."""
        if not self.batching:
            return (await self._read([object_id]))[0]
        # shielded: a caller that gives up must not cancel the read other callers wait for
        return await asyncio.shield(self.enqueue(object_id))

    def enqueue(self, object_id: str) -> asyncio.Future[ObjectData | None]:
        """The read of `object_id`, joined to the batch being gathered now (so reads asked
        for together go together); await it shielded. Needs `batching`."""
        future = self._pending.get(object_id)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._pending[object_id] = future
            if len(self._pending) >= self.max_batch or self.window <= 0:
                self._flush()
            elif self._timer is None:
                self._timer = loop.call_later(self.window, self._flush)
        return future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, {}
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: dict[str, asyncio.Future[ObjectData | None]]) -> None:
        ids = list(batch)
        try:
            objects = await self._read(ids)
        except BaseException as exc:
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # mark retrieved: waiters may all have gone
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for object_id, obj in zip(ids, objects, strict=True):
            if not batch[object_id].done():
                batch[object_id].set_result(obj)

    async def _read(self, ids: list[str]) -> list[ObjectData | None]:
        start = time.perf_counter()
        try:
            return await self.reader.get_objects(ids)
        finally:
            if self.observe is not None:
                self.observe(len(ids), time.perf_counter() - start)


__all__ = ["BatchObserver", "ObjectFetcher"]
