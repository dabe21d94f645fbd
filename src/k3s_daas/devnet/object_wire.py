"""BatchGetObjects answered from stored bytes: when the read mask asks only for what the
ledger stores as it is (`bcs`, `object_id`, `version`, `digest`: a verifying reader's mask),
each result is written straight to protobuf from the object's stored BCS, without building
message objects or rendering JSON. A real node serves such reads from its store the same way;
here the devnet shares the machine with the master it serves, so its cost shows.

The bytes are exactly what the generated messages encode to (fields in number order), pinned by
tests/unit/test_devnet_object_wire.py.
"""

from __future__ import annotations

from typing import Final

from k3s_daas.chain.object_wire import length_delimited
from k3s_daas.devnet.render import MaskTree
from k3s_daas.seal.encoding import uleb128

#: Object fields (sui.rpc.v2 `Object`) this writer serves, by field number.
_OBJECT_FIELDS: Final = {"bcs": 1, "object_id": 2, "version": 3, "digest": 4}
_LEN, _VARINT = 2, 0
_BCS_NAME: Final = b"\x0a\x06Object"  # Bcs.name = "Object" (field 1)


class Encoded:
    """An answer already encoded (grpclib's codec asks a reply for `SerializeToString`)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def SerializeToString(self) -> bytes:  # grpclib's ProtoCodec asks this
        return self.raw

    def __bytes__(self) -> bytes:  # devnet.wire's codec asks this of what is not a Message
        return self.raw


def servable(tree: MaskTree) -> bool:
    """The mask selects only whole stored fields (no `*`, no sub-paths like `bcs.value`)."""
    return (
        tree is not None
        and bool(tree)
        and all(name in _OBJECT_FIELDS and sub is None for name, sub in tree.items())
    )


def object_result(
    tree: dict[str, object], object_id: str, version: int, digest: str, object_bcs: bytes
) -> bytes:
    """One `GetObjectResult{object}` with the masked fields (`servable(tree)` holds)."""
    parts: list[bytes] = []
    if "bcs" in tree:
        parts.append(length_delimited(1, _BCS_NAME + length_delimited(2, object_bcs)))
    if "object_id" in tree:
        parts.append(length_delimited(2, object_id.encode()))
    if "version" in tree:
        parts.append(bytes([3 << 3 | _VARINT]) + uleb128(version))
    if "digest" in tree:
        parts.append(length_delimited(4, digest.encode()))
    return length_delimited(1, length_delimited(1, b"".join(parts)))


def error_result(code: int, message: str) -> bytes:
    """One `GetObjectResult{error: google.rpc.Status{code, message}}`."""
    status = (bytes([1 << 3 | _VARINT]) + uleb128(code) if code else b"") + (
        length_delimited(2, message.encode()) if message else b""
    )  # proto3: default values are not written
    return length_delimited(1, length_delimited(2, status))


__all__ = ["Encoded", "error_result", "object_result", "servable"]
