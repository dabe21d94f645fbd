"""BCS reading and writing for Sui's certified structs, and Sui's salted digest.

Strict on purpose: every length and tag is checked, ULEB128 must be minimal, options and bools
are 0 or 1, and a top-level decode must consume every byte. What a node sends is data to judge,
so a malformed byte string is an error (`BcsError`), never a best guess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final, TypeVar

import base58

from k3s_daas.seal.encoding import read_uleb128, uleb128
from k3s_daas.seal.sui import blake2b256, normalize_address

T = TypeVar("T")
DIGEST_LENGTH: Final = 32
ADDRESS_LENGTH: Final = 32
#: Collections longer than this are refused before anything is allocated for them.
MAX_LENGTH: Final = 1 << 24


class BcsError(ValueError):
    """Bytes that do not follow the layout (truncated, trailing bytes, bad tag or length)."""


def sui_digest(type_name: str, bcs: bytes) -> bytes:
    """Sui's `default_hash`: blake2b-256 of `"<TypeName>::" || bcs` (`sui-types` crypto.rs)."""
    return blake2b256(type_name.encode("ascii") + b"::" + bcs)


def digest_to_base58(digest: bytes) -> str:
    """How sui.rpc.v2 spells a digest in its string fields."""
    return base58.b58encode(digest).decode("ascii")


def digest_from_base58(text: str) -> bytes:
    """A base58 digest string as its 32 bytes; ValueError for anything else."""
    try:
        raw = base58.b58decode(text)
    except ValueError as exc:
        raise ValueError("a digest is base58") from exc
    if len(raw) != DIGEST_LENGTH:
        raise ValueError(f"a digest is {DIGEST_LENGTH} bytes")
    return raw


def address_hex(raw: bytes) -> str:
    """A 32-byte address or object id as the project spells it: `0x` + 64 lower-case hex."""
    return "0x" + raw.hex()


def address_bytes(address: str) -> bytes:
    """The 32 bytes of a `0x` address (short forms such as `0x2` are padded)."""
    return bytes.fromhex(normalize_address(address)[2:])


class Reader:
    """A cursor over BCS bytes; every read checks the bounds."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise BcsError("truncated")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "little")

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "little")

    def uleb(self) -> int:
        start = self.pos
        if start < len(self.data) and self.data[start] < 0x80:  # one byte: tags, short lengths
            self.pos = start + 1
            return self.data[start]
        try:
            value, self.pos = read_uleb128(self.data, self.pos)
        except ValueError:
            raise BcsError("bad ULEB128") from None
        if self.pos - start > 1 and self.data[self.pos - 1] == 0:
            raise BcsError("non-canonical ULEB128")
        return value

    def length(self) -> int:
        n = self.uleb()
        if n > MAX_LENGTH:
            raise BcsError("length too large")
        return n

    def tag(self, variants: int, what: str) -> int:
        """An enum's variant index, one of `range(variants)`."""
        value = self.uleb()
        if value >= variants:
            raise BcsError(f"unknown {what} variant {value}")
        return value

    def boolean(self) -> bool:
        value = self.u8()
        if value > 1:
            raise BcsError("a bool is 0 or 1")
        return value == 1

    def byte_vector(self) -> bytes:
        return self.take(self.length())

    def fixed_bytes(self, n: int) -> bytes:
        """`serde_with::Bytes` of a fixed size: a ULEB length that must equal `n`, then n bytes."""
        if self.uleb() != n:
            raise BcsError(f"expected a {n}-byte field")
        return self.take(n)

    def digest(self) -> bytes:
        return self.fixed_bytes(DIGEST_LENGTH)

    def address(self) -> str:
        return address_hex(self.take(ADDRESS_LENGTH))

    def string(self) -> str:
        try:
            return self.byte_vector().decode("utf-8")
        except UnicodeDecodeError:
            raise BcsError("a string that is not UTF-8") from None

    def option(self, read: Callable[[], T]) -> T | None:
        flag = self.u8()
        if flag > 1:
            raise BcsError("an option tag is 0 or 1")
        return read() if flag else None

    def vector(self, read: Callable[[], T]) -> tuple[T, ...]:
        return tuple(read() for _ in range(self.length()))

    def finish(self, what: str) -> None:
        if self.pos != len(self.data):
            raise BcsError(f"{len(self.data) - self.pos} bytes after the {what}")


def decode_all(data: bytes, read: Callable[[Reader], T], what: str) -> T:
    """Decode one value that must span all of `data`."""
    reader = Reader(bytes(data))
    value = read(reader)
    reader.finish(what)
    return value


# -- writing --------------------------------------------------------------------------------------
def u8(value: int) -> bytes:
    return value.to_bytes(1, "little")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "little")


def u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def boolean(value: bool) -> bytes:
    return b"\x01" if value else b"\x00"


def byte_vector(value: bytes) -> bytes:
    return uleb128(len(value)) + value


def digest(value: bytes) -> bytes:
    if len(value) != DIGEST_LENGTH:
        raise ValueError(f"a digest is {DIGEST_LENGTH} bytes")
    return byte_vector(value)


def address(value: str) -> bytes:
    return address_bytes(value)


def string(value: str) -> bytes:
    return byte_vector(value.encode("utf-8"))


def option(value: T | None, write: Callable[[T], bytes]) -> bytes:
    return b"\x00" if value is None else b"\x01" + write(value)


def vector(values: Iterable[T], write: Callable[[T], bytes]) -> bytes:
    items = [write(v) for v in values]
    return uleb128(len(items)) + b"".join(items)


def tag(index: int) -> bytes:
    return uleb128(index)


__all__ = [
    "ADDRESS_LENGTH",
    "DIGEST_LENGTH",
    "BcsError",
    "Reader",
    "address_bytes",
    "address_hex",
    "decode_all",
    "digest_from_base58",
    "digest_to_base58",
    "sui_digest",
]
