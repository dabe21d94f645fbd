"""Byte-level encodings every layer shares: canonical JSON, depth-bounded JSON parsing, BCS's
ULEB128, base64, one-line errors.

They live in the bottom layer so that the signed-request bytes, the audit chain's hashes, the
devnet's digests and the chain client's BCS agree by construction: one implementation each.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import from_json

#: ULEB128 lengths in BCS are u32: at most 5 bytes.
_ULEB_MAX_SHIFT = 28

#: How deep a request body may nest arrays and objects; ours need fewer than 10 levels.
MAX_JSON_DEPTH: Final = 32
#: A JSON string, closed or running to the end (so the scan never retries: linear time).
_JSON_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*+"?', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE: Final = bytes.maketrans(b"{}", b"[]")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, ASCII only, no NaN: one byte string per value on every platform.

    What is signed or hashed (signed requests, audit entries, devnet digests) must not depend on
    dict order or on the encoder's defaults, so it goes through here.
    """
    return _encode(value).encode("ascii")


#: The options; `json.dumps` with them would make a new encoder on every call.
_CANONICAL: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)


def _canonical_encoder() -> Callable[[Any], str]:
    """`_CANONICAL.encode`, with CPython's C encoder for these options made once: `encode` makes
    a new one on every call (a quarter of its cost; twice per heartbeat). The C encoder keeps no
    circular-reference marks, so a cycle is a RecursionError rather than a ValueError: only the
    product's own values are encoded here, and parsed JSON cannot hold a cycle."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # another Python: the pure encoder, as it was
        return _CANONICAL.encode
    c_encoder = make(
        None,  # no circular-reference marks
        _CANONICAL.default,
        json.encoder.encode_basestring_ascii,  # ensure_ascii
        None,  # no indent
        _CANONICAL.key_separator,
        _CANONICAL.item_separator,
        True,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )

    def encode(value: Any) -> str:
        return "".join(c_encoder(value, 0))

    return encode


_encode: Final = _canonical_encoder()


def check_json_depth(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """ValueError when `raw` nests deeper than `max_depth`, before any parser recurses into it.

    Strings are cut out first (a bracket in a string does not nest); each pass then removes the
    innermost `[]` pairs, so `max_depth` passes empty any balanced body that is shallow enough.
    A body with at most `max_depth` opening brackets cannot nest deeper: it skips the scan (the
    parser still refuses unbalanced ones).
    """
    if raw.count(b"{") + raw.count(b"[") <= max_depth:
        return
    brackets = _JSON_STRING.sub(b"", raw).translate(_SQUARE, _NOT_BRACKETS)
    too_deep = ValueError(f"JSON nested deeper than {max_depth} levels")
    if b"[" * (max_depth + 1) in brackets:
        raise too_deep
    for _ in range(max_depth):
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    if b"[]" in brackets:
        raise too_deep
    if brackets:
        raise ValueError("JSON brackets do not match")


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A request body as JSON: depth checked first, then parsed; ValueError says what is wrong."""
    check_json_depth(raw, max_depth)
    return from_json(raw)


def uleb128(n: int) -> bytes:
    """ULEB128, BCS's length prefix."""
    if n < 0:
        raise ValueError("ULEB128 encodes non-negative integers")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_uleb128(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Decode a ULEB128 (u32) at `pos`; returns (value, position after it).

    Raises ValueError on a truncated or over-long encoding, so a caller can turn it into its own
    error without reading past the buffer.
    """
    value = shift = 0
    while True:
        if pos >= len(data) or shift > _ULEB_MAX_SHIFT:
            raise ValueError("bad ULEB128 length")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def b64encode(data: bytes) -> str:
    """Standard base64 as text (how Sui and our answers carry bytes in JSON)."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Strict standard base64: padding and alphabet checked, ValueError otherwise."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc


def first_error(exc: ValidationError, default_location: str = "body") -> str:
    """The first problem of a pydantic error as one line (`where: what`), never echoing input.

    Users get one clear line for a bad body, setting or file; the value itself may be a secret.
    """
    return first_error_line(exc.errors(include_url=False, include_input=False), default_location)


def first_error_line(errors: Sequence[Mapping[str, Any]], default_location: str = "body") -> str:
    """`first_error` for error lists that do not come from a ValidationError (e.g. FastAPI's
    RequestValidationError): only the location and the message are used, never the input."""
    if not errors:
        return f"{default_location}: invalid"
    where = ".".join(str(p) for p in errors[0].get("loc", ())) or default_location
    return f"{where}: {errors[0].get('msg', 'invalid')}"
