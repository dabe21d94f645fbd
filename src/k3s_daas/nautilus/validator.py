"""Seal token validation against the chain, with the cache that makes it cheap (DESIGN §4).

A token is checked in this order, each failure with its own reason code: format
(`invalid_format`), the SealToken exists (`not_found`), its type is exactly
`<package>::k8s_gateway::SealToken` (`wrong_type`), SHA-256(secret) opens `token_hash`
(`bad_secret`, constant time), epoch < expires_at (`expired`), the StakeRecord it names is
active (`stake_slashed`, `stake_withdrawing`), its balance >= the pool's min_stake
(`stake_too_low`), and its staker is the token's owner (`owner_mismatch`).

Cache: keyed by SHA-256(token) (raw tokens are never kept), bounded LRU; a positive entry lives
`cache_ttl` seconds but never past the token's expiry epoch; definite refusals are remembered
`negative_ttl` seconds. Concurrent misses for one token share one fetch, and misses within
`batch_window_ms` share one BatchGetObjects. Chain events purge entries (the watcher calls
`purge_*`), so revocation does not wait for a TTL. When the chain is unreachable, cached positives
are served for up to `staleness` seconds after their last chain read, then the master fails closed
(`chain_unavailable`). With replicas, an optional shared cache (nautilus/shared_cache.py, Redis)
sits between this cache and the chain.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from k3s_daas.chain.client import ChainClient
from k3s_daas.chain.errors import ChainError, MalformedObject, WrongObjectType
from k3s_daas.chain.views import ObjectData, SealTokenView, StakeRecordView, StakingPoolView
from k3s_daas.log import get_logger
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.shared_cache import NoSharedCache, SharedCache
from k3s_daas.seal import constants as c
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.errors import TokenFormatError
from k3s_daas.seal.token import SealToken, commitment_matches, parse_token, token_fingerprint

log = get_logger(__name__)
T = TypeVar("T")

#: After a failed chain read, callers skip the chain for this long (serve stale or fail closed).
CHAIN_RETRY_AFTER = 0.5


@dataclass(frozen=True)
class ValidatorConfig:
    """The validator's knobs (a subset of NautilusSettings, so benchmarks can build one)."""

    cache_size: int = 100_000
    cache_ttl: float = 30.0
    negative_cache_size: int = 10_000
    negative_ttl: float = 2.0
    staleness: float = 60.0
    epoch_ttl: float = 2.0
    pool_ttl: float = 10.0
    batch_window_ms: float = 2.0
    max_batch: int = 100
    coalesce: bool = True


@dataclass(slots=True)
class _Entry:
    claims: Claims
    expires_at: int
    fetched: float  # monotonic time of the chain read that produced it
    fresh_until: float


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


class _Refreshed:
    """A value read from the chain at most every `ttl` seconds; concurrent refreshes coalesce."""

    def __init__(self, load: Callable[[], Awaitable[Any]], ttl: float, clock: Callable[[], float]):
        self._load = load
        self.ttl = ttl
        self._clock = clock
        self.value: Any = None
        self.at = float("-inf")
        self._inflight: asyncio.Future[Any] | None = None

    def set(self, value: Any) -> None:
        self.value, self.at = value, self._clock()

    async def get(self, staleness: float) -> Any:
        now = self._clock()
        if self.value is not None and now - self.at < self.ttl:
            return self.value
        try:
            if self._inflight is None:
                self._inflight = asyncio.ensure_future(self._load())
                self._inflight.add_done_callback(self._clear)
            value = await asyncio.shield(self._inflight)
        except (ChainError, OSError):
            if self.value is not None and now - self.at < self.ttl + staleness:
                return self.value
            raise
        self.set(value)
        return value

    def _clear(self, future: asyncio.Future[Any]) -> None:
        self._inflight = None
        if not future.cancelled():
            future.exception()


class Validator:
    """Token -> Claims, or TokenRejected(reason). One per master, shared by every endpoint."""

    def __init__(
        self,
        client: ChainClient,
        package_id: str,
        pool_id: str,
        metrics: Metrics,
        config: ValidatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedCache | None = None,
    ) -> None:
        self.client = client
        self.shared: SharedCache = shared or NoSharedCache()
        self.package_id = package_id
        self.pool_id = pool_id
        self.metrics = metrics
        self.config = config or ValidatorConfig()
        self._clock = clock
        cfg = self.config
        self.fetcher = ObjectFetcher(
            client,
            metrics,
            window=cfg.batch_window_ms / 1000,
            max_batch=cfg.max_batch,
            batching=cfg.batch_window_ms > 0,
        )
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._negative: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._by_token: dict[str, set[str]] = {}
        self._by_stake: dict[str, set[str]] = {}
        self._inflight: dict[str, asyncio.Future[Claims]] = {}
        self._generation = 0
        self._chain_down_until = float("-inf")
        self._epoch = _Refreshed(self._load_epoch, cfg.epoch_ttl, clock)
        self._pool = _Refreshed(self._load_pool, cfg.pool_ttl, clock)

    # -- chain-backed values ------------------------------------------------------------------
    async def _load_epoch(self) -> int:
        start = time.perf_counter()
        try:
            return (await self.client.get_epoch()).epoch
        finally:
            self.metrics.chain_latency.labels("get_epoch").observe(time.perf_counter() - start)

    async def _load_pool(self) -> StakingPoolView:
        obj = await self.fetcher.get(self.pool_id)
        if obj is None:
            raise ChainError(f"staking pool {self.pool_id} not found", reason="bad_deployment")
        return StakingPoolView.from_object(obj, self.package_id)

    async def epoch(self) -> int:
        """The current epoch, cached `epoch_ttl` seconds (stale up to `staleness` if down)."""
        try:
            return int(await self._epoch.get(self.config.staleness))
        except (ChainError, OSError) as exc:
            raise TokenRejected("chain_unavailable") from exc

    def note_epoch(self, epoch: int) -> None:
        """The watcher saw a newer epoch: use it at once."""
        current = self._epoch.value
        if current is None or epoch > current:
            self._epoch.set(epoch)

    async def min_stake(self) -> int:
        pool: StakingPoolView = await self._pool.get(self.config.staleness)
        return pool.min_stake

    # -- purge (chain events) -----------------------------------------------------------------
    def purge_token(self, token_id: str) -> int:
        """Forget every cached answer for SealToken `token_id` (revoked, rotated)."""
        return self._purge(self._by_token.pop(token_id.lower(), set()))

    def purge_stake(self, stake_id: str) -> int:
        """Forget every cached answer backed by StakeRecord `stake_id` (slashed, unstaked)."""
        return self._purge(self._by_stake.pop(stake_id.lower(), set()))

    def purge_all(self) -> None:
        self._generation += 1
        self._cache.clear()
        self._negative.clear()
        self._by_token.clear()
        self._by_stake.clear()

    def _purge(self, fingerprints: set[str]) -> int:
        self._generation += 1  # answers being fetched right now may predate the event
        for fp in fingerprints:
            self._cache.pop(fp, None)
        self._negative.clear()
        return len(fingerprints)

    @property
    def cache_size(self) -> int:
        return len(self._cache)

    # -- validation -----------------------------------------------------------------------------
    async def validate_many(self, tokens: Sequence[str]) -> list[Claims | TokenRejected]:
        """Validate several tokens at once (their misses share batches)."""

        async def one(token: str) -> Claims | TokenRejected:
            try:
                return await self.validate(token)
            except TokenRejected as exc:
                return exc

        return list(await asyncio.gather(*(one(t) for t in tokens)))

    async def validate(self, token: str) -> Claims:
        """Claims of a valid token; raises TokenRejected with the reason otherwise."""
        try:
            claims = await self._validate(token)
        except TokenRejected as exc:
            self.metrics.validations.labels(exc.reason).inc()
            raise
        self.metrics.validations.labels("ok").inc()
        return claims

    async def _validate(self, token: str) -> Claims:
        try:
            parsed = parse_token(token)  # the length is checked before anything else
        except TokenFormatError:
            raise TokenRejected("invalid_format") from None
        fp = token_fingerprint(token)
        now = self._clock()
        entry = self._cache.get(fp)
        if entry is not None and now < entry.fresh_until:
            epoch = await self.epoch()
            # A chain event may have purged the entry while we awaited the epoch: then it must
            # not be served (that is exactly a revocation) - fall through to a chain read.
            if self._cache.get(fp) is entry:
                if epoch >= entry.expires_at:
                    self._cache.pop(fp, None)
                    self._remember_negative(fp, "expired")
                    raise TokenRejected("expired")
                self._cache.move_to_end(fp)
                self.metrics.cache.labels("hit").inc()
                return entry.claims
        negative = self._negative.get(fp)
        if negative is not None:
            if now < negative[1]:
                self.metrics.cache.labels("negative_hit").inc()
                raise TokenRejected(negative[0])
            self._negative.pop(fp, None)
        self.metrics.cache.labels("miss").inc()
        if not self.config.coalesce:
            return await self._load(parsed, fp)
        future = self._inflight.get(fp)
        if future is None:
            future = asyncio.ensure_future(self._load(parsed, fp))
            self._inflight[fp] = future
            future.add_done_callback(lambda f: self._loaded(fp, f))
        else:
            self.metrics.cache.labels("coalesced").inc()
        return await asyncio.shield(future)

    def _loaded(self, fp: str, future: asyncio.Future[Claims]) -> None:
        self._inflight.pop(fp, None)
        if not future.cancelled():
            future.exception()  # retrieved by the waiters; avoid "never retrieved" noise

    async def _load(self, parsed: SealToken, fp: str) -> Claims:
        generation = self._generation
        started, wall = self._clock(), time.time()
        try:
            if started < self._chain_down_until:
                raise TokenRejected("chain_unavailable")
            shared = await self._from_shared(fp, generation, started, wall)
            if shared is not None:
                return shared
            claims = await self._fetch(parsed)
        except TokenRejected as exc:
            if exc.reason == "chain_unavailable":
                if started >= self._chain_down_until:
                    self._chain_down_until = self._clock() + CHAIN_RETRY_AFTER
                return await self._stale(fp, exc)
            if generation == self._generation:
                self._cache.pop(fp, None)
                self._remember_negative(fp, exc.reason)
            raise
        if generation == self._generation:
            self._remember(fp, claims, started)
            await self.shared.put(fp, claims, wall)
        return claims

    async def _from_shared(
        self, fp: str, generation: int, started: float, wall: float
    ) -> Claims | None:
        """Another replica's recent chain read of this token, if the shared cache has one."""
        entry = await self.shared.get(fp)
        if entry is None:
            return None
        expired = await self.epoch() >= entry.claims.expires_at_epoch
        if expired or generation != self._generation:  # expired, or a chain event meanwhile:
            return None  # let the chain read answer
        # Age it as the original chain read: the entry stays fresh only until that read's TTL.
        self._remember(fp, entry.claims, started - max(0.0, wall - entry.fetched_at))
        self.metrics.cache.labels("shared_hit").inc()
        return entry.claims

    async def _stale(self, fp: str, exc: TokenRejected) -> Claims:
        """Chain down: a cached positive read within `staleness` still counts (then fail closed)."""
        entry = self._cache.get(fp)
        if entry is None or self._clock() - entry.fetched > self.config.staleness:
            raise exc
        if await self.epoch() >= entry.expires_at:
            raise TokenRejected("expired")
        if self._cache.get(fp) is not entry:  # purged by a chain event meanwhile
            raise exc
        self.metrics.cache.labels("stale").inc()
        return entry.claims

    def _remember(self, fp: str, claims: Claims, fetched: float) -> None:
        cfg = self.config
        self._cache[fp] = _Entry(claims, claims.expires_at_epoch, fetched, fetched + cfg.cache_ttl)
        self._cache.move_to_end(fp)
        self._by_token.setdefault(claims.token_id, set()).add(fp)
        self._by_stake.setdefault(claims.stake_record_id, set()).add(fp)
        while len(self._cache) > cfg.cache_size:
            old_fp, old = self._cache.popitem(last=False)
            self._by_token.get(old.claims.token_id, set()).discard(old_fp)
            self._by_stake.get(old.claims.stake_record_id, set()).discard(old_fp)

    def _remember_negative(self, fp: str, reason: str) -> None:
        cfg = self.config
        if cfg.negative_ttl <= 0:
            return
        self._negative[fp] = (reason, self._clock() + cfg.negative_ttl)
        self._negative.move_to_end(fp)
        while len(self._negative) > cfg.negative_cache_size:
            self._negative.popitem(last=False)

    async def _chain(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (WrongObjectType, MalformedObject):
            raise TokenRejected("wrong_type") from None
        except (ChainError, OSError) as exc:
            log.warning("chain read failed", error=str(exc)[:200])
            raise TokenRejected("chain_unavailable") from None

    async def _fetch(self, parsed: SealToken) -> Claims:
        token_obj, min_stake = await asyncio.gather(
            self._chain(self.fetcher.get(parsed.object_id)), self._chain(self.min_stake())
        )
        token = self.check_token(token_obj, parsed)
        if token.is_expired(await self.epoch()):
            raise TokenRejected("expired")
        record_obj = await self._chain(self.fetcher.get(token.stake_record))
        record = self.check_stake(record_obj, token, min_stake)
        return Claims(
            owner=token.owner,
            node_id=token.node_id,
            stake_type=token.stake_type,
            stake_amount=record.balance,
            permissions=token.permissions,
            tier=token.tier,
            expires_at_epoch=token.expires_at,
            token_id=token.id,
            stake_record_id=record.id,
            enclave_id=token.enclave,
        )

    def check_token(self, obj: ObjectData | None, parsed: SealToken) -> SealTokenView:
        """Existence, exact type and the secret (pure: unit-testable with crafted objects)."""
        if obj is None:
            raise TokenRejected("not_found")
        try:
            view = SealTokenView.from_object(obj, self.package_id)
        except (WrongObjectType, MalformedObject):
            raise TokenRejected("wrong_type") from None
        if not commitment_matches(parsed.secret, view.token_hash):
            raise TokenRejected("bad_secret")
        return view

    def check_stake(
        self, obj: ObjectData | None, token: SealTokenView, min_stake: int
    ) -> StakeRecordView:
        """The StakeRecord behind a token: live, big enough, and the token owner's."""
        if obj is None:
            raise TokenRejected("not_found", "the token's StakeRecord does not exist")
        try:
            record = StakeRecordView.from_object(obj, self.package_id)
        except (WrongObjectType, MalformedObject):
            raise TokenRejected("wrong_type", "the token's stake is not our StakeRecord") from None
        if record.status == c.STATUS_SLASHED:
            raise TokenRejected("stake_slashed")
        if record.status != c.STATUS_ACTIVE:
            raise TokenRejected("stake_withdrawing")
        if record.balance < min_stake:
            raise TokenRejected("stake_too_low")
        if record.staker != token.owner:
            raise TokenRejected("owner_mismatch")
        return record
