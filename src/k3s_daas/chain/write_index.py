"""The verified reader's index of object writes (`chain.verified`): for each object id, the version
and digest of its last write in a verified checkpoint, and that checkpoint's number.

It holds every object any verified checkpoint wrote since genesis, so it is stored compactly: the
id's 32 bytes as the key and one bytes value (version and checkpoint as 8 bytes each, then the
digest), ~175 B an object with the dict's share, half what a text key and nested tuples took.
An object deleted or wrapped by its last write is forgotten: the reader treats such an object
exactly as one never written (absent when not served, unproven when served).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from k3s_daas.chain.certified.bcs import address_bytes, address_hex
from k3s_daas.chain.verified_checkpoint import Write


class LastWrite(NamedTuple):
    """The last verified write of an object: its version and digest, and where it was proven."""

    version: int
    digest: bytes
    checkpoint: int


class WriteIndex:
    """Object id -> `LastWrite`, fed checkpoint by checkpoint in order (module docstring)."""

    def __init__(self) -> None:
        self._entries: dict[bytes, bytes] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, writes: Mapping[str, Write], checkpoint: int) -> None:
        """The writes of verified checkpoint `checkpoint` (None: deleted or wrapped)."""
        for object_id, write in writes.items():
            key = address_bytes(object_id)
            if write is None:
                self._entries.pop(key, None)
            else:
                version, digest = write
                self._entries[key] = (
                    version.to_bytes(8, "little") + checkpoint.to_bytes(8, "little") + digest
                )

    def last_write(self, object_id: str) -> LastWrite | None:
        """The last write of `object_id` spelt as verified ids are (`0x` + 64 lower-case hex);
        None if none is indexed, or for any other spelling (no verified write has one)."""
        key = _key(object_id)
        packed = None if key is None else self._entries.get(key)
        if packed is None:
            return None
        version = int.from_bytes(packed[:8], "little")
        return LastWrite(version, packed[16:], int.from_bytes(packed[8:16], "little"))


def _key(object_id: str) -> bytes | None:
    """The id's 32 bytes when it is spelt exactly as verified ids are, else None."""
    try:
        key = address_bytes(object_id)
    except ValueError:
        return None
    return key if address_hex(key) == object_id else None
