"""Sui's own primitives: addresses and object ids, Move type names, id derivation, the SUI coin.

Kept in the bottom layer (pure, no I/O) because the token format, the chain client, the devnet
and the master all name the same objects and types and must spell them identically.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

import base58

ADDRESS_HEX_DIGITS: Final = 64
SUI_FRAMEWORK: Final = "0x" + "2".rjust(ADDRESS_HEX_DIGITS, "0")
MOVE_STDLIB: Final = "0x" + "1".rjust(ADDRESS_HEX_DIGITS, "0")
#: The SUI coin type and `Coin<SUI>`, in normalised (long) form.
SUI_TYPE: Final = f"{SUI_FRAMEWORK}::sui::SUI"
COIN_SUI_TYPE: Final = f"{SUI_FRAMEWORK}::coin::Coin<{SUI_TYPE}>"
#: The short form gRPC balance requests use.
SUI_COIN_TAG: Final = "0x2::sui::SUI"

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{1,64}(?![0-9a-fA-F])")
#: An address after `0x` and lower-casing: 1 to 64 hex digits (a regex: a third of a set test).
_ADDRESS_DIGITS = re.compile(r"[0-9a-f]{1,64}")


def blake2b256(data: bytes) -> bytes:
    """Sui's hash for addresses, digests and derived ids."""
    return hashlib.blake2b(data, digest_size=32).digest()


def normalize_address(address: str) -> str:
    """`0x` + 64 lower-case hex digits; short forms such as `0x2` are padded as Sui does.

    Raises ValueError (never echoing more than 80 characters) for anything that is not one.
    """
    if not isinstance(address, str):
        raise ValueError("a Sui address is a string")
    text = address.lower().removeprefix("0x")
    if _ADDRESS_DIGITS.fullmatch(text) is None:
        raise ValueError(f"not a Sui address: {address[:80]!r}")
    return "0x" + text.rjust(ADDRESS_HEX_DIGITS, "0")


def is_address(text: str) -> bool:
    """Whether `text` normalises to a Sui address (object ids are addresses too)."""
    try:
        normalize_address(text)
    except ValueError:
        return False
    return True


def normalize_type(type_text: str) -> str:
    """Pad every address in a Move type to 64 lower-case hex digits (`0x2::sui::SUI` -> long)."""
    return _HEX_ADDRESS.sub(
        lambda m: "0x" + m.group(0)[2:].lower().rjust(ADDRESS_HEX_DIGITS, "0"), type_text.strip()
    )


def derive_object_id(tx_digest: str, index: int) -> str:
    """Id of the `index`-th object a transaction creates (the devnet's simplification of Sui's):
    blake2b-256(tx digest bytes ‖ creation index u64 LE), without Sui's 0xf1 scope byte."""
    data = base58.b58decode(tx_digest) + index.to_bytes(8, "little")
    return "0x" + blake2b256(data).hex()


def derive_dynamic_field_id(parent: str, name: bytes) -> str:
    """Id of a table entry (dynamic field) under `parent`, as the devnet derives it."""
    return "0x" + blake2b256(bytes.fromhex(normalize_address(parent)[2:]) + name).hex()


# -- Move type tags -------------------------------------------------------------------------------
#: Primitive Move types a type parameter may name.
PRIMITIVE_TYPES: Final = frozenset(
    {"bool", "u8", "u16", "u32", "u64", "u128", "u256", "address", "signer"}
)
_TYPE_WORD = re.compile(r"\s*(0x[0-9a-fA-F]+|[A-Za-z_][A-Za-z0-9_]*|::|<|>|,)")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*|_[A-Za-z0-9_]+")
MAX_TYPE_TEXT = 1024


@dataclass(frozen=True)
class StructTag:
    """A parsed Move struct type `address::module::Name<params>`, as Sui's `StructTag`.

    `type_params` holds canonical type strings. A tag without params, used as a filter, matches
    every instantiation (Sui's ListOwnedObjects rule); with params it matches exactly."""

    address: str
    module: str
    name: str
    type_params: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        return f"{self.address}::{self.module}::{self.name}"

    def __str__(self) -> str:
        params = f"<{', '.join(self.type_params)}>" if self.type_params else ""
        return self.base + params

    def matches(self, other: StructTag) -> bool:
        """Whether `other` (an object's type) passes this tag used as a filter."""
        return self.base == other.base and (
            not self.type_params or self.type_params == other.type_params
        )


class _TypeParser:
    def __init__(self, text: str) -> None:
        self.words: list[str] = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            match = _TYPE_WORD.match(stripped, pos)
            if match is None:
                raise ValueError(f"unexpected character at {pos}")
            self.words.append(match.group(1))
            pos = match.end()
        self.pos = 0

    def peek(self) -> str | None:
        return self.words[self.pos] if self.pos < len(self.words) else None

    def take(self, expected: str | None = None) -> str:
        word = self.peek()
        if word is None or (expected is not None and word != expected):
            raise ValueError(f"expected {expected or 'more'}, found {word or 'the end'}")
        self.pos += 1
        return word

    def identifier(self) -> str:
        word = self.take()
        if not _IDENTIFIER.fullmatch(word):
            raise ValueError(f"not an identifier: {word[:40]}")
        return word

    def type_tag(self, depth: int) -> str:
        if depth > 8:
            raise ValueError("type nested too deeply")
        word = self.peek()
        if word == "vector":
            self.take()
            self.take("<")
            inner = self.type_tag(depth + 1)
            self.take(">")
            return f"vector<{inner}>"
        if word in PRIMITIVE_TYPES:
            return self.take()
        return str(self.struct_tag(depth))

    def struct_tag(self, depth: int) -> StructTag:
        address = normalize_address(self.take())
        self.take("::")
        module = self.identifier()
        self.take("::")
        name = self.identifier()
        params: list[str] = []
        if self.peek() == "<":
            self.take()
            params.append(self.type_tag(depth + 1))
            while self.peek() == ",":
                self.take()
                params.append(self.type_tag(depth + 1))
            self.take(">")
        return StructTag(address, module, name, tuple(params))


def parse_struct_tag(text: str) -> StructTag:
    """A full struct type (`0x2::coin::Coin<0x2::sui::SUI>`); ValueError for anything else,
    including a bare module or address (no prefix matching, as on Sui)."""
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TYPE_TEXT:
        raise ValueError("not a Move struct type")
    parser = _TypeParser(text)
    tag = parser.struct_tag(0)
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()!s:.40} after the type")
    return tag
