"""Seal token validation against the chain, with the cache that makes it cheap.

A token is checked in this order, each failure with its own `Reason`: format (`invalid_format`),
the SealToken exists (`not_found`), its type is exactly `<package>::k8s_gateway::SealToken`
(`wrong_type`), SHA-256(secret) opens `token_hash` (`bad_secret`, constant time), epoch <
expires_at (`expired`), the StakeRecord it names is active (`stake_slashed`,
`stake_withdrawing`), its balance >= the pool's min_stake (`stake_too_low`), and its staker is
the token's owner (`owner_mismatch`).

Answers are cached by fingerprint (`TokenCache`); concurrent misses for one token share one
fetch, and misses within `batch_window_ms` share one BatchGetObjects (`ObjectFetcher`). A reader
with `StakeHints` (the verified chain) names a token's StakeRecord before the token is read, so
both go in one round trip (the token's own field decides which record is used). With
replicas, an optional shared cache (nautilus/shared_cache.py, Redis) sits between this cache and
the chain. Chain events purge entries and enter the revoked set (nautilus/revocations.py), which
every answer is checked against last, whatever it came from, so revocation waits for no TTL.

Deadlines: one request waits for the chain at most `chain_timeout` in total, whatever it reads;
then, or when the chain fails, a cached positive is served only if its last chain confirmation
is within `staleness` at the moment the answer is given, else the master fails closed
(`chain_unavailable`). Recovery needs no restart. With a `freshness` bound (verified chain), no
positive answer at all is given while the newest processed checkpoint is older than that bound
(nautilus/freshness.py): a node that withholds checkpoints cannot keep answers "valid".
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar

from k3s_daas.chain import (
    ChainError,
    ChainReader,
    MalformedObject,
    ObjectData,
    ObjectFetcher,
    SealTokenView,
    StakeHints,
    StakeRecordView,
    StakingPoolView,
    UnverifiedChainData,
    WrongObjectType,
)
from k3s_daas.log import get_logger
from k3s_daas.nautilus.absent_ids import AbsentIds
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.freshness import ChainFreshness
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.refreshed import Refreshed
from k3s_daas.nautilus.revocations import Kind, Revocations
from k3s_daas.nautilus.settings import ValidatorSettings
from k3s_daas.nautilus.shared_protocol import NoSharedCache, SharedCache
from k3s_daas.nautilus.token_cache import TokenCache
from k3s_daas.seal import constants as c
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.errors import TokenFormatError
from k3s_daas.seal.protocol import Reason
from k3s_daas.seal.token import SealToken, commitment_matches, parse_token

log = get_logger(__name__)
T = TypeVar("T")

#: After a failed chain read, callers skip the chain for this long (serve stale or fail closed).
CHAIN_RETRY_AFTER = 0.5
#: Every field of Claims: the one fields-set cached answers share (see `compact`).
_CLAIMS_FIELDS: Final = set(Claims.model_fields)
#: Permission lists seen, shared by the answers that carry them (a few distinct ones, bounded).
_PERMISSIONS: dict[tuple[str, ...], tuple[str, ...]] = {}
_PERMISSIONS_KEPT: Final = 256


def compact(claims: Claims) -> Claims:
    """`claims` with pydantic's per-instance fields-set (a 728-byte set) swapped for one shared
    set of every field: answers are kept for 10,000 workers, and frozen models never mutate it
    (a copy copies it first)."""
    object.__setattr__(claims, "__pydantic_fields_set__", _CLAIMS_FIELDS)
    return claims


def _shared_tuple(permissions: tuple[str, ...]) -> tuple[str, ...]:
    shared = _PERMISSIONS.get(permissions)
    if shared is not None:
        return shared
    if len(_PERMISSIONS) < _PERMISSIONS_KEPT:
        _PERMISSIONS[permissions] = permissions
    return permissions


class Validator:
    """Token -> Claims, or TokenRejected(reason). One per master, shared by every endpoint."""

    def __init__(
        self,
        client: ChainReader,
        package_id: str,
        pool_id: str,
        metrics: Metrics,
        settings: ValidatorSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedCache | None = None,
        revoked: Revocations | None = None,
        freshness: ChainFreshness | None = None,
    ) -> None:
        self.client = client
        self.freshness = freshness
        self.shared: SharedCache = shared or NoSharedCache()
        self.revoked = revoked if revoked is not None else Revocations()
        self.revoked.listeners.append(self._learned)
        self.package_id = package_id
        self.pool_id = pool_id
        self.metrics = metrics
        self.settings = settings = settings or ValidatorSettings()
        self._clock = clock
        self.fetcher = ObjectFetcher(
            client,
            window=settings.batch_window_ms / 1000,
            max_batch=settings.max_batch,
            batching=settings.batch_window_ms > 0,
            observe=self._observe_batch,
        )
        self._hints = client if isinstance(client, StakeHints) else None
        self.cache = TokenCache(settings, clock)
        self.absent = AbsentIds(settings.absent_ttl, settings.absent_cache_size, clock)
        self._inflight: dict[str, asyncio.Future[tuple[Claims, float | None]]] = {}
        self._chain_down_until = float("-inf")
        self._epoch = Refreshed(self._load_epoch, settings.epoch_ttl, clock)
        self._pool = Refreshed(self._load_pool, settings.pool_ttl, clock)
        self._admitted_hits = metrics.cache.labels("admitted")  # counters of the hot path
        self._valid = metrics.validations.labels("ok")
        self._hits = metrics.cache.labels("hit")
        #: When (this clock) the watcher last had every checkpoint up to the chain's tip handled.
        self.caught_up_at: float | None = None

    def _observe_batch(self, size: int, seconds: float) -> None:
        self.metrics.chain_latency.labels("batch_get_objects").observe(seconds)
        self.metrics.batch_size.observe(size)

    # -- chain-backed values ------------------------------------------------------------------
    async def _load_epoch(self) -> int:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.chain_timeout):
                return (await self.client.get_epoch()).epoch
        finally:
            self.metrics.chain_latency.labels("get_epoch").observe(time.perf_counter() - start)

    async def _load_pool(self) -> StakingPoolView:
        async with asyncio.timeout(self.settings.chain_timeout):
            obj = await self.fetcher.get(self.pool_id)
        if obj is None:
            raise ChainError(f"staking pool {self.pool_id} not found", reason="bad_deployment")
        return StakingPoolView.from_object(obj, self.package_id)

    async def epoch(self) -> int:
        """The current epoch, cached `epoch_ttl` seconds; while the chain fails, its last value
        serves up to `staleness` longer."""
        try:
            return await self._epoch.get(self.settings.staleness)
        except (ChainError, OSError) as exc:
            raise TokenRejected(Reason.CHAIN_UNAVAILABLE) from exc

    def note_epoch(self, epoch: int) -> None:
        """The watcher saw a newer epoch: use it at once."""
        current = self._epoch.value
        if current is None or epoch > current:
            self._epoch.set(epoch)

    async def min_stake(self) -> int:
        pool = await self._pool.get(self.settings.staleness)
        return pool.min_stake

    # -- revocation and purge (chain events) ----------------------------------------------------
    def revoke(
        self, kind: Kind, object_id: str, reason: Reason, *, source: str,
        checkpoint: int | None = None,
    ) -> int:  # fmt: skip
        """A revocation seen on chain: refused from now on (and recorded for every replica);
        returns how many cached answers it purged."""
        self.revoked.add(kind, object_id, reason, source=source, checkpoint=checkpoint)
        if kind == "stake":
            return self.purge_stake(object_id)
        return self.purge_token(object_id)

    def _learned(self, kind: Kind, object_id: str) -> None:
        """Another replica recorded a revocation: drop what this one cached for it."""
        if kind == "stake":
            self.purge_stake(object_id)
        else:
            self.purge_token(object_id)

    def purge_token(self, token_id: str) -> int:
        """Forget every cached answer for SealToken `token_id` (revoked, rotated)."""
        return self.cache.purge_token(token_id)

    def purge_stake(self, stake_id: str) -> int:
        """Forget every cached answer backed by StakeRecord `stake_id` (slashed, unstaked)."""
        return self.cache.purge_stake(stake_id)

    def purge_all(self) -> None:
        self.cache.purge_all()
        self.absent.clear()

    @property
    def cache_size(self) -> int:
        return len(self.cache)

    # -- validation -----------------------------------------------------------------------------
    def parse(self, token: str) -> SealToken:
        """The parsed token (its fingerprint computed once), or TokenRejected(invalid_format)."""
        try:
            return parse_token(token)  # the length is checked before anything else
        except TokenFormatError:
            self.metrics.validations.labels(Reason.INVALID_FORMAT).inc()
            raise TokenRejected(Reason.INVALID_FORMAT) from None

    async def validate_many(
        self, tokens: Sequence[str | SealToken]
    ) -> list[Claims | TokenRejected]:
        """Validate several tokens at once (their misses share batches); one token is awaited
        as it is (no task: the common case, a single token per request)."""

        async def one(token: str | SealToken) -> Claims | TokenRejected:
            try:
                return await self.validate(token)
            except TokenRejected as exc:
                return exc

        if len(tokens) == 1:
            return [await one(tokens[0])]
        return list(await asyncio.gather(*(one(t) for t in tokens)))

    async def validate(self, token: str | SealToken) -> Claims:
        """Claims of a valid token; raises TokenRejected with the reason otherwise."""
        parsed = self.parse(token) if isinstance(token, str) else token
        try:
            warm = self._warm(parsed.fingerprint)
            claims = await self._validate(parsed) if warm is None else warm
        except TokenRejected as exc:
            self.metrics.validations.labels(exc.reason).inc()
            raise
        self._valid.inc()
        return claims

    def _warm(self, fp: str) -> Claims | None:
        """The hot path of a cached token, without an await or a timer: its fresh cache entry
        while the epoch is known within its TTL and before the token's expiry, through `_answer`
        (the revocation check); None sends it down `_validate`, which also handles expiry."""
        now = self._clock()
        entry = self.cache.fresh(fp, now)
        epoch = self._epoch.current()
        if (
            entry is None
            or epoch is None
            or epoch >= entry.expires_at
            or now - entry.fetched > self.settings.staleness
        ):
            return None
        self.cache.touch(fp)
        self._hits.inc()
        return self._answer(fp, entry.claims, entry.fetched)

    async def validate_admitted(self, token: SealToken) -> Claims:
        """A registered worker's token (its heartbeat): its cached answer, without a chain read,
        while that answer's chain read is within `recheck_interval`, the token is unexpired, the
        stake meets the pool's minimum and the watcher has caught up with the chain within
        `staleness` (so every revocation until then is in the revoked set, checked last);
        otherwise exactly `validate`."""
        fp, settings = token.fingerprint, self.settings
        entry = self.cache.get(fp)
        if entry is None or self._clock() - entry.fetched > settings.recheck_interval:
            return await self.validate(token)
        epoch, pool = self._epoch.current(), self._pool.current()
        if epoch is not None and pool is not None:  # both within their TTL: no await, no timer
            min_stake = pool.min_stake
        else:
            try:
                async with asyncio.timeout(settings.chain_timeout):
                    epoch, min_stake = await self.epoch(), await self.min_stake()
            except (TimeoutError, ChainError, OSError, TokenRejected):
                return await self.validate(token)  # the usual path: stale answer or fail closed
        followed = self.caught_up_at
        if (
            self.cache.get(fp) is not entry  # purged by a chain event while we awaited
            or epoch >= entry.expires_at
            or entry.claims.stake_amount < min_stake
            or followed is None
            or self._clock() - followed > settings.staleness
        ):
            return await self.validate(token)
        self._admitted_hits.inc()
        try:
            claims = self._answer(fp, entry.claims, None)
        except TokenRejected as exc:
            self.metrics.validations.labels(exc.reason).inc()
            raise
        self._valid.inc()
        return claims

    def note_caught_up(self, at: float) -> None:
        """The watcher has handled every checkpoint up to the tip the chain showed at `at` (this
        validator's clock): every revocation final by then is in the revoked set."""
        if self.caught_up_at is None or at > self.caught_up_at:
            self.caught_up_at = at

    def now(self) -> float:
        """This validator's (monotonic) clock, for timestamps handed back to it."""
        return self._clock()

    async def _validate(self, parsed: SealToken) -> Claims:
        fp = parsed.fingerprint
        try:
            async with asyncio.timeout(self.settings.chain_timeout):  # one deadline, every read
                claims, confirmed = await self._lookup(parsed)
        except TimeoutError:
            self._chain_failed(self._clock())
            claims, confirmed = self._stale(fp)
        except TokenRejected as exc:
            if exc.reason != Reason.CHAIN_UNAVAILABLE:
                raise
            claims, confirmed = self._stale(fp)
        return self._answer(fp, claims, confirmed)

    def _answer(self, fp: str, claims: Claims, confirmed: float | None) -> Claims:
        """The last word, as the answer is given: nothing revoked, and a cached answer's chain
        confirmation (monotonic; None = read for this answer) within `staleness`."""
        revoked = self.revoked.refused(claims)
        if revoked is not None:
            self.cache.forget(fp)
            self.cache.remember_refusal(fp, revoked)
            self.metrics.cache.labels("revoked").inc()
            raise TokenRejected(revoked)
        if confirmed is not None and self._clock() - confirmed > self.settings.staleness:
            raise TokenRejected(Reason.CHAIN_UNAVAILABLE)
        if self.freshness is not None and not self.freshness.fresh():
            self.metrics.cache.labels("chain_stale").inc()
            raise TokenRejected(Reason.CHAIN_UNAVAILABLE)  # withheld checkpoints, or none yet
        return claims

    async def _lookup(self, parsed: SealToken) -> tuple[Claims, float | None]:
        """This replica's cache, else one (shared) load: the claims and their confirmation."""
        fp, cache = parsed.fingerprint, self.cache
        now = self._clock()
        entry = cache.fresh(fp, now)
        if entry is not None and now - entry.fetched <= self.settings.staleness:
            epoch = await self.epoch()
            # A chain event may have purged the entry while we awaited the epoch: then it must
            # not be served (that is exactly a revocation) - fall through to a chain read.
            if cache.get(fp) is entry:
                if epoch >= entry.expires_at:
                    cache.forget(fp)
                    cache.remember_refusal(fp, Reason.EXPIRED)
                    raise TokenRejected(Reason.EXPIRED)
                cache.touch(fp)
                self._hits.inc()
                return entry.claims, entry.fetched
        refused = cache.refusal(fp, now)
        if refused is not None:
            self.metrics.cache.labels("negative_hit").inc()
            raise TokenRejected(refused)
        self.metrics.cache.labels("miss").inc()
        if not self.settings.coalesce:
            return await self._load(parsed)
        future = self._inflight.get(fp)
        if future is None:
            future = asyncio.ensure_future(self._load(parsed))
            self._inflight[fp] = future
            future.add_done_callback(lambda f: self._loaded(fp, f))
        else:  # joined: its answer is still checked against this request's own deadline
            self.metrics.cache.labels("coalesced").inc()
        return await asyncio.shield(future)

    def _loaded(self, fp: str, future: asyncio.Future[tuple[Claims, float | None]]) -> None:
        self._inflight.pop(fp, None)
        if not future.cancelled():
            future.exception()  # retrieved by the waiters; avoid "never retrieved" noise

    def _chain_failed(self, started: float) -> None:
        """Skip the chain for a moment (serve stale or fail closed at once), unless a newer
        attempt already set the pause."""
        if started >= self._chain_down_until:
            self._chain_down_until = self._clock() + CHAIN_RETRY_AFTER

    async def _load(self, parsed: SealToken) -> tuple[Claims, float | None]:
        fp, cache = parsed.fingerprint, self.cache
        generation = cache.generation
        started, wall = self._clock(), time.time()
        if started < self._chain_down_until:
            raise TokenRejected(Reason.CHAIN_UNAVAILABLE)
        try:
            async with asyncio.timeout(self.settings.chain_timeout):  # never outlives a request
                shared = await self._from_shared(fp, generation, started, wall)
                if shared is not None:
                    return shared
                claims = await self._fetch(parsed)
        except TimeoutError:
            self._chain_failed(started)
            raise TokenRejected(Reason.CHAIN_UNAVAILABLE) from None
        except TokenRejected as exc:
            if exc.reason == Reason.CHAIN_UNAVAILABLE:
                self._chain_failed(started)
            elif exc.reason != Reason.UNVERIFIED_CHAIN_DATA and generation == cache.generation:
                cache.forget(fp)
                cache.remember_refusal(fp, exc.reason)
            raise
        if generation == cache.generation:
            cache.remember(fp, claims, started)
            await self.shared.put(fp, claims, wall)
        return claims, None

    async def _from_shared(
        self, fp: str, generation: int, started: float, wall: float
    ) -> tuple[Claims, float] | None:
        """Another replica's recent chain read of this token, if the shared cache has one."""
        entry = await self.shared.get(fp)
        if entry is None:
            return None
        if self.revoked.secret_replaced(entry.claims.token_id, entry.fetched_at):
            return None  # read before a rotation: maybe the old secret, ask the chain
        expired = await self.epoch() >= entry.claims.expires_at_epoch
        if expired or generation != self.cache.generation:  # expired, or a chain event meanwhile:
            return None  # let the chain read answer
        # Age it as the original chain read: the entry stays fresh only until that read's TTL.
        confirmed = started - max(0.0, wall - entry.fetched_at)
        if started - confirmed > self.settings.staleness:
            return None
        self.cache.remember(fp, entry.claims, confirmed)
        self.metrics.cache.labels("shared_hit").inc()
        return entry.claims, confirmed

    def _stale(self, fp: str) -> tuple[Claims, float]:
        """Chain down or too slow: a cached positive still counts while its confirmation is
        within `staleness` (checked again as the answer is given); else fail closed. Never
        waits: the expiry check uses the last epoch read."""
        entry = self.cache.get(fp)
        if entry is None or self._clock() - entry.fetched > self.settings.staleness:
            raise TokenRejected(Reason.CHAIN_UNAVAILABLE)
        epoch = self._epoch.usable(self.settings.staleness)
        if epoch is None:
            raise TokenRejected(Reason.CHAIN_UNAVAILABLE)
        if epoch >= entry.expires_at:
            raise TokenRejected(Reason.EXPIRED)
        self.metrics.cache.labels("stale").inc()
        return entry.claims, entry.fetched

    async def _chain(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except (WrongObjectType, MalformedObject):
            raise TokenRejected(Reason.WRONG_TYPE) from None
        except UnverifiedChainData as exc:  # no endpoint could prove its answer: refuse
            log.warning("chain data did not verify", check=exc.check, error=exc.message[:200])
            raise TokenRejected(Reason.UNVERIFIED_CHAIN_DATA) from None
        except (ChainError, OSError) as exc:
            log.warning("chain read failed", error=str(exc)[:200])
            raise TokenRejected(Reason.CHAIN_UNAVAILABLE) from None

    async def _read_object(self, object_id: str) -> ObjectData | None:
        """One object, read within `chain_timeout`: a read others join ends by then too."""
        async with asyncio.timeout(self.settings.chain_timeout):
            return await self.fetcher.get(object_id)

    async def _fetch(self, parsed: SealToken) -> Claims:
        if (absent := self.absent.refusal(parsed.object_id)) is not None:
            self.metrics.cache.labels("absent_hit").inc()
            raise TokenRejected(absent)  # whatever the secret: no chain read (nautilus.absent_ids)
        generation = self.absent.generation
        hinted = self._hinted_stake(parsed.object_id)  # asked now: it joins the token's batch
        token_read = self.absent.read(parsed.object_id, self._read_object, self.cache.generation)
        pool = self._pool.current()
        if pool is not None:  # the usual case: no second read to run beside the token's
            token_obj, min_stake = await self._chain(token_read), pool.min_stake
        else:
            token_obj, min_stake = await asyncio.gather(
                self._chain(token_read), self._chain(self.min_stake())
            )
        try:
            token = self.check_token(token_obj, parsed)
        except TokenRejected as exc:
            self.absent.remember(parsed.object_id, exc.reason, generation)
            raise
        if token.is_expired(await self.epoch()):
            raise TokenRejected(Reason.EXPIRED)
        if hinted is not None and hinted[0] == token.stake_record:  # read with the token
            record_obj = await self._chain(asyncio.shield(hinted[1]))
        else:
            record_obj = await self._chain(self.fetcher.get(token.stake_record))
        try:
            record = self.check_stake(record_obj, token, min_stake)
        except TokenRejected as exc:
            if exc.reason in (Reason.STAKE_SLASHED, Reason.STAKE_WITHDRAWING):  # final on chain
                self.revoked.add("stake", token.stake_record, exc.reason, source="chain_read")
            raise
        read_at = [o.checkpoint if o is not None else None for o in (token_obj, record_obj)]
        return compact(
            Claims(
                owner=sys.intern(token.owner),  # one staker often runs many nodes
                node_id=token.node_id,
                stake_type=token.stake_type,
                stake_amount=record.balance,
                permissions=_shared_tuple(token.permissions),
                tier=token.tier,
                expires_at_epoch=token.expires_at,
                token_id=token.id,
                stake_record_id=record.id,
                enclave_id=sys.intern(token.enclave),  # the same for every token of a master
                checkpoint=min(c for c in read_at if c is not None)
                if None not in read_at
                else None,
            )
        )

    def _hinted_stake(self, token_id: str) -> tuple[str, asyncio.Future[ObjectData | None]] | None:
        """The StakeRecord the chain reader expects this token to name, its read already asked
        for (one round trip for both); None without a hint. Only a guess: the token's own
        `stake_record` decides, and a read of another id is not used."""
        if self._hints is None or not self.fetcher.batching:
            return None
        stake_id = self._hints.stake_of(token_id)
        if stake_id is None:
            return None
        return stake_id, self.fetcher.enqueue(stake_id)

    def check_token(self, obj: ObjectData | None, parsed: SealToken) -> SealTokenView:
        """Existence, exact type and the secret (pure: unit-testable with crafted objects)."""
        if obj is None:
            raise TokenRejected(Reason.NOT_FOUND)
        try:
            view = SealTokenView.from_object(obj, self.package_id)
        except (WrongObjectType, MalformedObject):
            raise TokenRejected(Reason.WRONG_TYPE) from None
        if not commitment_matches(parsed.secret, view.token_hash):
            raise TokenRejected(Reason.BAD_SECRET)
        return view

    def check_stake(
        self, obj: ObjectData | None, token: SealTokenView, min_stake: int
    ) -> StakeRecordView:
        """The StakeRecord behind a token: live, big enough, and the token owner's."""
        if obj is None:
            raise TokenRejected(Reason.NOT_FOUND, "the token's StakeRecord does not exist")
        try:
            record = StakeRecordView.from_object(obj, self.package_id)
        except (WrongObjectType, MalformedObject):
            raise TokenRejected(
                Reason.WRONG_TYPE, "the token's stake is not our StakeRecord"
            ) from None
        if record.status != c.STATUS_ACTIVE:
            raise TokenRejected(Reason.for_stake_status(record.status))
        if record.balance < min_stake:
            raise TokenRejected(Reason.STAKE_TOO_LOW)
        if record.staker != token.owner:
            raise TokenRejected(Reason.OWNER_MISMATCH)
        return record
