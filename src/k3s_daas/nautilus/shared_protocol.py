"""What the validator asks of a cache shared between master replicas, and the default: none.

The Redis implementation (nautilus/shared_cache.py) needs the `redis` extra, so the validator
depends only on this protocol and the master imports Redis only when a shared cache is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from k3s_daas.seal.claims import Claims


@dataclass(frozen=True)
class SharedEntry:
    claims: Claims
    fetched_at: float  # wall time of the chain read


class SharedCache(Protocol):
    """What the validator asks of a cache shared between replicas."""

    async def get(self, fingerprint: str) -> SharedEntry | None: ...
    async def put(self, fingerprint: str, claims: Claims, fetched_at: float) -> None: ...
    async def forget_token(self, token_id: str) -> None: ...
    async def forget_stake(self, stake_id: str) -> None: ...
    async def close(self) -> None: ...


class NoSharedCache:
    """The default: every replica caches on its own."""

    async def get(self, fingerprint: str) -> SharedEntry | None:
        return None

    async def put(self, fingerprint: str, claims: Claims, fetched_at: float) -> None:
        return None

    async def forget_token(self, token_id: str) -> None:
        return None

    async def forget_stake(self, stake_id: str) -> None:
        return None

    async def close(self) -> None:
        return None
