"""`BytesStore`: a bytes-valued view of a `Store` for callers that never handle revisions.

The registry, the nonce cache and the chain cursor only need "the value" and "swap if it is
still what I read"; this keeps revisions out of their code while staying atomic (the swap is a
revision compare-and-set underneath).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from k3s_daas.nautilus.store.base import Store, WatchStream


class BytesStore:
    """get -> bytes | None; compare_and_set(key, expected_value, new_value)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, key: str) -> bytes | None:
        """The value at `key`, or None."""
        entry = await self.store.get(key)
        return None if entry is None else entry.value

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        """Write unconditionally; returns the revision."""
        return await self.store.put(key, value, ttl=ttl)

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        """Write every `(key, value)` atomically; returns the revision."""
        return await self.store.put_many(items)

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        """Write `value` only if the current value equals `expected` (None: absent)."""
        if expected is None:
            return await self.store.compare_and_set(key, value, expected_revision=None, ttl=ttl)
        entry = await self.store.get(key)
        if entry is None or not hmac.compare_digest(entry.value, expected):
            return False
        return await self.store.compare_and_set(
            key, value, expected_revision=entry.revision, ttl=ttl
        )

    async def delete(self, key: str) -> bool:
        """Remove `key`; True if it existed."""
        return await self.store.delete(key)

    async def range(self, prefix: str, *, limit: int | None = None) -> list[tuple[str, bytes]]:
        """(key, value) pairs under `prefix`, by key."""
        return [(k, e.value) for k, e in await self.store.range(prefix, limit=limit)]

    def watch(self, prefix: str) -> WatchStream:
        """The underlying store's watch (events carry `Entry`s)."""
        return self.store.watch(prefix)

    async def close(self) -> None:
        """Close the underlying store."""
        await self.store.close()
