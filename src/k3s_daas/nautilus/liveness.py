"""Heartbeat state kept in memory per replica and flushed in batches, with a durable replay guard.

A routine heartbeat (a ready node this replica owns) changes only liveness: last seen, count,
pods and the node's high-water mark of signed timestamps. Those live in the registry's records in
memory; every `flush_interval` this replica writes them for the nodes it owns, in `SHARDS` keys
`/liveness/<replica>/<k>` (a shard that changed, at most once per `refresh_interval`), then
its **guard** `/liveness/<replica>` = W = max(previous W, now + flush_interval + future
tolerance), with the id of the enclave key the replica answers under.

The guard is what makes batching safe (docs/nautilus.md, "Replay guard"): a heartbeat is
acknowledged only if its signed timestamp is at most the W already durable (`lease`), so every
acknowledged heartbeat the store does not hold as a mark is at or below the replica's last
stored W. A restarted replica refuses timestamps at or below its own stored W for the nodes it
owned, and another replica refuses them for the nodes the first one owns, until a durable write
(in the registry) moves the node. Both only when the stored W was written under the enclave key
this process answers under: a signed request names the key it was signed for, so a heartbeat a
process with another key acknowledged fails our signature check before any guard (today every
process makes its own key, so a restart or a failover costs no refusal). Each replica writes only
its own keys: replicas never contend on a key.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

import pydantic_core

from k3s_daas.log import get_logger
from k3s_daas.nautilus.store.base import StoreUnavailableError, WatchStream, batches
from k3s_daas.retry import Backoff, Retry

if TYPE_CHECKING:
    from k3s_daas.nautilus.worker_record import WorkerRecord

log = get_logger(__name__)

PREFIX: Final = "/liveness/"
#: Keys per replica the nodes' state is spread over (10,000 nodes: ~30 KB each, far below the
#: store's 1 MiB value cap) so a flush writes only what changed.
SHARDS: Final = 16
FOLLOW_BACKOFF: Final = Backoff(first=0.2, cap=2.0)
#: Records a flush gathers between two turns of the event loop (10,000 at once stall it ~20 ms).
FLUSH_CHUNK: Final = 1_000
#: Longest a heartbeat waits for a flush to cover its timestamp (a late flush, never normal).
LEASE_WAIT: Final = 0.5

#: One node's flushed state: last seen (ms), high-water mark (ms), heartbeats, running pods.
NodeState = list[int]


class LivenessStore(Protocol):
    """The part of the Store liveness uses (registry.KeyValueStore has it)."""

    def watch(self, prefix: str) -> WatchStream: ...
    async def get(self, key: str) -> bytes | None: ...
    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> Any: ...
    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> Any: ...
    async def range(self, prefix: str) -> Any: ...


def shard(node_id: str) -> int:
    """The shard of a node (stable across processes, unlike `hash`)."""
    return zlib.crc32(node_id.encode()) % SHARDS


def node_state(record: WorkerRecord) -> NodeState:
    seen = record.last_heartbeat
    seen_ms = int(seen.timestamp() * 1000) if seen is not None else 0
    return [seen_ms, record.last_timestamp, record.heartbeats, record.running_pods]


class Liveness:
    """This replica's batched heartbeat state and every replica's replay guard."""

    def __init__(
        self,
        store: LivenessStore,
        replica: str,
        *,
        flush_interval: float = 1.0,
        refresh_interval: float = 0.0,
        future_seconds: float = 2.0,
        key_id: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not replica or "/" in replica:
            raise ValueError("a replica id is a non-empty name without '/'")
        self.store = store
        self.replica = replica
        self.flush_interval = flush_interval
        #: A shard whose nodes changed is written at most this often (0: at every flush): the
        #: replay guard is W, not the marks, so only the view of last seen waits (see `lag`).
        self.refresh_interval = refresh_interval
        self.future_ms = int(future_seconds * 1000)
        #: The enclave key this process answers under (a hash): guards of other keys are moot.
        self.key_id = key_id
        self._clock = clock
        #: Acknowledgements are allowed up to this signed timestamp: our W the store holds.
        self.durable = 0
        #: Our own W as stored before this start: the guard of the nodes we owned then.
        self.floor = 0
        self._guards: dict[str, int] = {}  # other replicas' stored W
        #: By shard, the nodes whose liveness changed in memory only since their shard was last
        #: written: read and written once the shard is due. `_noted`: records written durably
        #: (their entries are only re-read, at the next flush).
        self._changed: list[set[str]] = [set() for _ in range(SHARDS)]
        self._noted: set[str] = set()
        #: Our nodes' state by shard, as the next flush writes it (None: not built yet).
        self._shards: list[dict[str, NodeState]] | None = None
        #: When each shard may next be written (staggered: a shard a flush, not all at once).
        start = clock()
        self._due = [start + refresh_interval * k / SHARDS for k in range(SHARDS)]
        self._flushed = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self.flushes = 0
        #: The nodes whose state to flush (the registry's records) and where others' goes.
        self.records: Callable[[], Iterable[WorkerRecord]] = tuple
        self.record: Callable[[str], WorkerRecord | None] = lambda _node: None
        self.on_state: Callable[[str, dict[str, NodeState]], None] = lambda _r, _s: None

    # -- the guard ----------------------------------------------------------------------------
    def guard(self, owner: str) -> int:
        """Signed timestamps (ms) at or below this are refused for a node `owner` holds."""
        if not owner:
            return 0
        if owner == self.replica:
            return self.floor
        return self._guards.get(owner, 0)

    async def refresh(self, owner: str) -> None:
        """Read `owner`'s W from the store (before a node moves away from it: a watch may lag)."""
        if owner and owner != self.replica:
            value = await self.store.get(PREFIX + owner)
            if value is not None:
                self._apply(PREFIX + owner, value, own=False)

    @property
    def lag(self) -> float:
        """How far behind a node's stored last seen may be (what a follower, or this replica
        after a restart, reads): its shard waits up to `refresh_interval`, then a flush."""
        return self.refresh_interval + self.flush_interval

    def touch(self, node_id: str) -> None:
        """A node we own changed liveness in memory only: its shard goes out with the first
        flush once the shard is due."""
        self._changed[shard(node_id)].add(node_id)

    def note(self, node_id: str) -> None:
        """A record we own (or owned) was written durably: its entry is re-read at the next
        flush (gone when it is no longer ours or live), without writing its shard for it (the
        store has the record itself)."""
        self._noted.add(node_id)

    async def lease(self, timestamp: int) -> None:
        """Return once `timestamp` is covered by our durable W (at once, normally: W runs one
        interval plus the future tolerance ahead); StoreUnavailableError if no flush covers it
        within `LEASE_WAIT` (the store has been failing for seconds: fail closed, not hang)."""
        if timestamp <= self.durable:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(LEASE_WAIT, self.flush_interval)
        while timestamp > self.durable:
            flushed = self._flushed
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise StoreUnavailableError("heartbeat state cannot be made durable")
            try:
                async with asyncio.timeout(remaining):
                    await flushed.wait()
            except TimeoutError:
                continue

    # -- flushing -----------------------------------------------------------------------------
    async def flush(self, *, everything: bool = False) -> int:
        """Write the changed shards that are due (`everything`: all that changed, at shutdown),
        then the new W; returns W (raises if the store fails).

        One `put_many` per batch (normally one for all: one commit, one etcd transaction), W in
        the last, so no W is stored before the state it covers."""
        async with self._flush_lock:
            now = self._clock()
            now_ms = int(now * 1000)
            w = max(self.durable, now_ms + int(self.flush_interval * 1000) + self.future_ms)
            taken = {k: nodes for k, nodes in enumerate(self._changed)
                     if nodes and (everything or self._due[k] <= now)}  # fmt: skip
            for k in taken:
                self._changed[k] = set()
            noted, self._noted = self._noted, set()
            try:
                shards = await self._gather(noted.union(*taken.values()))
                items = [(f"{PREFIX}{self.replica}/{k}", pydantic_core.to_json(shards[k]))
                         for k in taken]  # fmt: skip
                guard = {"w": w, "at": now_ms, "key": self.key_id}
                items.append((PREFIX + self.replica, pydantic_core.to_json(guard)))
                for batch in batches(items):
                    await self.store.put_many(batch)
            except BaseException:
                for k, nodes in taken.items():  # read again next time (twice is harmless)
                    self._changed[k] |= nodes
                self._noted |= noted
                raise
            for k in taken:
                self._due[k] = now + self.refresh_interval
            self.durable = w
            self.flushes += 1
            flushed, self._flushed = self._flushed, asyncio.Event()
            flushed.set()
            return w

    async def _gather(self, changed: set[str]) -> list[dict[str, NodeState]]:
        """Our nodes' state by shard, with `changed` applied: each changed node's entry re-read
        from its record (gone when it is no longer ours or live). The first time, every record
        (what `load` applied included); the loop turns between chunks of FLUSH_CHUNK records.
        Which shards are then written is the caller's (those of in-memory changes, once due)."""
        shards = self._shards
        nodes: list[tuple[str, WorkerRecord | None]]
        if shards is None:
            shards = [{} for _ in range(SHARDS)]
            nodes = [(record.node_id, record) for record in self.records()]
        else:
            nodes = [(node_id, self.record(node_id)) for node_id in changed]
        for start in range(0, len(nodes), FLUSH_CHUNK):
            if start:
                await asyncio.sleep(0)  # requests in between, not a 20 ms stall
            for node_id, record in nodes[start : start + FLUSH_CHUNK]:
                group = shards[shard(node_id)]
                if record is not None and record.replica == self.replica and record.status.is_live:
                    group[node_id] = node_state(record)
                else:
                    group.pop(node_id, None)
        self._shards = shards
        return shards

    async def run(self) -> None:
        """Flush every `flush_interval` (until cancelled); a failed flush is retried next tick,
        and meanwhile heartbeats past the stored W wait, then fail closed (503)."""
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("liveness flush failed", error=exc.__class__.__name__)
            elapsed = asyncio.get_running_loop().time() - started
            await asyncio.sleep(max(0.0, self.flush_interval - elapsed))

    # -- loading and following ----------------------------------------------------------------
    async def load(self) -> None:
        """Every replica's stored W and nodes' state (at start, after the records)."""
        for key, value in await self.store.range(PREFIX):
            self._apply(key, value, own=True)
        self.durable = max(self.durable, self.floor)

    async def follow(self) -> None:
        """Apply other replicas' flushes as they happen (until cancelled)."""
        retry = Retry(FOLLOW_BACKOFF)
        while True:
            try:
                async with self.store.watch(PREFIX) as events:
                    for key, value in await self.store.range(PREFIX):
                        self._apply(key, value, own=False)
                    retry.reset()
                    async for event in events:
                        if event.kind == "put" and event.entry is not None:
                            self._apply(event.key, event.entry.value, own=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("liveness follow restarting", error=exc.__class__.__name__)
            await retry.wait()

    def _apply(self, key: str, value: bytes, *, own: bool) -> None:
        """One stored key: a replica's W, or one shard of its nodes' state. Our own keys are
        taken only at load (`own`): while running, our memory is ahead of them."""
        replica, _, part = key.removeprefix(PREFIX).partition("/")
        if replica == self.replica and not own:
            return
        try:
            data = pydantic_core.from_json(value)
            if not part:
                w = int(data["w"])
                if str(data.get("key", "")) != self.key_id:
                    return  # acknowledged under another key: no copy verifies here
                if replica == self.replica:
                    self.floor = max(self.floor, w)
                else:
                    self._guards[replica] = max(self._guards.get(replica, 0), w)
                return
            nodes = {str(n): [int(x) for x in s] for n, s in dict(data).items()}
        except (ValueError, KeyError, TypeError):
            log.error("unreadable liveness record", key=key)
            return
        self.on_state(replica, nodes)
