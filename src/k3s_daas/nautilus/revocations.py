"""The revoked set: stakes and tokens the chain revoked, durable in the Store every replica follows.

A chain revocation is final (a StakeRecord never returns to active; a revoked SealToken is
deleted), so once any replica has seen one it is recorded for good under `/revoked/stake/<id>`
or `/revoked/token/<id>`, and every replica refuses every answer it would give for that stake or
token, whether it came from its own cache, the shared Redis cache or a lagging full node: one
dict lookup per answer. Records are written by whichever replica first sees the revocation (its
watcher, or its validator reading a non-active stake), created once (compare-and-set), and
loaded and followed by every replica (a store watch, like the registry). A rotation is kept as
`/revoked/secret/<token id>`: every secret of that token confirmed before its time is refused.

Writes are retried in the background until the store takes them; the watcher's cursor is saved
only once the records of the checkpoints it covers are durable (`flush`), so a replica resuming
from that cursor finds every revocation it skips in this set. See docs/nautilus.md
"Revocation invariant" for the whole argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from k3s_daas.log import get_logger
from k3s_daas.nautilus.registry import KeyValueStore
from k3s_daas.nautilus.store.base import Entry, WatchEvent
from k3s_daas.retry import Backoff, Retry
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.protocol import Reason

log = get_logger(__name__)

PREFIX: Final = "/revoked/"
#: What a record names: a StakeRecord, a SealToken, or a SealToken's earlier secrets (rotation).
Kind = Literal["stake", "token", "secret"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
SKEW_MARGIN_S: Final = 2.0  # replicas' wall clocks may differ this much (rotation times)
#: Pauses between failed writes or watches (jittered, the one backoff of the product).
RETRY_BACKOFF: Final = Backoff(first=0.2, cap=5.0)

#: Told of every record learned from the store (kind, object id): the validator purges its cache.
Listener = Callable[[Kind, str], None]


class Revoked(BaseModel):
    """One record: why, what showed it (an event name or `chain_read`), and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Reason
    source: str
    checkpoint: int | None = Field(default=None, description="the event's checkpoint")
    at: float = Field(description="wall time the first replica recorded it")


class Revocations:
    """The set in memory (O(1) checks), its pending writes, and its follower of the Store."""

    def __init__(
        self, store: KeyValueStore | None = None, *, clock: Callable[[], float] = time.time,
        on_failure: Callable[[], None] | None = None,
    ):  # fmt: skip
        self.store = store
        self.on_failure = on_failure  # a record not yet durable (the metric alerts watch)
        self._clock = clock
        self._records: dict[Kind, dict[str, Revoked]] = {kind: {} for kind in KINDS}
        self._pending: dict[str, Revoked] = {}  # store key -> record not yet durable
        self._flushing = asyncio.Lock()
        self._dirty = asyncio.Event()
        self.listeners: list[Listener] = []
        self.following = asyncio.Event()  # set once the store is watched and caught up

    def __len__(self) -> int:
        return sum(len(records) for records in self._records.values())

    def counts(self) -> dict[str, int]:
        return {kind: len(records) for kind, records in self._records.items()}

    @property
    def pending(self) -> int:
        """Records this replica holds that the store does not have yet."""
        return len(self._pending)

    # -- checks ----------------------------------------------------------------------------------
    def refused(self, claims: Claims) -> Reason | None:
        """Why an answer with these claims must not be given (None: nothing revoked)."""
        stake = self._records["stake"].get(claims.stake_record_id.lower())
        if stake is not None:
            return stake.reason
        token = self._records["token"].get(claims.token_id.lower())
        return token.reason if token is not None else None

    def secret_replaced(self, token_id: str, confirmed_at: float) -> bool:
        """Whether an answer for `token_id` confirmed at wall time `confirmed_at` predates a
        rotation (its secret may be the old one): then it is not served from a cache."""
        rotated = self._records["secret"].get(token_id.lower())
        return rotated is not None and confirmed_at <= rotated.at + SKEW_MARGIN_S

    # -- recording -------------------------------------------------------------------------------
    def add(
        self, kind: Kind, object_id: str, reason: Reason, *, source: str,
        checkpoint: int | None = None,
    ) -> bool:  # fmt: skip
        """Record a revocation this replica saw (in effect at once; durable once flushed).
        False when it was already known (a replayed event)."""
        object_id = object_id.lower()
        known = self._records[kind].get(object_id)
        if known is not None and (kind != "secret" or (known.checkpoint or 0) >= (checkpoint or 0)):
            return False  # a rotation is new when its checkpoint is; the others are final
        record = Revoked(reason=reason, source=source, checkpoint=checkpoint, at=self._clock())
        self._records[kind][object_id] = record
        if self.store is not None:
            self._pending[PREFIX + kind + "/" + object_id] = record
            self._dirty.set()
        return True

    async def flush(self) -> bool:
        """Write every pending record; True when all that were pending on entry are durable."""
        store = self.store
        if store is None:
            return True
        async with self._flushing:
            for key, record in list(self._pending.items()):
                value = record.model_dump_json().encode()
                try:
                    if key.startswith(PREFIX + "secret/"):
                        await store.put(key, value)  # the latest rotation wins
                    else:
                        await store.compare_and_set(key, None, value)  # the first record stays
                except Exception as exc:  # the store is unavailable: keep it pending, retry
                    log.warning("revocation not yet durable", key=key, error=type(exc).__name__)
                    if self.on_failure is not None:
                        self.on_failure()
                    return False
                if self._pending.get(key) is record:
                    del self._pending[key]
        return True

    # -- following the store ---------------------------------------------------------------------
    async def load(self) -> int:
        """Read every record (at start, before serving); returns how many were new."""
        if self.store is None:
            return 0
        new = 0
        for key, value in await self.store.range(PREFIX):
            new += self.apply(WatchEvent("put", key, Entry(value, 0)))
        return new

    def apply(self, event: WatchEvent) -> bool:
        """One store event under `/revoked/`; True when it was news to this replica."""
        if event.kind != "put" or event.entry is None:
            return False  # records are never deleted
        name, _, object_id = event.key.removeprefix(PREFIX).partition("/")
        kind = next((k for k in KINDS if k == name), None)
        if kind is None or not object_id:
            log.error("unknown revocation record", key=event.key)
            return False
        try:
            record = Revoked.model_validate_json(event.entry.value)
        except ValueError:
            log.error("unreadable revocation record", key=event.key)
            return False
        known = self._records[kind].get(object_id)
        if known is not None and known.at >= record.at:
            return False
        self._records[kind][object_id] = record
        for listener in self.listeners:
            listener(kind, object_id)
        return True

    async def run(self) -> None:
        """Follow other replicas' records and keep ours flushed (until cancelled)."""
        flusher = asyncio.create_task(self._keep_flushed())
        try:
            await self._follow()
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _follow(self) -> None:
        if self.store is None:
            self.following.set()
            await asyncio.Event().wait()
        assert self.store is not None
        retry = Retry(RETRY_BACKOFF)
        while True:
            try:
                async with self.store.watch(PREFIX) as events:
                    await self.load()  # what was written before the watch existed
                    self.following.set()
                    retry.reset()
                    async for event in events:
                        self.apply(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is briefly unavailable: watch again
                log.warning("revocations follow restarting", error=type(exc).__name__)
            await retry.wait()

    async def _keep_flushed(self) -> None:
        retry = Retry(RETRY_BACKOFF)
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            while not await self.flush():
                await retry.wait()
            retry.reset()
