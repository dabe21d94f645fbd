"""The devnet's gRPC answers encoded without betterproto2's per-field overhead: its `bytes(msg)`
builds a default value under `warnings.catch_warnings()` for every field and a `BytesIO` for every
varint, which made encoding most of an ExecuteTransaction's cost. Same bytes as `bytes(msg)`
(tests/unit/test_devnet_wire.py compares them); what this does not handle goes to betterproto2.
"""

from __future__ import annotations

import struct
import warnings
from typing import Any, Final

import betterproto2
from betterproto2 import Message
from grpclib.encoding.base import CodecBase
from pydantic.dataclasses import is_pydantic_dataclass

_VARINT: Final = frozenset(
    {
        betterproto2.TYPE_ENUM,
        betterproto2.TYPE_BOOL,
        betterproto2.TYPE_INT32,
        betterproto2.TYPE_INT64,
        betterproto2.TYPE_UINT32,
        betterproto2.TYPE_UINT64,
    }
)
_PACKED: Final = frozenset(betterproto2.PACKED_TYPES)
#: Fixed-width scalars: struct format and wire type.
_FIXED: Final = {
    betterproto2.TYPE_FLOAT: ("<f", 5),
    betterproto2.TYPE_DOUBLE: ("<d", 1),
    betterproto2.TYPE_FIXED32: ("<I", 5),
    betterproto2.TYPE_SFIXED32: ("<i", 5),
    betterproto2.TYPE_FIXED64: ("<Q", 1),
    betterproto2.TYPE_SFIXED64: ("<q", 1),
}
_KINDS: Final = {
    betterproto2.TYPE_STRING: "string",
    betterproto2.TYPE_BYTES: "bytes",
    betterproto2.TYPE_MESSAGE: "message",
}

#: One field of a plan: (name, key bytes, kind, repeated, default, map entry kinds); kind is how
#: the value is written: "varint", a struct format ("<d": fixed width), "string", "bytes",
#: "message", "packed" (varints), "map", or "other" (by betterproto2 itself).
Field = tuple[str, bytes, str, bool, Any, tuple[str, str]]
_plans: dict[type[Message], list[Field] | None] = {}


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint (negative int32/int64 as their 64-bit two's complement)."""
    if 0 <= value < 0x80:
        return bytes((value,))
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _scalar_kind(proto_type: str, unwrap: Any) -> str:
    if unwrap is not None:
        return "other"
    if proto_type in _FIXED:
        return _FIXED[proto_type][0]  # the struct format is the kind
    return "varint" if proto_type in _VARINT else _KINDS.get(proto_type, "other")


def _kind(meta: Any) -> str:
    if meta.map_meta:
        key, value = meta.map_meta
        kinds = {
            _scalar_kind(key.proto_type, key.unwrap),
            _scalar_kind(value.proto_type, value.unwrap),
        }
        return "map" if kinds <= {"varint", "string", "bytes", "message"} else "other"
    if meta.repeated and meta.proto_type in _PACKED:
        return "packed" if meta.proto_type in _VARINT else "other"
    return _scalar_kind(meta.proto_type, meta.unwrap)


def _plan(cls: type[Message]) -> list[Field] | None:
    """How to write `cls`'s fields, in betterproto2's order; None: leave it to betterproto2."""
    if cls in _plans:
        return _plans[cls]
    plan: list[Field] | None = None
    if cls.__bytes__ is Message.__bytes__ and not is_pydantic_dataclass(cls):
        info: Any = getattr(cls, "_betterproto")  # noqa: B009 - betterproto2's class metadata
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            defaults = {name: gen() for name, gen in info.default_gen.items()}
        plan = []
        for name, meta in info.meta_by_field_name.items():
            kind = _kind(meta)
            wire = 0 if kind == "varint" else 2
            if meta.proto_type in _FIXED and kind != "other":
                wire = _FIXED[meta.proto_type][1]
            key = varint(meta.number << 3 | wire)
            entry = ("", "")
            if kind == "map":
                k, v = meta.map_meta
                entry = (_scalar_kind(k.proto_type, k.unwrap), _scalar_kind(v.proto_type, v.unwrap))
            plan.append((name, key, kind, bool(meta.repeated), defaults[name], entry))
    _plans[cls] = plan
    return plan


def encode(message: Message) -> bytes:
    """`bytes(message)`, faster."""
    plan = _plan(type(message))
    if plan is None:
        return bytes(message)
    out: list[bytes] = []
    for name, key, kind, repeated, default, entry in plan:
        value = getattr(message, name)
        if value is None or value == default:
            continue
        if kind == "other":
            out.append(_other(message, name, value))
        elif kind == "packed":
            data = b"".join(varint(int(item)) for item in value)
            out += (key, varint(len(data)), data)
        elif kind == "map":
            for k, v in value.items():
                data = _single(b"\x08" if entry[0] == "varint" else b"\x0a", entry[0], k)
                data += _single(b"\x10" if entry[1] == "varint" else b"\x12", entry[1], v)
                out += (key, varint(len(data)), data)
        else:
            for item in value if repeated else (value,):
                out.append(_single(key, kind, item))
    out.append(message._unknown_fields)
    return b"".join(out)


def _single(key: bytes, kind: str, value: Any) -> bytes:
    """One field: its key, then the varint or the length-prefixed bytes."""
    if kind == "varint":
        return key + varint(int(value))
    if kind.startswith("<"):
        return key + struct.pack(kind, value)
    data: bytes = _TO_BYTES[kind](value)
    return key + varint(len(data)) + data


_TO_BYTES: Final[dict[str, Any]] = {
    "string": str.encode,
    "bytes": bytes,
    "message": encode,
}


def _other(message: Message, name: str, value: Any) -> bytes:
    """One field written by betterproto2 itself (maps, packed lists, wrappers, fixed widths):
    a fresh message of the same type holding only that field."""
    lone = type(message)()
    setattr(lone, name, value)
    return bytes(lone)


class FastProtoCodec(CodecBase):
    """grpclib's ProtoCodec with `encode` above (decoding is betterproto2's)."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        if not isinstance(message, message_type):
            raise TypeError(f"Message must be of type {message_type!r}, not {type(message)!r}")
        return encode(message)

    def decode(self, data: bytes, message_type: Any) -> Any:
        return message_type.FromString(data)
