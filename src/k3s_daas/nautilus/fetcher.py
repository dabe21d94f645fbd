"""Batched chain reads for the validator: same-id reads and reads within a short window share
one BatchGetObjects round trip."""

from __future__ import annotations

import asyncio
import time

from k3s_daas.chain.client import ChainClient
from k3s_daas.chain.views import ObjectData
from k3s_daas.nautilus.metrics import Metrics


class ObjectFetcher:
    """Reads objects by id; same-id reads and reads within a window go in one BatchGetObjects."""

    def __init__(
        self,
        client: ChainClient,
        metrics: Metrics,
        *,
        window: float = 0.002,
        max_batch: int = 100,
        batching: bool = True,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.window = window
        self.max_batch = max_batch
        self.batching = batching
        self._pending: dict[str, asyncio.Future[ObjectData | None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, object_id: str) -> ObjectData | None:
        if not self.batching:
            return (await self._read([object_id]))[0]
        future = self._pending.get(object_id)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._pending[object_id] = future
            if len(self._pending) >= self.max_batch or self.window <= 0:
                self._flush()
            elif self._timer is None:
                self._timer = loop.call_later(self.window, self._flush)
        return await asyncio.shield(future)

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
            return await self.client.get_objects(ids)
        finally:
            self.metrics.chain_latency.labels("batch_get_objects").observe(
                time.perf_counter() - start
            )
            self.metrics.batch_size.observe(len(ids))
