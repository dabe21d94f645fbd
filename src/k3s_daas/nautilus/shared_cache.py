"""The validation cache shared by master replicas (optional): Redis behind a protocol.

Each replica keeps its own in-memory cache (nautilus/validator.py); on a miss there it asks the
shared cache before the chain, and every chain read it makes is offered back. What is shared:

- entries `k3s-daas:vc:v:<SHA-256(token)>` — a hash of the Claims **sealed** with the master's
  data key (AES-256-GCM bound to the fingerprint, so whoever can write Redis can neither read nor
  forge claims), the wall time of the chain read that produced them, and the token and stake ids
  in clear (for the tombstone check); they expire `cache_ttl` after that chain read;
- tombstones `k3s-daas:vc:t:<token id>` / `k3s-daas:vc:s:<stake id>` holding the time a chain
  event (slash, unstake, revoke, rotate) was applied. A read ignores an entry produced before its
  token's or stake's tombstone (plus a clock-skew margin), in one atomic Lua call — so a replica
  that wrote a stale answer just after another replica's purge cannot bring it back.

Redis unreachable, slow (> `timeout`) or answering garbage counts as a miss: the chain stays the
source of truth and validation never fails because of the shared cache. A tombstone that cannot
be written makes that replica ignore Redis for `cache_ttl`, until every entry it should have
hidden has expired.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

from k3s_daas.log import get_logger
from k3s_daas.nautilus.shared_protocol import NoSharedCache, SharedCache, SharedEntry
from k3s_daas.nautilus.store.base import StoreConfigError, StoreError
from k3s_daas.nautilus.store.sealed import Sealer
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.errors import MissingExtraError

try:  # the `redis` extra; the master imports this module only when a shared cache is configured
    from redis import asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError:
    raise MissingExtraError("redis", "a redis:// shared cache") from None

__all__ = ["NoSharedCache", "RedisSharedCache", "SharedCache", "SharedEntry", "open_shared_cache"]

log = get_logger(__name__)

PREFIX: Final = "k3s-daas:vc:"
SKEW_MARGIN_S: Final = 2.0  # replicas' clocks may differ this much
RETRY_AFTER_S: Final = 1.0  # Redis failed: go straight to the chain for this long
#: KEYS[1] entry; ARGV[1] token tombstone prefix, ARGV[2] stake tombstone prefix, ARGV[3] margin.
_GET_SCRIPT: Final = """
local h = redis.call('HMGET', KEYS[1], 'c', 'f', 't', 's')
if not h[1] then return false end
local margin = tonumber(ARGV[3])
for i, ts in ipairs(redis.call('MGET', ARGV[1] .. h[3], ARGV[2] .. h[4])) do
  if ts and tonumber(h[2]) <= tonumber(ts) + margin then return false end
end
return {h[1], h[2]}
"""


class RedisSharedCache:
    """The shared cache on one Redis (see the module docstring for the layout)."""

    def __init__(
        self,
        client: aioredis.Redis,
        data_key: bytes,
        *,
        ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.sealer = Sealer(data_key)
        self.ttl = ttl
        self.tombstone_ttl = ttl + 2 * SKEW_MARGIN_S + 60  # outlives every entry it can hide
        self._clock = clock
        self._get = client.register_script(_GET_SCRIPT)
        self._down_until = 0.0  # after a failure, skip Redis for RETRY_AFTER_S

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, what: str, exc: Exception) -> None:
        # never shortens a longer pause (a read failing just after a tombstone did)
        self._down_until = max(self._down_until, time.monotonic() + RETRY_AFTER_S)
        log.warning(f"shared cache {what} failed", error=exc.__class__.__name__)

    @staticmethod
    def _aad_key(fingerprint: str) -> str:
        return f"/shared-cache/{fingerprint}"

    async def get(self, fingerprint: str) -> SharedEntry | None:
        if not self._available():
            return None
        try:
            found: Any = await self._get(
                keys=[PREFIX + "v:" + fingerprint],
                args=[PREFIX + "t:", PREFIX + "s:", SKEW_MARGIN_S],
            )
        except (RedisError, OSError) as exc:
            self._failed("read", exc)
            return None
        if not found:
            return None
        try:
            sealed, fetched = found
            plain = self.sealer.open(self._aad_key(fingerprint), bytes(sealed))
            return SharedEntry(Claims.model_validate_json(plain), float(fetched))
        except (StoreError, ValueError, TypeError):
            log.error("shared cache entry fails authentication; ignored", token=fingerprint[:16])
            return None

    async def put(self, fingerprint: str, claims: Claims, fetched_at: float) -> None:
        left = self.ttl - (self._clock() - fetched_at)
        if left <= 0 or not self._available():
            return
        key = PREFIX + "v:" + fingerprint
        sealed = self.sealer.seal(self._aad_key(fingerprint), claims.model_dump_json().encode())
        mapping = {
            "c": sealed,
            "f": repr(fetched_at),
            "t": claims.token_id,
            "s": claims.stake_record_id,
        }
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]  # redis-py stubs: Mapping[str|bytes,...] is invariant
                pipe.pexpire(key, max(1, int(left * 1000)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed("write", exc)

    async def _tombstone(self, key: str) -> None:
        try:
            await self.client.set(key, repr(self._clock()), ex=int(self.tombstone_ttl))
        except (RedisError, OSError) as exc:
            # Without the tombstone a pre-event entry could be read back: this replica stops
            # reading Redis until every such entry has expired (cache_ttl), and asks the chain.
            self._failed("tombstone", exc)
            self._down_until = max(self._down_until, time.monotonic() + self.ttl)

    async def forget_token(self, token_id: str) -> None:
        await self._tombstone(PREFIX + "t:" + token_id.lower())

    async def forget_stake(self, stake_id: str) -> None:
        await self._tombstone(PREFIX + "s:" + stake_id.lower())

    async def close(self) -> None:
        await self.client.aclose()


def open_shared_cache(
    url: str | None, data_key: bytes, *, ttl: float, timeout: float = 0.25
) -> SharedCache:
    """`None` -> no shared cache; `redis://host:port/db` (or `rediss://`) -> Redis."""
    if not url:
        return NoSharedCache()
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss"):
        raise StoreConfigError(f"the shared cache must be redis:// or rediss://, got {scheme!r}")
    client = aioredis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=False
    )
    return RedisSharedCache(client, data_key, ttl=ttl)
