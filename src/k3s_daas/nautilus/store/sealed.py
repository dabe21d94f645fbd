"""Values at rest sealed with AES-256-GCM, for any backend (`SealedStore` wraps a `Store`).

Format: version byte 0x01 || 12-byte random nonce || ciphertext+tag; associated data = the
version byte + the key path, so a value copied to another key, a flipped bit or another data
key all fail to open (`StoreIntegrityError`, reason `store_tampered`). Keys stay plaintext
(prefix ranges need them): never put a secret in a key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from k3s_daas.nautilus.store.base import (
    Entry,
    Store,
    StoreConfigError,
    StoreIntegrityError,
    WatchEvent,
    WatchStream,
    check_key,
)

VERSION: Final = 0x01
NONCE_LENGTH: Final = 12
TAG_LENGTH: Final = 16
KEY_LENGTH: Final = 32
OVERHEAD: Final = 1 + NONCE_LENGTH + TAG_LENGTH


class Sealer:
    """AES-256-GCM bound to the key path; the data key comes from the enclave."""

    def __init__(self, data_key: bytes) -> None:
        if not isinstance(data_key, bytes) or len(data_key) != KEY_LENGTH:
            raise StoreConfigError(f"the data key must be {KEY_LENGTH} bytes")
        self._aead = AESGCM(data_key)

    @staticmethod
    def _associated_data(key: str) -> bytes:
        return bytes([VERSION]) + check_key(key).encode("utf-8", "surrogatepass")

    def seal(self, key: str, plaintext: bytes) -> bytes:
        """The sealed form of `plaintext` for storage under `key` (fresh random nonce)."""
        nonce = os.urandom(NONCE_LENGTH)
        sealed = self._aead.encrypt(nonce, plaintext, self._associated_data(key))
        return bytes([VERSION]) + nonce + sealed

    def open(self, key: str, blob: bytes) -> bytes:
        """The plaintext of a value read from `key`; anything unauthentic raises."""
        if len(blob) < OVERHEAD or blob[0] != VERSION:
            raise StoreIntegrityError(f"value at {key} is not a sealed v1 value", key=key)
        nonce, sealed = blob[1 : 1 + NONCE_LENGTH], blob[1 + NONCE_LENGTH :]
        try:
            return self._aead.decrypt(nonce, sealed, self._associated_data(key))
        except InvalidTag:
            raise StoreIntegrityError(
                f"value at {key} fails authentication (tampered, moved, or another data key)",
                key=key,
            ) from None


class _SealedWatch(WatchStream):
    """The inner store's events with their values opened."""

    def __init__(self, inner: WatchStream, sealer: Sealer) -> None:
        super().__init__()
        self._inner = inner
        self._sealer = sealer

    async def _open(self) -> None:
        await self._inner.start()

    async def _close(self) -> None:
        await self._inner.aclose()

    async def _next(self) -> WatchEvent | None:
        try:
            event = await anext(self._inner)
        except StopAsyncIteration:
            return None
        if event.entry is None:
            return event
        value = self._sealer.open(event.key, event.entry.value)
        return WatchEvent(event.kind, event.key, Entry(value, event.entry.revision))


class SealedStore:
    """A `Store` whose values are sealed at rest in `inner`; revisions pass through unchanged."""

    def __init__(self, inner: Store, data_key: bytes) -> None:
        self.inner = inner
        self.sealer = Sealer(data_key)

    def _open(self, key: str, entry: Entry) -> Entry:
        return Entry(self.sealer.open(key, entry.value), entry.revision)

    async def get(self, key: str) -> Entry | None:
        entry = await self.inner.get(key)
        return None if entry is None else self._open(key, entry)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        return await self.inner.put(key, self.sealer.seal(key, value), ttl=ttl)

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        return await self.inner.put_many([(k, self.sealer.seal(k, v)) for k, v in items])

    async def compare_and_set(
        self,
        key: str,
        value: bytes,
        *,
        expected_revision: int | None,
        ttl: float | None = None,
    ) -> bool:
        return await self.inner.compare_and_set(
            key, self.sealer.seal(key, value), expected_revision=expected_revision, ttl=ttl
        )

    async def delete(self, key: str) -> bool:
        return await self.inner.delete(key)

    async def range(
        self, prefix: str, *, limit: int | None = None, after: str | None = None
    ) -> list[tuple[str, Entry]]:
        rows = await self.inner.range(prefix, limit=limit, after=after)
        return [(key, self._open(key, entry)) for key, entry in rows]

    def watch(self, prefix: str) -> WatchStream:
        return _SealedWatch(self.inner.watch(prefix), self.sealer)

    async def close(self) -> None:
        await self.inner.close()
