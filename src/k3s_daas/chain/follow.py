"""Follow checkpoints one by one from a sequence number, whatever the node serves.

Sui checkpoint sequence numbers are contiguous, so `follow_checkpoints` hands out `first`,
`first + 1`, ... each exactly once and never skips one (docs/chain.md "Following checkpoints"):

- **stream**: SubscribeCheckpoints on one endpoint. What is committed when it opens is read by
  number first (catch-up); a frame already handed out (a repeat, or one the catch-up read) is
  dropped; a frame ahead of the next number means the stream skipped some (a dropped frame, a
  reconnect): each missing checkpoint is read by number, in order, before the frame (gap).
- **poll**: when an endpoint answers UNIMPLEMENTED (a full node without the subscription
  service), its stream is not tried again for `stream_retry` seconds; another endpoint's stream
  is tried at once, and with none left, GetCheckpoint is polled by number (with the client's read
  failover). Once an endpoint's `stream_retry` is over, its stream is probed again; the mode
  reads "stream" again once that stream delivers a frame.
- a number beyond the node's latest checkpoint is "not yet": wait `poll_interval` and ask again;
  a number below its lowest available one is pruned: `ChainError(reason="checkpoint_pruned")`,
  never skipped. A stream or read failure reconnects with capped, jittered backoff, rotating
  across the endpoints, and resumes at the next number.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from grpclib import GRPCError
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.errors import ChainError, ChainUnavailable
from k3s_daas.chain.reader import CheckpointSource
from k3s_daas.chain.transport import RETRYABLE, TRANSPORT_ERRORS
from k3s_daas.log import get_logger
from k3s_daas.retry import Backoff, Retry

log = get_logger(__name__)

FollowMode = Literal["stream", "poll"]
FillCause = Literal["catch_up", "gap"]
FOLLOW_MODES: Final[tuple[FollowMode, ...]] = ("stream", "poll")
_RECONNECT: tuple[type[BaseException], ...] = (GRPCError, ChainUnavailable, *TRANSPORT_ERRORS)
_QUEUE = 256


@dataclass(frozen=True)
class FollowSettings:
    """How often to poll at the head, when to retry a missing stream, how to back off."""

    poll_interval: float = 0.5
    stream_retry: float = 60.0
    backoff_start: float = 0.1
    backoff_cap: float = 5.0
    missing_retries: int = 10  # NOT_FOUND for a checkpoint the node is past: asks before failing


class FollowObserver(Protocol):
    """What a consumer may export as metrics: the mode, and checkpoints read by number."""

    def on_mode(self, mode: FollowMode) -> None: ...

    def on_filled(self, sequence_number: int, cause: FillCause) -> None: ...


class _Quiet:
    def on_mode(self, mode: FollowMode) -> None:
        del mode

    def on_filled(self, sequence_number: int, cause: FillCause) -> None:
        del sequence_number, cause


async def follow_checkpoints(
    source: CheckpointSource,
    first: int,
    settings: FollowSettings | None = None,
    observer: FollowObserver | None = None,
) -> AsyncIterator[v2.Checkpoint]:
    """Checkpoints `first`, `first + 1`, ... in order, each once (see the module docstring)."""
    async for checkpoint in _Follower(source, first, settings or FollowSettings(), observer).run():
        yield checkpoint


class _Follower:
    """The state of one follow: the next number, the endpoint to stream from, backoff."""

    def __init__(
        self,
        source: CheckpointSource,
        first: int,
        settings: FollowSettings,
        observer: FollowObserver | None,
    ) -> None:
        self.source = source
        self.next_seq = first
        self.settings = settings
        self.observer = observer or _Quiet()
        self.endpoint = source.preferred_endpoint
        self.no_stream_until: dict[int, float] = {}  # endpoint -> monotonic time
        self.retry = Retry(Backoff(settings.backoff_start, settings.backoff_cap))
        self.mode: FollowMode | None = None

    async def run(self) -> AsyncIterator[v2.Checkpoint]:
        while True:
            endpoint = self._stream_endpoint()
            try:
                if endpoint is None:
                    self._set_mode("poll")
                    async for checkpoint in self._poll():
                        yield checkpoint
                else:
                    if self.mode is None:
                        self._set_mode("stream")
                    async for checkpoint in self._stream(endpoint):
                        yield checkpoint
            except _RECONNECT as exc:
                if isinstance(exc, GRPCError) and exc.status == Status.UNIMPLEMENTED:
                    self._no_stream(endpoint, exc)
                    continue
                if isinstance(exc, GRPCError) and exc.status not in (*RETRYABLE, Status.CANCELLED):
                    raise ChainError(
                        f"checkpoint subscription: {exc.status.name}: {exc.message or ''}",
                        reason="subscription_failed",
                    ) from None
                await self._backoff(exc)

    # -- the two modes ---------------------------------------------------------------------------
    async def _stream(self, endpoint: int) -> AsyncIterator[v2.Checkpoint]:
        """Catch up to the tip by number, then follow the stream, filling every gap in it."""
        queue: asyncio.Queue[v2.Checkpoint | BaseException] = asyncio.Queue(maxsize=_QUEUE)
        reader = asyncio.create_task(_pump(self.source, endpoint, queue))
        try:
            tip = await self.source.latest_checkpoint()
            async for checkpoint in self._read_through(tip, "catch_up"):
                yield checkpoint
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                self._set_mode("stream")  # after a probe from poll mode: once a frame came
                seq = _number(item, None)
                if seq < self.next_seq:
                    continue  # handed out already: a repeated frame, or read during catch-up
                async for checkpoint in self._read_through(seq - 1, "gap"):
                    yield checkpoint
                self._advance(seq)
                yield item
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _poll(self) -> AsyncIterator[v2.Checkpoint]:
        """GetCheckpoint by number up to the latest; at the head, wait `poll_interval`. Returns
        (to probe a stream, whose catch-up reads the rest by number) once an endpoint's
        `stream_retry` is over."""
        retry_at = min(self.no_stream_until.values(), default=math.inf)
        while time.monotonic() < retry_at:
            lowest, latest = await self.source.checkpoint_bounds()
            self._check_not_pruned(self.next_seq, lowest)
            if self.next_seq > latest:
                await asyncio.sleep(self.settings.poll_interval)
                continue
            async for checkpoint in self._read_through(latest, None):
                yield checkpoint

    # -- reading by number -----------------------------------------------------------------------
    async def _read_through(
        self, last: int, cause: FillCause | None
    ) -> AsyncIterator[v2.Checkpoint]:
        """Every checkpoint from the next number through `last`, read by number, in order."""
        while self.next_seq <= last:
            seq = self.next_seq
            checkpoint = await self._fetch(seq)
            self._advance(seq)
            if cause is not None:
                self.observer.on_filled(seq, cause)
            yield checkpoint

    async def _fetch(self, seq: int) -> v2.Checkpoint:
        """Checkpoint `seq`, which the caller knows is committed. NOT_FOUND: pruned if below the
        lowest available one (an error), else not there yet on this endpoint (wait, ask again)."""
        for _ in range(self.settings.missing_retries + 1):
            checkpoint = await self.source.get_checkpoint(seq)
            if checkpoint is not None:
                _number(checkpoint, seq)
                return checkpoint
            lowest, _latest = await self.source.checkpoint_bounds()
            self._check_not_pruned(seq, lowest)
            await asyncio.sleep(self.settings.poll_interval)
        raise ChainUnavailable(f"checkpoint {seq}: NOT_FOUND although the chain is past it")

    def _check_not_pruned(self, seq: int, lowest: int) -> None:
        if seq < lowest:
            raise ChainError(
                f"checkpoint {seq} is pruned (lowest available {lowest}): its events would be "
                "lost; resume from a node that keeps it, or move the cursor on deliberately",
                reason="checkpoint_pruned",
            )

    # -- state -----------------------------------------------------------------------------------
    def _advance(self, seq: int) -> None:
        self.next_seq = seq + 1
        self.retry.reset()

    def _set_mode(self, mode: FollowMode) -> None:
        if mode != self.mode:
            self.mode = mode
            self.observer.on_mode(mode)

    def _stream_endpoint(self) -> int | None:
        """The first endpoint, from the current one on, whose stream may be tried now."""
        now = time.monotonic()
        count = len(self.source.endpoints)
        for step in range(count):
            endpoint = (self.endpoint + step) % count
            if self.no_stream_until.get(endpoint, 0.0) <= now:
                return endpoint
        return None

    def _no_stream(self, endpoint: int | None, exc: GRPCError) -> None:
        if endpoint is None:  # UNIMPLEMENTED from a read: nothing to fall back to
            raise ChainError(
                f"checkpoint read: UNIMPLEMENTED: {exc.message or ''}", reason="subscription_failed"
            ) from None
        self.no_stream_until[endpoint] = time.monotonic() + self.settings.stream_retry
        self.endpoint = (endpoint + 1) % len(self.source.endpoints)
        log.info(
            "checkpoint stream not served: polling GetCheckpoint",
            endpoint=str(self.source.endpoints[endpoint]),
            message=exc.message or "",
            next_checkpoint=self.next_seq,
            retry_stream_s=self.settings.stream_retry,
        )

    async def _backoff(self, exc: BaseException) -> None:
        delay = self.retry.next_delay()
        self.endpoint = (self.endpoint + 1) % len(self.source.endpoints)
        log.info(
            "checkpoint follow reconnecting",
            mode=self.mode,
            after=exc.__class__.__name__,
            next_checkpoint=self.next_seq,
            delay=round(delay, 3),
        )
        await asyncio.sleep(delay)


def _number(checkpoint: v2.Checkpoint, expected: int | None) -> int:
    """The checkpoint's sequence number (set to `expected` when the answer left it out)."""
    if checkpoint.sequence_number is None:
        if expected is None:
            raise ChainError("checkpoint frame without a sequence number", reason="bad_answer")
        checkpoint.sequence_number = expected
    seq = int(checkpoint.sequence_number)
    if expected is not None and seq != expected:
        raise ChainError(f"asked for checkpoint {expected}, got {seq}", reason="bad_answer")
    return seq


async def _pump(
    source: CheckpointSource, endpoint: int, queue: asyncio.Queue[v2.Checkpoint | BaseException]
) -> None:
    """SubscribeCheckpoints into `queue`; an error (or the end of the stream) is queued too."""
    try:
        async for checkpoint in source.stream_checkpoints(endpoint):
            await queue.put(checkpoint)
        await queue.put(ConnectionResetError("checkpoint stream ended"))
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        await queue.put(exc)


__all__ = [
    "FOLLOW_MODES",
    "FillCause",
    "FollowMode",
    "FollowObserver",
    "FollowSettings",
    "follow_checkpoints",
]
