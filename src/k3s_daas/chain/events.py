"""Event subscription over checkpoints with a persisted cursor (resume without loss).

Sui gRPC v2 has no event query: events are read from checkpoints. `subscribe` follows every
checkpoint after the persisted cursor (`chain.follow.follow_checkpoints`) and hands out each
checkpoint's events in order. Guarantee (docs/chain.md "subscription"):

- checkpoints are handed out in strictly increasing order, none skipped, none twice per run;
- the cursor is saved after the consumer has taken the LAST event of a checkpoint (i.e. when it
  asks for the next one), so after a crash or disconnect the consumer sees at most the events of
  one partly-consumed checkpoint again: at-least-once, and exactly-once for a consumer that
  records `EventData.key` = (tx digest, event index) idempotently;
- the transport is `chain.follow`: the checkpoint stream when the node serves it, polling
  GetCheckpoint by number when it answers UNIMPLEMENTED, every gap filled by number (never
  skipped), reconnects with capped exponential backoff rotating across the client's endpoints.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.convert import checkpoint_events
from k3s_daas.chain.errors import ChainError
from k3s_daas.chain.follow import FollowObserver, FollowSettings, follow_checkpoints
from k3s_daas.chain.keys import normalize_address
from k3s_daas.chain.reader import CheckpointSource
from k3s_daas.chain.records import EventData


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
    follow: FollowSettings | None = None,
    observer: FollowObserver | None = None,
) -> AsyncIterator[EventData]:
    """Yield events of every checkpoint after the cursor (see the module docstring).

    With no saved cursor, delivery starts at checkpoint `start`, or after the current tip when
    `start` is None (only new events). `follow` and `observer` tune and watch the transport
    (stream or polling, gaps): `chain.follow`.
    """
    package = normalize_address(package_id) if package_id else None
    saved = await cursor.load()
    if saved is not None:
        next_seq = saved + 1
    elif start is not None:
        next_seq = start
    else:
        next_seq = await client.latest_checkpoint() + 1
    async for checkpoint in follow_checkpoints(client, next_seq, follow, observer):
        async for event in _deliver(client, checkpoint, package):
            yield event
        await cursor.save(int(checkpoint.sequence_number or 0))


async def _deliver(
    client: CheckpointSource, cp: v2.Checkpoint, package: str | None
) -> AsyncIterator[EventData]:
    del client
    for event in checkpoint_events(cp, package):
        yield event


__all__ = ["CursorStore", "FileCursorStore", "MemoryCursorStore", "subscribe"]
