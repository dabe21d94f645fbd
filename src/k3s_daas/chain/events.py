"""Event subscription over checkpoints with a persisted cursor (resume without loss).

Sui gRPC v2 has no event query: events are read from checkpoints. `subscribe` opens
SubscribeCheckpoints (which starts at the tip), backfills every checkpoint between the persisted
cursor and what the stream delivers with GetCheckpoint, and hands out each checkpoint's events in
order. Guarantee (docs/chain.md "subscription"):

- checkpoints are handed out in strictly increasing order, none skipped, none twice per run;
- the cursor is saved after the consumer has taken the LAST event of a checkpoint (i.e. when it
  asks for the next one), so after a crash or disconnect the consumer sees at most the events of
  one partly-consumed checkpoint again: at-least-once, and exactly-once for a consumer that
  records `EventData.key` = (tx digest, event index) idempotently;
- on any stream failure it reconnects with capped exponential backoff (full jitter), rotating
  across the client's endpoints, and resumes from the cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from grpclib import GRPCError
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.convert import checkpoint_events
from k3s_daas.chain.errors import ChainError, ChainUnavailable
from k3s_daas.chain.keys import normalize_address
from k3s_daas.chain.reader import CheckpointSource
from k3s_daas.chain.records import EventData
from k3s_daas.chain.transport import RETRYABLE, TRANSPORT_ERRORS, jitter
from k3s_daas.log import get_logger

log = get_logger(__name__)

BACKOFF_START = 0.1
BACKOFF_CAP = 5.0
_RECONNECT: tuple[type[BaseException], ...] = (GRPCError, ChainUnavailable, *TRANSPORT_ERRORS)


class CursorStore(Protocol):
    """Where the last fully delivered checkpoint is kept."""

    async def load(self) -> int | None: ...
    async def save(self, checkpoint: int) -> None: ...


class MemoryCursorStore:
    """In-process cursor (tests, short-lived consumers)."""

    def __init__(self, checkpoint: int | None = None) -> None:
        self.checkpoint = checkpoint

    async def load(self) -> int | None:
        return self.checkpoint

    async def save(self, checkpoint: int) -> None:
        self.checkpoint = checkpoint


class FileCursorStore:
    """A JSON file `{"checkpoint": N}`, replaced atomically (temp file + rename) on each save."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> int | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ChainError(
                f"cursor file {self.path} unreadable: {exc}", reason="bad_cursor"
            ) from exc
        value = data.get("checkpoint") if isinstance(data, dict) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ChainError(f"cursor file {self.path} has no checkpoint", reason="bad_cursor")
        return value

    async def save(self, checkpoint: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"checkpoint": checkpoint}), encoding="utf-8")
        os.replace(tmp, self.path)


async def subscribe(
    client: CheckpointSource,
    *,
    cursor: CursorStore,
    package_id: str | None = None,
    start: int | None = None,
) -> AsyncIterator[EventData]:
    """Yield events of every checkpoint after the cursor (see the module docstring).

    With no saved cursor, delivery starts at checkpoint `start`, or after the current tip when
    `start` is None (only new events).
    """
    package = normalize_address(package_id) if package_id else None
    saved = await cursor.load()
    if saved is not None:
        next_seq = saved + 1
    elif start is not None:
        next_seq = start
    else:
        next_seq = await client.latest_checkpoint() + 1
    failures = 0
    endpoint = client.preferred_endpoint
    while True:
        queue: asyncio.Queue[v2.Checkpoint | BaseException] = asyncio.Queue(maxsize=256)
        reader = asyncio.create_task(_read_stream(client, endpoint, queue))
        try:
            # Backfill what is already committed, then follow the stream (filling any gap).
            tip = await client.latest_checkpoint()
            while next_seq <= tip:
                async for event in _deliver(client, await _fetch(client, next_seq), package):
                    yield event
                await cursor.save(next_seq)
                next_seq += 1
                failures = 0
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                seq = int(item.sequence_number or 0)
                if seq < next_seq:
                    continue  # already delivered by the backfill
                while next_seq < seq:  # a gap: the stream began later than our cursor
                    async for event in _deliver(client, await _fetch(client, next_seq), package):
                        yield event
                    await cursor.save(next_seq)
                    next_seq += 1
                async for event in _deliver(client, item, package):
                    yield event
                await cursor.save(seq)
                next_seq = seq + 1
                failures = 0
        except _RECONNECT as exc:
            if isinstance(exc, GRPCError) and exc.status not in (*RETRYABLE, Status.CANCELLED):
                raise ChainError(
                    f"checkpoint subscription: {exc.status.name}: {exc.message or ''}",
                    reason="subscription_failed",
                ) from None
            failures += 1
            delay = jitter(min(BACKOFF_CAP, BACKOFF_START * 2 ** min(failures, 10)))
            endpoint = (endpoint + 1) % len(client.endpoints)
            log.info(
                "checkpoint subscription reconnecting",
                after=exc.__class__.__name__,
                next_checkpoint=next_seq,
                delay=round(delay, 3),
            )
            await asyncio.sleep(delay)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


async def _deliver(
    client: CheckpointSource, cp: v2.Checkpoint, package: str | None
) -> AsyncIterator[EventData]:
    del client
    for event in checkpoint_events(cp, package):
        yield event


async def _fetch(client: CheckpointSource, seq: int) -> v2.Checkpoint:
    cp = await client.get_checkpoint(seq)
    if cp is None:
        raise ChainError(
            f"checkpoint {seq} is not available (pruned?): events would be lost",
            reason="checkpoint_pruned",
        )
    return cp


async def _read_stream(
    client: CheckpointSource,
    endpoint: int,
    queue: asyncio.Queue[v2.Checkpoint | BaseException],
) -> None:
    """Pump SubscribeCheckpoints into `queue`; an error (or the end) is queued too."""
    try:
        async for checkpoint in client.stream_checkpoints(endpoint):
            await queue.put(checkpoint)
        await queue.put(ConnectionResetError("checkpoint stream ended"))
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        await queue.put(exc)


__all__ = ["CursorStore", "FileCursorStore", "MemoryCursorStore", "subscribe"]
