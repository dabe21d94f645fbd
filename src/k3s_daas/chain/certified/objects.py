"""Sui's `Object` in BCS: a Move object or a package, its owner, the transaction that last wrote
it and its storage rebate. Its digest (`"Object::" ‖ bcs`) is what effects record per write.

Layout: `sui-types` object.rs (`ObjectInner`, serde name "Object") and sui-rust-sdk object.rs,
checked on the 1,019 objects checkpoint 1137 writes. A Move object's type is written in Sui's
compact form for coins, staked SUI and balance accumulator fields (`MoveObjectType`); like the
SDK, a non-canonical form (`Other(Coin<SUI>)`) is refused. Maps are BCS-canonical: entries
ascend by their encoded key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeVar

from k3s_daas.chain.certified import bcs
from k3s_daas.chain.certified.move_types import (
    StructType,
    TypeTag,
    read_struct,
    read_type,
    write_struct,
    write_type,
)
from k3s_daas.chain.certified.owner import Owner

K = TypeVar("K")
V = TypeVar("V")
_SUI: Final = StructType("0x2", "sui", "SUI")
_STAKED_SUI: Final = StructType("0x3", "staking_pool", "StakedSui")


def coin_type(inner: TypeTag) -> StructType:
    """`0x2::coin::Coin<inner>`."""
    return StructType("0x2", "coin", "Coin", (inner,))


def balance_accumulator_field_type(inner: TypeTag) -> StructType:
    """`0x2::dynamic_field::Field<0x2::accumulator::Key<0x2::balance::Balance<inner>>,
    0x2::accumulator::U128>`."""
    key = StructType(
        "0x2", "accumulator", "Key", (StructType("0x2", "balance", "Balance", (inner,)),)
    )
    value = StructType("0x2", "accumulator", "U128")
    return StructType("0x2", "dynamic_field", "Field", (key, value))


class TypeForm(IntEnum):
    """`MoveObjectType` variants: how a Move object's struct type is written."""

    OTHER = 0
    GAS_COIN = 1
    STAKED_SUI = 2
    COIN = 3
    SUI_BALANCE_ACCUMULATOR_FIELD = 4
    BALANCE_ACCUMULATOR_FIELD = 5


def _accumulator_inner(tag: StructType) -> TypeTag | None:
    key = tag.type_params[0] if tag.type_params else None
    balance = key.type_params[0] if isinstance(key, StructType) and key.type_params else None
    if not isinstance(balance, StructType) or len(balance.type_params) != 1:
        return None
    inner = balance.type_params[0]
    return inner if tag == balance_accumulator_field_type(inner) else None


def compact_form(tag: StructType) -> tuple[TypeForm, TypeTag | None]:
    """The form Sui writes for `tag` (`MoveStructTypeRef::from_struct_tag`) and its T."""
    if tag == _STAKED_SUI:
        return TypeForm.STAKED_SUI, None
    if len(tag.type_params) == 1 and tag == coin_type(tag.type_params[0]):
        inner = tag.type_params[0]
        return (TypeForm.GAS_COIN, None) if inner == _SUI else (TypeForm.COIN, inner)
    balance = _accumulator_inner(tag)
    if balance is not None:
        if balance == _SUI:
            return TypeForm.SUI_BALANCE_ACCUMULATOR_FIELD, None
        return TypeForm.BALANCE_ACCUMULATOR_FIELD, balance
    return TypeForm.OTHER, None


def _write_object_type(tag: StructType) -> bytes:
    form, inner = compact_form(tag)
    if form == TypeForm.OTHER:
        return bcs.tag(form) + write_struct(tag)
    return bcs.tag(form) + (b"" if inner is None else write_type(inner))


def _read_object_type(reader: bcs.Reader) -> StructType:
    form = TypeForm(reader.tag(len(TypeForm), "MoveObjectType"))
    if form == TypeForm.OTHER:
        tag = read_struct(reader)
    elif form == TypeForm.GAS_COIN:
        tag = coin_type(_SUI)
    elif form == TypeForm.STAKED_SUI:
        tag = _STAKED_SUI
    elif form == TypeForm.COIN:
        tag = coin_type(read_type(reader))
    elif form == TypeForm.SUI_BALANCE_ACCUMULATOR_FIELD:
        tag = balance_accumulator_field_type(_SUI)
    else:
        tag = balance_accumulator_field_type(read_type(reader))
    if compact_form(tag)[0] != form:
        raise bcs.BcsError("non-canonical MoveObjectType")
    return tag


def _write_map(
    entries: tuple[tuple[K, V], ...], key: Callable[[K], bytes], value: Callable[[V], bytes]
) -> bytes:
    encoded = sorted((key(k), value(v)) for k, v in entries)
    return bcs.vector(encoded, lambda kv: kv[0] + kv[1])


def _read_map(
    reader: bcs.Reader, key: Callable[[], K], value: Callable[[], V]
) -> tuple[tuple[K, V], ...]:
    out: list[tuple[K, V]] = []
    previous: bytes | None = None
    for _ in range(reader.length()):
        start = reader.pos
        k = key()
        raw = reader.data[start : reader.pos]
        if previous is not None and raw <= previous:
            raise bcs.BcsError("map keys are not in canonical order")
        previous = raw
        out.append((k, value()))
    return tuple(out)


@dataclass(frozen=True)
class MoveObject:
    """A Move struct value; the first 32 bytes of `contents` are its `UID`."""

    type: StructType
    has_public_transfer: bool
    version: int
    contents: bytes

    def __post_init__(self) -> None:
        if len(self.contents) < bcs.ADDRESS_LENGTH:
            raise ValueError("a Move object's contents start with its 32-byte id")

    @property
    def object_id(self) -> str:
        return bcs.address_hex(self.contents[: bcs.ADDRESS_LENGTH])

    def encode(self) -> bytes:
        return (
            _write_object_type(self.type)
            + bcs.boolean(self.has_public_transfer)
            + bcs.u64(self.version)
            + bcs.byte_vector(self.contents)
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> MoveObject:
        tag = _read_object_type(reader)
        has_public_transfer = reader.boolean()
        version = reader.u64()
        contents = reader.byte_vector()
        try:
            return cls(tag, has_public_transfer, version, contents)
        except ValueError as exc:
            raise bcs.BcsError(str(exc)) from None


@dataclass(frozen=True)
class TypeOrigin:
    module_name: str
    datatype_name: str
    package: str


@dataclass(frozen=True)
class UpgradeInfo:
    upgraded_id: str
    upgraded_version: int


@dataclass(frozen=True)
class MovePackage:
    """A published package: its modules' bytecode, type origins and linkage."""

    id: str
    version: int
    modules: tuple[tuple[str, bytes], ...]
    type_origin_table: tuple[TypeOrigin, ...] = ()
    linkage_table: tuple[tuple[str, UpgradeInfo], ...] = ()

    @property
    def object_id(self) -> str:
        return self.id

    def encode(self) -> bytes:
        return (
            bcs.address(self.id)
            + bcs.u64(self.version)
            + _write_map(self.modules, bcs.string, bcs.byte_vector)
            + bcs.vector(
                self.type_origin_table,
                lambda t: (
                    bcs.string(t.module_name) + bcs.string(t.datatype_name) + bcs.address(t.package)
                ),
            )
            + _write_map(
                self.linkage_table,
                bcs.address,
                lambda u: bcs.address(u.upgraded_id) + bcs.u64(u.upgraded_version),
            )
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> MovePackage:
        return cls(
            reader.address(),
            reader.u64(),
            _read_map(reader, reader.string, reader.byte_vector),
            reader.vector(lambda: TypeOrigin(reader.string(), reader.string(), reader.address())),
            _read_map(reader, reader.address, lambda: UpgradeInfo(reader.address(), reader.u64())),
        )


@dataclass(frozen=True)
class Object:
    """An object at one version; `digest()` is its `ObjectDigest`."""

    data: MoveObject | MovePackage
    owner: Owner
    previous_transaction: bytes
    storage_rebate: int = 0

    @property
    def object_id(self) -> str:
        return self.data.object_id

    @property
    def version(self) -> int:
        return self.data.version

    def encode(self) -> bytes:
        kind = 0 if isinstance(self.data, MoveObject) else 1
        return (
            bcs.tag(kind)
            + self.data.encode()
            + self.owner.encode()
            + bcs.digest(self.previous_transaction)
            + bcs.u64(self.storage_rebate)
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> Object:
        data: MoveObject | MovePackage = (
            MovePackage.read(reader) if reader.tag(2, "Data") else MoveObject.read(reader)
        )
        return cls(data, Owner.read(reader), reader.digest(), reader.u64())

    @classmethod
    def decode(cls, data: bytes) -> Object:
        return bcs.decode_all(data, cls.read, "object")

    def digest(self) -> bytes:
        return object_digest(self.encode())


def object_digest(object_bcs: bytes) -> bytes:
    """`blake2b256("Object::" ‖ bcs)` (`ObjectInner`'s serde name is "Object")."""
    return bcs.sui_digest("Object", object_bcs)


__all__ = [
    "MoveObject",
    "MovePackage",
    "Object",
    "TypeForm",
    "TypeOrigin",
    "UpgradeInfo",
    "balance_accumulator_field_type",
    "coin_type",
    "compact_form",
    "object_digest",
]
