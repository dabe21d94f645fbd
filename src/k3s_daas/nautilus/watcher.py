"""The chain watcher: revocation at the speed of a checkpoint, not of a TTL or a heartbeat.

It follows our package's events from a cursor kept in the Store (so a restarted master resumes
where it stopped, without loss). On `StakeSlashed`, `UnstakeRequested`, `StakeWithdrawn` and
`SealTokenRevoked` it purges the validator's cache and marks the affected workers `revoked` with
the reason; on `SealTokenRotated` it purges the cache only (the owner rotating its own token must
not lose its node: the old secret stops validating, the registration stays).
"""

from __future__ import annotations

import asyncio
import contextlib
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
from k3s_daas.nautilus.validator import Validator
from k3s_daas.retry import Backoff, Retry
from k3s_daas.seal.protocol import Reason

log = get_logger(__name__)

CURSOR_KEY: Final = "/watcher/cursor"
#: Between restarts of the subscription after a chain error (jittered: replicas spread out).
RESTART_BACKOFF: Final = Backoff(first=0.2, cap=5.0)
STAKE_EVENTS: Final = {
    "StakeSlashed": Reason.STAKE_SLASHED,
    "UnstakeRequested": Reason.STAKE_WITHDRAWING,
    "StakeWithdrawn": Reason.STAKE_WITHDRAWING,
}


class StoreCursor:
    """The subscription cursor (last fully handled checkpoint) kept in the master's Store."""

    def __init__(self, store: KeyValueStore) -> None:
        self.store = store
        self.checkpoint: int | None = None

    async def load(self) -> int | None:
        raw = await self.store.get(CURSOR_KEY)
        self.checkpoint = int(raw) if raw else None
        return self.checkpoint

    async def save(self, checkpoint: int) -> None:
        await self.store.put(CURSOR_KEY, str(checkpoint).encode())
        self.checkpoint = checkpoint


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
        self.cursor = StoreCursor(store)
        self.handled = 0
        self.mode: FollowMode | None = None

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
            except ChainError as exc:
                self.metrics.watcher_restarts.labels(exc.reason).inc()
                log.warning("watcher restarting", reason=exc.reason, error=exc.message[:200])
            await retry.wait()

    async def handle(self, event: EventData) -> list[str]:
        """Apply one event; returns the nodes it revoked."""
        self.handled += 1
        self.metrics.watcher_checkpoint.set(event.checkpoint)
        fields = event.fields  # decoded from the event's BCS: ids are 0x + 64 lower-case hex
        if event.name in STAKE_EVENTS:
            stake_id = str(fields.get("stake_id", ""))
            purged = self.validator.purge_stake(stake_id)
            await self.validator.shared.forget_stake(stake_id)
            revoked = await self.registry.revoke_where(
                stake_id=stake_id, reason=STAKE_EVENTS[event.name]
            )
            log.info("stake event", kind=event.name, stake=stake_id, purged=purged, nodes=revoked)
            return revoked
        if event.name == "SealTokenCreated":  # a node lagging the chain may have said not_found
            self.validator.absent.forget(str(fields.get("token_id", "")))
            return []
        if event.name in ("SealTokenRevoked", "SealTokenRotated"):
            token_id = str(fields.get("token_id", ""))
            purged = self.validator.purge_token(token_id)
            await self.validator.shared.forget_token(token_id)
            nodes: list[str] = []
            if event.name == "SealTokenRevoked":
                nodes = await self.registry.revoke_where(
                    token_id=token_id, reason=Reason.TOKEN_REVOKED
                )
            log.info("token event", kind=event.name, token=token_id, purged=purged, nodes=nodes)
            return nodes
        return []

    async def track_lag(self, interval: float = 1.0) -> None:
        """Export how many checkpoints the watcher is behind the chain's tip."""
        while True:
            with contextlib.suppress(ChainError, OSError):
                tip = await self.client.latest_checkpoint()
                done = self.cursor.checkpoint
                self.metrics.watcher_lag.set(max(0, tip - done) if done is not None else 0)
            await asyncio.sleep(interval)
