"""The validator's memory of its answers, keyed by token fingerprint (raw tokens are never kept).

Positive entries form a bounded LRU; each stays fresh `cache_ttl` seconds after the chain read
that produced it (the validator also refuses it past the token's expiry epoch) and is indexed by
its SealToken and StakeRecord, so a chain event purges exactly the answers it affects. Definite
refusals are remembered `negative_ttl` seconds. Every purge bumps `generation`, so an answer
being fetched while an event lands is not stored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from k3s_daas.nautilus.settings import ValidatorSettings
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.protocol import Reason


@dataclass(slots=True)
class CacheEntry:
    """One positive answer and when it was read from the chain (monotonic time)."""

    claims: Claims
    expires_at: int
    fetched: float
    fresh_until: float


class TokenCache:
    """Positive answers (LRU, indexed for purges) and short-lived refusals, by fingerprint."""

    def __init__(self, settings: ValidatorSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._refusals: OrderedDict[str, tuple[Reason, float]] = OrderedDict()
        # Indexes for purges: one fingerprint per token (or stake) is the rule, so a tuple (56 B),
        # not a set (216 B), at 10,000 entries.
        self._by_token: dict[str, tuple[str, ...]] = {}
        self._by_stake: dict[str, tuple[str, ...]] = {}
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    # -- positive answers -------------------------------------------------------------------
    def get(self, fp: str) -> CacheEntry | None:
        return self._entries.get(fp)

    def fresh(self, fp: str, now: float) -> CacheEntry | None:
        """The entry for `fp` while it is within its TTL."""
        entry = self._entries.get(fp)
        return entry if entry is not None and now < entry.fresh_until else None

    def touch(self, fp: str) -> None:
        """`fp` was just served: most recently used."""
        self._entries.move_to_end(fp)

    def forget(self, fp: str) -> None:
        self._entries.pop(fp, None)

    def remember(self, fp: str, claims: Claims, fetched: float) -> None:
        """A chain read at `fetched` (monotonic) found `claims`; evicts the least recent."""
        ttl, limit = self.settings.cache_ttl, self.settings.cache_size
        self._entries[fp] = CacheEntry(claims, claims.expires_at_epoch, fetched, fetched + ttl)
        self._entries.move_to_end(fp)
        _index(self._by_token, claims.token_id, fp)
        _index(self._by_stake, claims.stake_record_id, fp)
        while len(self._entries) > limit:
            old_fp, old = self._entries.popitem(last=False)
            _unindex(self._by_token, old.claims.token_id, old_fp)
            _unindex(self._by_stake, old.claims.stake_record_id, old_fp)

    # -- refusals ---------------------------------------------------------------------------
    def refusal(self, fp: str, now: float) -> Reason | None:
        """The remembered refusal of `fp`, while it lasts."""
        refused = self._refusals.get(fp)
        if refused is None:
            return None
        if now < refused[1]:
            return refused[0]
        self._refusals.pop(fp, None)
        return None

    def remember_refusal(self, fp: str, reason: Reason) -> None:
        ttl, limit = self.settings.negative_ttl, self.settings.negative_cache_size
        if ttl <= 0:
            return
        self._refusals[fp] = (reason, self._clock() + ttl)
        self._refusals.move_to_end(fp)
        while len(self._refusals) > limit:
            self._refusals.popitem(last=False)

    # -- purges (chain events) --------------------------------------------------------------
    def purge_token(self, token_id: str) -> int:
        """Forget every answer for SealToken `token_id`; returns how many."""
        return self._purge(self._by_token.pop(token_id.lower(), ()))

    def purge_stake(self, stake_id: str) -> int:
        """Forget every answer backed by StakeRecord `stake_id`; returns how many."""
        return self._purge(self._by_stake.pop(stake_id.lower(), ()))

    def purge_all(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._refusals.clear()
        self._by_token.clear()
        self._by_stake.clear()

    def _purge(self, fingerprints: tuple[str, ...]) -> int:
        self.generation += 1  # answers being fetched right now may predate the event
        for fp in fingerprints:
            self._entries.pop(fp, None)
        self._refusals.clear()
        return len(fingerprints)


def _index(index: dict[str, tuple[str, ...]], key: str, fp: str) -> None:
    held = index.get(key, ())
    if fp not in held:
        index[key] = (*held, fp)


def _unindex(index: dict[str, tuple[str, ...]], key: str, fp: str) -> None:
    held = tuple(f for f in index.get(key, ()) if f != fp)
    if held:
        index[key] = held
    else:
        index.pop(key, None)
