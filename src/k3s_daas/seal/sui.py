"""Sui's own primitives: addresses and object ids, Move type names, id derivation, the SUI coin.

Kept in the bottom layer (pure, no I/O) because the token format, the chain client, the devnet
and the master all name the same objects and types and must spell them identically.
"""

from __future__ import annotations

import hashlib
import re
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
_HEX_DIGITS = frozenset("0123456789abcdef")


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
    if not text or len(text) > ADDRESS_HEX_DIGITS or not set(text) <= _HEX_DIGITS:
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
