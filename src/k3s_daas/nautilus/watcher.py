"""The chain watcher: revocation at the speed of a checkpoint, not of a TTL or a heartbeat.

It follows our package's events from a cursor kept in the Store (so a restarted master resumes
where the replicas stopped). On `StakeSlashed`, `UnstakeRequested`, `StakeWithdrawn` and
`SealTokenRevoked` it enters the stake or token in the validator's revoked set (in effect at once,
and recorded in the Store for every replica: nautilus/revocations.py), purges the caches and marks
the affected workers `revoked` with the reason; on `SealTokenRotated` it records that the token's
earlier secrets are revoked and purges (the owner rotating its own token must not lose its node).

The cursor is saved in the background, and only once every revocation of the checkpoints it
covers is durable in the Store: a replica resuming from it finds each revocation it skips in the
revoked set. A running watcher resumes from its own position, never from a newer shared one, and
survives store outages (applying events locally, saving the cursor once the store is back).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from k3s_daas.chain import (
    FOLLOW_MODES,
    ChainError,
    CheckpointSource,
    EventData,
    FillCause,
    FollowMode,
    FollowSettings,
    subscribe,
)
from k3s_daas.log import get_logger
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import KeyValueStore, Registry
from k3s_daas.nautilus.revocations import RETRY_BACKOFF, Kind, Revocations
from k3s_daas.nautilus.store.base import StoreError
from k3s_daas.nautilus.validator import Validator
from k3s_daas.retry import Backoff, Retry
from k3s_daas.seal.protocol import Reason

log = get_logger(__name__)

CURSOR_KEY: Final = "/watcher/cursor"
#: Tips read but not yet reached by the cursor, remembered for `caught_up`.
TIPS_KEPT: Final = 64
#: Between restarts of the subscription after a chain error (jittered: replicas spread out).
RESTART_BACKOFF: Final = Backoff(first=0.2, cap=5.0)
STAKE_EVENTS: Final = {
    "StakeSlashed": Reason.STAKE_SLASHED,
    "UnstakeRequested": Reason.STAKE_WITHDRAWING,
    "StakeWithdrawn": Reason.STAKE_WITHDRAWING,
}


class StoreCursor:
    """The subscription cursor (last fully handled checkpoint), shared by replicas in the Store
    and written there only after the revocations it covers (see the module docstring)."""

    def __init__(self, store: KeyValueStore, revocations: Revocations | None = None) -> None:
        self.store = store
        self.revocations = revocations if revocations is not None else Revocations()
        self.checkpoint: int | None = None  # this process's position (handed out, handled)
        self.saved: int | None = None  # what the Store holds, as far as this process knows
        self._moved = asyncio.Event()
        #: Told each checkpoint whose events are all applied (the master's freshness bound).
        self.on_processed: Callable[[int], None] | None = None

    async def load(self) -> int | None:
        if self.checkpoint is not None:  # resubscribing: go on from here, skip nothing
            return self.checkpoint
        raw = await self.store.get(CURSOR_KEY)
        self.checkpoint = self.saved = int(raw) if raw else None
        return self.checkpoint

    async def save(self, checkpoint: int) -> None:
        """Every event of `checkpoint` was handled: persisted soon (`keep_saved`)."""
        self.checkpoint = checkpoint
        self._moved.set()
        if self.on_processed is not None:
            self.on_processed(checkpoint)

    async def persist(self) -> bool:
        """Write the position once the revocations up to it are durable; False: not yet."""
        target = self.checkpoint
        if target is None or target == self.saved:
            return True
        if not await self.revocations.flush():  # those of checkpoints <= target among them
            return False
        try:
            await self.store.put(CURSOR_KEY, str(target).encode())
        except Exception as exc:  # the store is unavailable: the next attempt writes it
            log.warning("watcher cursor not saved", error=type(exc).__name__)
            return False
        self.saved = target
        return True

    async def keep_saved(self) -> None:
        """Persist the position as it moves, retrying while the store fails (until cancelled)."""
        retry = Retry(RETRY_BACKOFF)
        while True:
            await self._moved.wait()
            self._moved.clear()
            while not await self.persist():
                await retry.wait()
            retry.reset()


class ChainWatcher:
    """Follows checkpoints and applies revocations; `run()` never returns until cancelled."""

    def __init__(
        self,
        client: CheckpointSource,
        package_id: str,
        validator: Validator,
        registry: Registry,
        store: KeyValueStore,
        metrics: Metrics,
        follow: FollowSettings | None = None,
    ) -> None:
        self.client = client
        self.follow = follow
        self.package_id = package_id
        self.validator = validator
        self.registry = registry
        self.metrics = metrics
        self.cursor = StoreCursor(store, validator.revoked)
        self.handled = 0
        self.mode: FollowMode | None = None
        self.tip: int | None = None  # the chain's last checkpoint read by `track_lag`
        self.tip_at: float | None = None  # when (monotonic)
        self.lag = 0  # checkpoints behind `tip`

    def on_mode(self, mode: FollowMode) -> None:
        """`chain.follow` switched between the checkpoint stream and polling."""
        self.mode = mode
        for each in FOLLOW_MODES:
            self.metrics.watcher_mode.labels(each).set(1 if each == mode else 0)

    def on_filled(self, sequence_number: int, cause: FillCause) -> None:
        """A checkpoint the stream did not deliver was read by number."""
        del sequence_number
        self.metrics.watcher_filled.labels(cause).inc()

    async def run(self) -> None:
        saver = asyncio.create_task(self.cursor.keep_saved())
        try:
            await self._follow()
        finally:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver

    async def _follow(self) -> None:
        retry = Retry(RESTART_BACKOFF)
        while True:
            try:
                async for event in subscribe(
                    self.client,
                    cursor=self.cursor,
                    package_id=self.package_id,
                    follow=self.follow,
                    observer=self,
                ):
                    try:
                        await self.handle(event)
                    except ChainError:
                        raise
                    except Exception as exc:  # one bad event must not stop revocations
                        log.error("event not applied", kind=event.name, error=repr(exc)[:200])
                    retry.reset()
            except (ChainError, StoreError) as exc:  # a store error: reading the first cursor
                self.metrics.watcher_restarts.labels(exc.reason).inc()
                log.warning("watcher restarting", reason=exc.reason, error=exc.message[:200])
            await retry.wait()

    async def handle(self, event: EventData) -> list[str]:
        """Apply one event; returns the nodes it revoked."""
        self.handled += 1
        self.metrics.watcher_checkpoint.set(event.checkpoint)
        fields = event.fields  # decoded from the event's BCS: ids are 0x + 64 lower-case hex
        if event.name in STAKE_EVENTS:
            stake_id, reason = str(fields.get("stake_id", "")), STAKE_EVENTS[event.name]
            purged = self.validator.revoke(
                "stake", stake_id, reason, source=event.name, checkpoint=event.checkpoint
            )  # refused from here on; durable for every replica before the cursor moves past
            await self.validator.shared.forget_stake(stake_id)
            revoked = await self.registry.revoke_where(stake_id=stake_id, reason=reason)
            log.info("stake event", kind=event.name, stake=stake_id, purged=purged, nodes=revoked)
            return revoked
        if event.name == "SealTokenCreated":  # a node lagging the chain may have said not_found
            self.validator.absent.forget(str(fields.get("token_id", "")))
            return []
        if event.name in ("SealTokenRevoked", "SealTokenRotated"):
            token_id = str(fields.get("token_id", ""))
            revoked_token = event.name == "SealTokenRevoked"
            kind: Kind = "token" if revoked_token else "secret"
            reason = Reason.TOKEN_REVOKED if revoked_token else Reason.BAD_SECRET
            purged = self.validator.revoke(
                kind, token_id, reason, source=event.name, checkpoint=event.checkpoint
            )
            await self.validator.shared.forget_token(token_id)
            nodes: list[str] = []
            if revoked_token:
                nodes = await self.registry.revoke_where(
                    token_id=token_id, reason=Reason.TOKEN_REVOKED
                )
            log.info("token event", kind=event.name, token=token_id, purged=purged, nodes=nodes)
            return nodes
        return []

    async def track_lag(self, interval: float = 1.0, staleness: float = 60.0) -> None:
        """Read the chain's tip every `interval`: how many checkpoints the watcher is behind,
        and when the chain last answered (`/readyz`, `nautilus_chain_up`, computed when scraped);
        and tell the validator when the cursor has caught up with a tip it read (registered
        workers' heartbeats skip chain reads only while that is recent:
        `Validator.validate_admitted`)."""
        tips: deque[tuple[int, float]] = deque(maxlen=TIPS_KEPT)  # (tip, when it was read)

        def up() -> float:
            age = self.chain_age()
            return 1.0 if age is not None and age <= staleness else 0.0

        self.metrics.chain_up.set_function(up)
        while True:
            with contextlib.suppress(ChainError, OSError):
                read_at = self.validator.now()
                tip = await self.client.latest_checkpoint()
                self.tip, self.tip_at = tip, time.monotonic()
                tips.append((tip, read_at))
                self.caught_up(tips)
                done = self.cursor.checkpoint
                self.lag = max(0, tip - done) if done is not None else 0
                self.metrics.watcher_lag.set(self.lag)
                self.metrics.chain_tip.set(tip)
            await asyncio.sleep(interval)

    def caught_up(self, tips: deque[tuple[int, float]]) -> None:
        """Tell the validator of the latest tip read that the cursor has reached since."""
        done = self.cursor.checkpoint
        while tips and done is not None and tips[0][0] <= done:
            self.validator.note_caught_up(tips.popleft()[1])

    def chain_age(self) -> float | None:
        """Seconds since the chain last answered a tip read (None: not yet)."""
        return None if self.tip_at is None else time.monotonic() - self.tip_at
