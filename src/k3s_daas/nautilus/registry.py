"""The worker registry: one sealed record per node in the Store under `/workers/<node_id>`.

Lifecycle (`seal.protocol.NodeStatus`): registered -> ready (first heartbeat) -> not_ready (no
heartbeat for `missed` intervals) -> evicted (none for `evict_after` intervals); revoked (slash,
unstake, revocation, expiry) and left (graceful leave) are terminal. A node whose record is
terminal may register again; a live record owned by another address may not (`node_conflict`).

Every change gets the next registry revision, which is the Kubernetes resourceVersion of the
node view (`watch`); the records are kept in memory too (write-through) so reads never touch the
store. The registry also implements kube's `NodeSource` protocol.

Replicas sharing a store (etcd) follow each other: `follow()` watches `/workers/` and applies
records written by another replica (ordered by the store's revision, so replicas' clocks do not
matter; our own writes are recognised by a hash of their bytes and skipped), so every replica's
kubectl view, admin view and heartbeat checks agree.

With `liveness` (nautilus.liveness), a routine heartbeat — a ready node this replica owns — is
answered from memory and flushed in batches; every state change that matters (register, leave,
revoke, not_ready, evicted, ready, a node moving to this replica) is written before the answer.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from k3s_daas.kube.types import NodeInfo
from k3s_daas.log import get_logger
from k3s_daas.nautilus.errors import MasterError
from k3s_daas.nautilus.liveness import Liveness, NodeState
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.store.base import Entry, StoreUnavailableError, WatchEvent, WatchStream
from k3s_daas.nautilus.worker_record import WorkerRecord
from k3s_daas.retry import Backoff, Retry
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.protocol import NodeStatus, Reason

log = get_logger(__name__)

PREFIX: Final = "/workers/"
#: Changes kept for kube watches that resume from a resourceVersion (records, not copies).
HISTORY: Final = 4096
#: Between re-watches of `/workers/` while the store is unavailable.
FOLLOW_BACKOFF: Final = Backoff(first=0.2, cap=2.0)
#: How long a heartbeat waits for its node's lock (held longer: a write under it is failing).
HEARTBEAT_LOCK_WAIT: Final = 0.25


class AuditSink(Protocol):
    """Where decisions are recorded (nautilus.audit.AuditLog)."""

    async def append(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        decision: str,
        reason: str | None = None,
        token_fingerprint: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Any: ...


class KeyValueStore(Protocol):
    """The part of nautilus.store's Store the registry and the replay cache use."""

    def watch(self, prefix: str) -> WatchStream: ...

    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> Any: ...
    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool: ...
    async def range(self, prefix: str) -> Sequence[tuple[str, bytes]]: ...


#: One shared empty usage map for the (usual) heartbeat that reports none.
_NO_USAGE: Final[dict[str, float]] = {}


def _now() -> datetime:
    return datetime.now(UTC)


class Registry:
    """Worker records, write-through to the Store, with a change feed for the kube watch."""

    def __init__(
        self,
        store: KeyValueStore,
        metrics: Metrics,
        *,
        audit: AuditSink | None = None,
        on_revoked: Callable[[str, Reason], None] | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.audit = audit  # lifecycle changes are audited
        #: Told (synchronously, must not block) of every revocation: K3s mode tears the Node down.
        self.on_revoked = on_revoked
        self._records: dict[str, WorkerRecord] = {}
        #: Per-node locks, alive only while someone holds or awaits one (10,000 idle locks and
        #: their waiter deques would cost ~4 MB).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._revision = 0
        self._history: deque[tuple[str, WorkerRecord]] = deque(maxlen=HISTORY)
        self._changed = asyncio.Event()
        self._counts: dict[NodeStatus, int] = dict.fromkeys(NodeStatus, 0)
        self._own: dict[str, int] = {}  # node -> hash of the bytes we last wrote (skip our echo)
        self._seen: dict[str, int] = {}  # node -> newest store revision applied or written
        self.followed = 0  # records applied from other replicas
        #: Batched heartbeat state and replay guards (None: every heartbeat is a store write).
        self.liveness = liveness
        self.replica = liveness.replica if liveness is not None else ""
        #: A last seen older than this came from the store (another replica's flush, or ours
        #: before a restart): up to `liveness.lag` behind the heartbeat it records.
        self._started = _now()
        if liveness is not None:
            liveness.records = self._records.values
            liveness.record = self._records.get
            liveness.on_state = self._apply_liveness

    async def load(self) -> int:
        """Read every record from the store (at start); returns how many."""
        for key, value in await self.store.range(PREFIX):
            try:
                record = WorkerRecord.from_json(value)
            except ValueError:
                log.error("unreadable worker record", key=key)
                continue
            self._keep(record)
            self._revision = max(self._revision, record.revision)
        if self.liveness is not None:
            await self.liveness.load()  # the nodes' flushed state and every replica's W
        self._update_gauges()
        return len(self._records)

    # -- reads -----------------------------------------------------------------------------------
    @property
    def revision(self) -> int:
        return self._revision

    def get(self, node_id: str) -> WorkerRecord | None:
        return self._records.get(node_id)

    def all(self) -> list[WorkerRecord]:
        return sorted(self._records.values(), key=lambda r: r.node_id)

    def counts(self) -> dict[str, int]:
        """Workers per status (kept as records change: O(1) per change, never a scan)."""
        return {str(status): count for status, count in self._counts.items()}

    def guard(self, record: WorkerRecord) -> int:
        """Heartbeat timestamps (ms) at or below this are replays: the node's mark, or the W of
        the replica that owns it when higher (docs/nautilus.md, "Replay guard")."""
        if self.liveness is None:
            return record.last_timestamp
        return max(record.last_timestamp, self.liveness.guard(record.replica))

    def _keep(self, record: WorkerRecord) -> WorkerRecord | None:
        """Hold `record` as the node's current one, counts updated; returns the previous."""
        previous = self._records.get(record.node_id)
        if previous is not None:
            self._counts[previous.status] -= 1
        self._counts[record.status] += 1
        self._records[record.node_id] = record
        if self.liveness is not None and (record.replica == self.replica or (
                previous is not None and previous.replica == self.replica)):  # fmt: skip
            self.liveness.note(record.node_id)  # ours, or no longer: the next flush re-reads it
        return previous

    # -- writes ----------------------------------------------------------------------------------
    def lock(self, node_id: str) -> asyncio.Lock:
        lock = self._locks.get(node_id)
        if lock is None:
            lock = self._locks[node_id] = asyncio.Lock()
        return lock

    async def _lock_for_heartbeat(self, node_id: str) -> asyncio.Lock:
        """The node's lock, acquired (the caller releases it), waited for at most
        `HEARTBEAT_LOCK_WAIT`: a status change stuck on a failing store holds it for the store's
        whole deadline, and a heartbeat waiting that out before its own write would take two
        deadlines to be refused (503 within 1 s, not 1.4)."""
        lock = self.lock(node_id)
        if not lock.locked():  # the usual case acquires at once, without arming a timer
            await lock.acquire()
            return lock
        try:
            async with asyncio.timeout(HEARTBEAT_LOCK_WAIT):
                await lock.acquire()
        except TimeoutError:
            raise StoreUnavailableError("the node's record is still being written") from None
        return lock

    async def save(self, record: WorkerRecord, **changes: Any) -> WorkerRecord:
        """Write `record` (with `changes`) as the next revision (callers hold the node's lock)."""
        self._revision += 1
        record = record.replace(**changes, revision=self._revision, updated=_now())
        value = record.to_json()
        node = record.node_id
        self._own[node] = hash(value)  # its echo may come back before put() returns
        written = await self.store.put(PREFIX + node, value)
        if isinstance(written, int):  # the store's revision of our write: echoes skipped by it
            self._seen[node] = max(self._seen.get(node, 0), written)
            self._own.pop(node, None)
        previous = self._keep(record)
        self._publish("ADDED" if previous is None else "MODIFIED", record)
        if previous is None or previous.status != record.status:
            self._update_gauges()
        return record

    async def register(
        self, claims: Claims, token_fingerprint: str, *, now: datetime | None = None
    ) -> WorkerRecord:
        """Admit (or re-admit) `claims.node_id`; a live record of another owner is a conflict."""
        now = now or _now()
        async with self.lock(claims.node_id):
            current = self._records.get(claims.node_id)
            if current is not None and current.owner != claims.owner and current.status.is_live:
                raise MasterError(
                    f"node {claims.node_id} is registered by another staker",
                    reason=Reason.NODE_CONFLICT,
                )
            live = current if current is not None and current.status.is_live else None
            if current is not None and self.liveness is not None:
                await self.liveness.refresh(current.replica)
            record = WorkerRecord(
                replica=self.replica,
                # a new record keeps the node's guard: its old heartbeats stay refused
                last_timestamp=self.guard(current) if current is not None else 0,
                node_id=claims.node_id,
                owner=claims.owner,
                status=live.status if live is not None else NodeStatus.REGISTERED,
                tier=claims.tier.label,
                stake=claims.stake_amount,
                permissions=claims.permissions,
                token_fingerprint=token_fingerprint[:16],
                token_id=claims.token_id,
                stake_record_id=claims.stake_record_id,
                enclave_id=claims.enclave_id,
                created=live.created if live is not None else now,
                updated=now,
                last_heartbeat=live.last_heartbeat if live is not None else None,
                heartbeats=live.heartbeats if live is not None else 0,
            )
            return await self.save(record)

    async def heartbeat(
        self,
        claims: Claims,
        token_fingerprint: str,
        *,
        running_pods: int,
        resource_usage: dict[str, float],
        timestamp: int = 0,
        now: datetime | None = None,
    ) -> WorkerRecord:
        """A live heartbeat: registered/not_ready -> ready; refuses unknown or terminal nodes.

        `timestamp` (the signed one, ms) must exceed the node's guard (`guard`), checked under
        the node's lock; with `liveness` it must also be covered by this replica's stored W
        before the answer (docs/nautilus.md, "Replay guard"); 0 skips both (callers that
        checked a nonce)."""
        now = now or _now()
        current = self._records.get(claims.node_id)
        if (current is not None and self._locks.get(claims.node_id) is None
                and self._routine(current, claims, token_fingerprint, timestamp)):  # fmt: skip
            # Nobody holds or awaits the node's lock, and a routine beat awaits nothing: it is
            # atomic on the event loop as it stands, so it takes no lock (one per heartbeat).
            changes = _beat(current, claims, token_fingerprint, running_pods, resource_usage,
                            timestamp, now)  # fmt: skip
            return self._beat_in_memory(current, changes, now)
        lock = await self._lock_for_heartbeat(claims.node_id)
        try:
            current = self._records.get(claims.node_id)
            if current is None or current.status in (NodeStatus.LEFT, NodeStatus.EVICTED):
                raise MasterError(
                    f"node {claims.node_id} is not registered with this master",
                    reason=Reason.NOT_REGISTERED,
                )
            if current.owner != claims.owner:
                raise MasterError(
                    f"node {claims.node_id} is registered by another staker",
                    reason=Reason.NODE_CONFLICT,
                )
            if current.status == NodeStatus.REVOKED:
                reason = current.reason or Reason.TOKEN_REVOKED
                raise MasterError(f"node {claims.node_id} was revoked ({reason})", reason=reason,
                                  status=403)  # fmt: skip
            moving = self.liveness is not None and current.replica not in ("", self.replica)
            if moving:  # the owner's newest W from the store itself, not a watch behind it
                await self.liveness.refresh(current.replica)  # type: ignore[union-attr]
            if timestamp and timestamp <= self.guard(current):
                raise MasterError(
                    "this heartbeat is not newer than the node's last accepted one",
                    reason=Reason.REPLAYED,
                )
            if self.liveness is not None and timestamp:
                await self.liveness.lease(timestamp)  # covered by our stored W before the answer
            changes = _beat(current, claims, token_fingerprint, running_pods, resource_usage,
                            timestamp, now)  # fmt: skip
            if not self._stays_in_memory(current, token_fingerprint):
                # a state change, or the node moves here from another replica: durable now
                changes["last_timestamp"] = max(timestamp, self.guard(current))
                return await self.save(current, replica=self.replica, **changes)
            return self._beat_in_memory(current, changes, now)
        finally:
            lock.release()

    def _routine(
        self, current: WorkerRecord, claims: Claims, token_fingerprint: str, timestamp: int
    ) -> bool:
        """Whether this heartbeat passes every check of the locked path and then changes only
        memory, awaiting nothing: a ready node of this staker, owned by this replica, with the
        same token, newer than its guard, and already covered by our stored W."""
        return (
            self._stays_in_memory(current, token_fingerprint)
            and 0 < timestamp <= self.liveness.durable  # type: ignore[union-attr]
            and current.owner == claims.owner
            and timestamp > self.guard(current)
        )

    def _stays_in_memory(self, current: WorkerRecord, token_fingerprint: str) -> bool:
        """Whether an accepted heartbeat of `current` only changes memory (the next flush
        stores it): a ready node this replica owns, beating with the same token; anything else
        (a state change, a node moving here, a new token) is written durably at once."""
        return (
            self.liveness is not None
            and current.status == NodeStatus.READY
            and current.replica == self.replica
            and current.token_fingerprint == token_fingerprint[:16]
        )

    def _beat_in_memory(
        self, current: WorkerRecord, changes: dict[str, Any], now: datetime
    ) -> WorkerRecord:
        """A routine heartbeat: memory now, the store with the next flush (covered by W)."""
        self._revision += 1
        record = current.replace(**changes, revision=self._revision, updated=now)
        self._keep(record)
        self._publish("MODIFIED", record)
        self.liveness.touch(record.node_id)  # type: ignore[union-attr]  # its shard: next flush
        return record

    async def set_status(
        self,
        node_id: str,
        status: NodeStatus,
        reason: Reason | None = None,
        *,
        only_live: bool = True,
    ) -> WorkerRecord | None:
        """Move one node to `status` (revoked/left/evicted/not_ready); None if nothing changed."""
        status = NodeStatus(status)  # stored as the enum, whatever word the caller passed
        async with self.lock(node_id):
            current = self._records.get(node_id)
            if current is None or (only_live and not current.status.is_live):
                return None
            if current.status == status and current.reason == reason:
                return None
            changes: dict[str, Any] = {"status": status, "reason": reason}
            if self.replica and current.replica == self.replica and status != NodeStatus.READY:
                # we give the node up, our in-memory mark (exact) and guard folded into it
                changes |= {"replica": "", "last_timestamp": self.guard(current)}
            saved = await self.save(current.replace(**changes))
        if self.audit is not None:
            await self.audit.append(
                actor="master", action=f"worker_{status}", subject=node_id,
                decision=status, reason=reason, token_fingerprint=current.token_fingerprint,
            )  # fmt: skip
        return saved

    async def revoke_where(self, *, stake_id: str | None = None, token_id: str | None = None,
                           reason: Reason) -> list[str]:  # fmt: skip
        """Revoke every live worker backed by `stake_id` or `token_id` (chain events)."""
        targets = [
            r.node_id
            for r in self._records.values()
            if r.status.is_live
            and (
                (stake_id and r.stake_record_id == stake_id)
                or (token_id and r.token_id == token_id)
            )
        ]  # fmt: skip
        done = []
        for node_id in targets:
            if await self.set_status(node_id, NodeStatus.REVOKED, reason) is not None:
                done.append(node_id)
                self.metrics.revocations.labels(reason).inc()
                log.warning("worker revoked", node=node_id, reason=reason)
                if self.on_revoked is not None:
                    self.on_revoked(node_id, reason)
        return done

    async def sweep(
        self, interval: float, missed: int, evict_after: int, *, now: datetime | None = None
    ) -> list[tuple[str, NodeStatus]]:
        """The lifecycle tick: silent workers become not_ready, then evicted. A last seen read
        from the store (not one this process answered) gets the flush's `lag` on top."""
        now = now or _now()
        # Instants compared with each record's last sign of life: no per-record arithmetic
        # (this walks every record each tick: 10,000 at the scale the product is for).
        exact = (now - timedelta(seconds=interval * evict_after),
                 now - timedelta(seconds=interval * missed))  # fmt: skip
        lag = timedelta(seconds=self.liveness.lag if self.liveness is not None else 0.0)
        stored = (exact[0] - lag, exact[1] - lag)
        started, own = self._started, self.replica
        changes = []
        for record in list(self._records.values()):
            if not record.status.is_live:
                continue
            seen = record.last_heartbeat or record.created
            evict_before, not_ready_before = (
                exact if record.replica == own and seen >= started else stored
            )
            if seen < evict_before:
                status = NodeStatus.EVICTED
            elif seen < not_ready_before and record.status != NodeStatus.NOT_READY:
                status = NodeStatus.NOT_READY
            else:
                continue
            if await self.set_status(record.node_id, status, Reason.MISSED_HEARTBEATS) is not None:
                changes.append((record.node_id, status))
                log.info("worker state", node=record.node_id, status=status)
        return changes

    # -- other replicas ---------------------------------------------------------------------------
    async def follow(self) -> None:
        """Apply other replicas' writes as they happen (until cancelled); re-reads on reconnect,
        after a jittered backoff while the store is unavailable."""
        retry = Retry(FOLLOW_BACKOFF)
        while True:
            try:
                async with self.store.watch(PREFIX) as events:
                    await self._catch_up()  # what changed before the watch existed
                    retry.reset()
                    async for event in events:
                        await self.apply(event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is briefly unavailable: watch again
                log.warning("registry follow restarting", error=exc.__class__.__name__)
            await retry.wait()

    async def _catch_up(self) -> None:
        for key, value in await self.store.range(PREFIX):
            await self.apply(WatchEvent("put", key, Entry(value, 0)))

    async def apply(self, event: WatchEvent) -> bool:
        """One store event from `/workers/`; True when it changed this replica's view."""
        if event.kind != "put" or event.entry is None:
            return False  # records are never deleted (terminal states stay for the view)
        value, revision = event.entry.value, event.entry.revision
        if 0 < revision <= self._seen.get(event.key.removeprefix(PREFIX), 0):
            return False  # our own write (or one already applied): not even parsed
        try:
            remote = WorkerRecord.from_json(value)
        except ValueError:
            log.error("unreadable worker record", key=event.key)
            return False
        node = remote.node_id
        async with self.lock(node):
            if self._own.get(node) == hash(value):
                return False  # our own write coming back
            current = self._records.get(node)
            if revision > 0:  # a live event: the store's revision orders writes, clocks do not
                if revision <= self._seen.get(node, 0):
                    return False
                self._seen[node] = revision
            elif current is not None and remote.updated <= current.updated:
                return False  # catching up after a reconnect: the newer record wins
            self._revision += 1
            record = remote.replace(revision=self._revision)
            if current is not None:  # liveness only grows (ours may be ahead of a flush)
                record = _merge_liveness(record, current)
            self._keep(record)
            self._own.pop(record.node_id, None)
            self.followed += 1
            self._publish("ADDED" if current is None else "MODIFIED", record)
            if current is None or current.status != record.status:
                self._update_gauges()
        return True

    def _apply_liveness(self, replica: str, nodes: dict[str, NodeState]) -> None:
        """A replica's flushed heartbeat state (at load, or another replica's flush): applied
        to the nodes that replica owns, never lowering what this one knows."""
        for node, (seen_ms, mark, beats, pods) in nodes.items():
            current = self._records.get(node)
            if current is None or current.replica != replica:
                continue
            seen = datetime.fromtimestamp(seen_ms / 1000, UTC) if seen_ms else None
            if current.last_heartbeat is not None and (seen is None or
                                                       seen < current.last_heartbeat):  # fmt: skip
                seen = current.last_heartbeat
            self._records[node] = current.replace(
                last_heartbeat=seen,
                last_timestamp=max(mark, current.last_timestamp),
                heartbeats=max(beats, current.heartbeats),
                running_pods=pods,
            )

    # -- change feed (kube NodeSource) ----------------------------------------------------------
    def _publish(self, kind: str, record: WorkerRecord) -> None:
        self._history.append((kind, record))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _update_gauges(self) -> None:
        for state, count in self._counts.items():
            self.metrics.workers.labels(state).set(count)

    async def list_nodes(self) -> tuple[list[NodeInfo], int]:
        return [r.node_info() for r in self.all()], self._revision

    async def get_node(self, name: str) -> NodeInfo | None:
        record = self._records.get(name)
        return record.node_info() if record is not None else None

    async def watch(self, since: int) -> AsyncIterator[tuple[str, NodeInfo, int]]:
        """Changes after revision `since`, then live ones as they happen (until cancelled)."""
        while True:
            changed = self._changed
            for kind, record in list(self._history):
                if record.revision > since:
                    since = record.revision
                    yield kind, record.node_info(), since
            await changed.wait()


def _merge_liveness(record: WorkerRecord, known: WorkerRecord) -> WorkerRecord:
    """`record` with the newer of its and `known`'s liveness (marks never go down)."""
    if known.last_timestamp <= record.last_timestamp and (
        known.last_heartbeat is None
        or (record.last_heartbeat is not None and known.last_heartbeat <= record.last_heartbeat)
    ):
        return record
    seen = record.last_heartbeat
    if known.last_heartbeat is not None and (seen is None or known.last_heartbeat > seen):
        seen = known.last_heartbeat
    return record.replace(
        last_heartbeat=seen,
        last_timestamp=max(record.last_timestamp, known.last_timestamp),
        heartbeats=max(record.heartbeats, known.heartbeats),
    )


def _beat(
    current: WorkerRecord,
    claims: Claims,
    token_fingerprint: str,
    running_pods: int,
    resource_usage: dict[str, float],
    timestamp: int,
    now: datetime,
) -> dict[str, Any]:
    """What an accepted heartbeat changes in the node's record."""
    return dict(
        status=NodeStatus.READY,
        reason=None,
        last_heartbeat=now,
        running_pods=running_pods,
        resource_usage=dict(resource_usage) if resource_usage else _NO_USAGE,
        heartbeats=current.heartbeats + 1,
        stake=claims.stake_amount,
        permissions=claims.permissions,
        tier=claims.tier.label,
        token_fingerprint=token_fingerprint[:16],
        token_id=claims.token_id,
        last_timestamp=max(timestamp, current.last_timestamp),
    )
