"""Our package's Move events: their BCS layouts (Move field order) and the decoder.

A full node sends an event as its struct's raw BCS (`Event.contents`) and renders no JSON on
checkpoints, so the product decodes the bytes itself. An event is recognised by its full type
`<package>::<module>::<Name>`, never by `Event.module`, which names the module of the MoveCall
that emitted it (`k8s_gateway` for a `StakeCreated` of a one-call stake + mint).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

from k3s_daas.seal.encoding import read_uleb128
from k3s_daas.seal.sui import normalize_address, normalize_type


class MoveKind(StrEnum):
    """The Move field types our events use, spelled as in the Move sources."""

    ID = "ID"
    ADDRESS = "address"
    STRING = "String"
    U8 = "u8"
    U64 = "u64"
    BYTES = "vector<u8>"
    STRINGS = "vector<String>"


class EventDecodeError(ValueError):
    """The bytes do not follow the event's layout (truncated, trailing bytes, bad UTF-8)."""


@dataclass(frozen=True)
class EventLayout:
    """One event struct: its module, name and fields in declaration order."""

    module: str
    name: str
    fields: tuple[tuple[str, MoveKind], ...]

    def type_in(self, package_id: str) -> str:
        """The full normalised event type in the package `package_id`."""
        return f"{normalize_address(package_id)}::{self.module}::{self.name}"

    def decode(self, data: bytes) -> dict[str, Any]:
        """The struct's fields, typed: ints as int, ids and addresses as `0x` + 64 hex, strings
        as str, `vector<u8>` as bytes, `vector<String>` as a list of str."""
        reader = _Reader(data)
        out = {name: reader.read(kind) for name, kind in self.fields}
        if reader.pos != len(data):
            raise EventDecodeError(f"{len(data) - reader.pos} bytes after the last field")
        return out


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise EventDecodeError("truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def length(self) -> int:
        try:
            value, self.pos = read_uleb128(self.data, self.pos)
        except ValueError as exc:
            raise EventDecodeError(str(exc)) from None
        return value

    def string(self) -> str:
        try:
            return self.take(self.length()).decode("utf-8")
        except UnicodeDecodeError:
            raise EventDecodeError("a String that is not UTF-8") from None

    def read(self, kind: MoveKind) -> Any:
        if kind in (MoveKind.ID, MoveKind.ADDRESS):
            return "0x" + self.take(32).hex()
        if kind == MoveKind.U8:
            return self.take(1)[0]
        if kind == MoveKind.U64:
            return int.from_bytes(self.take(8), "little")
        if kind == MoveKind.STRING:
            return self.string()
        if kind == MoveKind.BYTES:
            return self.take(self.length())
        return [self.string() for _ in range(self.length())]


def _layout(module: str, name: str, spec: str) -> EventLayout:
    fields = tuple((f, MoveKind(k)) for f, k in (item.split(":", 1) for item in spec.split()))
    return EventLayout(module, name, fields)


#: Every event our Move package emits, as declared in contracts/sources (a unit test compares).
EVENT_LAYOUTS: Final[tuple[EventLayout, ...]] = (
    _layout(
        "staking",
        "StakeCreated",
        "stake_id:ID staker:address node_id:String stake_type:u8 amount:u64",
    ),
    _layout(
        "staking",
        "UnstakeRequested",
        "stake_id:ID staker:address node_id:String unbonding_epoch:u64",
    ),
    _layout("staking", "StakeWithdrawn", "stake_id:ID staker:address amount:u64"),
    _layout(
        "staking",
        "StakeSlashed",
        "stake_id:ID staker:address node_id:String amount:u64 remaining:u64",
    ),
    _layout(
        "k8s_gateway",
        "SealTokenCreated",
        "token_id:ID stake_id:ID owner:address node_id:String permissions:vector<String> "
        "tier:u8 expires_at:u64 enclave:ID",
    ),
    _layout("k8s_gateway", "SealTokenRotated", "token_id:ID owner:address expires_at:u64"),
    _layout("k8s_gateway", "SealTokenRevoked", "token_id:ID owner:address"),
    _layout(
        "nautilus",
        "EnclaveRegistered",
        "enclave_id:ID operator:address tier:u8 endpoint:String public_key:vector<u8>",
    ),
    _layout("nautilus", "EnclaveUpdated", "enclave_id:ID public_key:vector<u8>"),
    _layout("nautilus", "PcrsUpdated", "version:u64"),
)


@lru_cache(maxsize=16)
def layouts_for(package_id: str) -> dict[str, EventLayout]:
    """Full normalised event type -> layout, for our package published at `package_id`."""
    return {layout.type_in(package_id): layout for layout in EVENT_LAYOUTS}


def layout_of(event_type: str, package_id: str) -> EventLayout | None:
    """The layout of `event_type` when it is one of our package's events (else None)."""
    return layouts_for(normalize_address(package_id)).get(normalize_type(event_type))


__all__ = [
    "EVENT_LAYOUTS",
    "EventDecodeError",
    "EventLayout",
    "MoveKind",
    "layout_of",
    "layouts_for",
]
