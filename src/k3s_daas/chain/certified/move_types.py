"""Move type tags in BCS (`TypeTag`, `StructTag`), as objects and events carry them.

A tag is a primitive name (`"u64"`), a `VectorType` or a `StructType`; `str(tag)` is the
normalised text the rest of the project compares (`0x…02::coin::Coin<0x…02::sui::SUI>`).
Layout: `move-core-types` language_storage.rs (the sui-rust-sdk `type_tag` module agrees).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

from k3s_daas.chain.certified import bcs
from k3s_daas.seal.sui import PRIMITIVE_TYPES, normalize_address, parse_struct_tag

#: Variant index -> primitive name; 6 is `Vector`, 7 is `Struct`.
PRIMITIVE_TAGS: Final = {
    0: "bool", 1: "u8", 2: "u64", 3: "u128", 4: "address", 5: "signer", 8: "u16", 9: "u32",
    10: "u256",
}  # fmt: skip
_PRIMITIVE_INDEX: Final = {name: index for index, name in PRIMITIVE_TAGS.items()}
_VECTOR, _STRUCT, _VARIANTS = 6, 7, 11
#: Nesting allowed when decoding; real types stay far below it.
MAX_DEPTH: Final = 16


@dataclass(frozen=True)
class VectorType:
    """`vector<element>`."""

    element: TypeTag

    def __str__(self) -> str:
        return f"vector<{self.element}>"


@dataclass(frozen=True)
class StructType:
    """`address::module::Name<params>`; `address` is `0x` + 64 hex digits."""

    address: str
    module: str
    name: str
    type_params: tuple[TypeTag, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", normalize_address(self.address))

    @property
    def base(self) -> str:
        """`address::module::Name` without type parameters."""
        return f"{self.address}::{self.module}::{self.name}"

    def __str__(self) -> str:
        params = f"<{', '.join(str(p) for p in self.type_params)}>" if self.type_params else ""
        return self.base + params

    @classmethod
    def parse(cls, text: str) -> StructType:
        """A struct type from its text (`0x2::coin::Coin<0x2::sui::SUI>`); ValueError otherwise."""
        tag = parse_struct_tag(text)
        return cls(tag.address, tag.module, tag.name, tuple(parse_type(p) for p in tag.type_params))


TypeTag: TypeAlias = str | VectorType | StructType


def parse_type(text: str) -> TypeTag:
    """Any type from its canonical text: a primitive, `vector<…>` or a struct."""
    text = text.strip()
    if text in PRIMITIVE_TYPES:
        return text
    if text.startswith("vector<") and text.endswith(">"):
        return VectorType(parse_type(text[len("vector<") : -1]))
    return StructType.parse(text)


def read_type(reader: bcs.Reader, depth: int = 0) -> TypeTag:
    if depth > MAX_DEPTH:
        raise bcs.BcsError("type nested too deeply")
    index = reader.tag(_VARIANTS, "TypeTag")
    if index == _VECTOR:
        return VectorType(read_type(reader, depth + 1))
    if index == _STRUCT:
        return read_struct(reader, depth + 1)
    return PRIMITIVE_TAGS[index]


#: The exact BCS of struct tags already read, and their tags: the few types a reader meets
#: (tokens, stake records, coins) are matched as bytes instead of being parsed again.
_KNOWN_STRUCTS: dict[bytes, StructType] = {}
KNOWN_STRUCTS_MAX: Final = 32


def read_struct(reader: bcs.Reader, depth: int = 0) -> StructType:
    """A struct tag. Decoding is prefix-determined, so bytes that begin with a tag already read
    decode to that tag, consuming exactly its bytes (and no two known tags prefix each other)."""
    data, start = reader.data, reader.pos
    for raw, known in _KNOWN_STRUCTS.items():
        if data.startswith(raw, start):
            reader.pos = start + len(raw)
            return known
    address = reader.address()
    module = reader.string()
    name = reader.string()
    params = reader.vector(lambda: read_type(reader, depth + 1))
    tag = StructType(address, module, name, params)
    if len(_KNOWN_STRUCTS) < KNOWN_STRUCTS_MAX:
        _KNOWN_STRUCTS[bytes(data[start : reader.pos])] = tag
    return tag


def write_type(tag: TypeTag) -> bytes:
    if isinstance(tag, VectorType):
        return bcs.tag(_VECTOR) + write_type(tag.element)
    if isinstance(tag, StructType):
        return bcs.tag(_STRUCT) + write_struct(tag)
    if tag not in _PRIMITIVE_INDEX:
        raise ValueError(f"not a Move primitive type: {tag[:40]!r}")
    return bcs.tag(_PRIMITIVE_INDEX[tag])


def write_struct(tag: StructType) -> bytes:
    return (
        bcs.address(tag.address)
        + bcs.string(tag.module)
        + bcs.string(tag.name)
        + bcs.vector(tag.type_params, write_type)
    )


__all__ = [
    "PRIMITIVE_TAGS",
    "StructType",
    "TypeTag",
    "VectorType",
    "parse_type",
    "read_struct",
    "read_type",
    "write_struct",
    "write_type",
]
