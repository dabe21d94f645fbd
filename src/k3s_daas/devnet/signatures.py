"""GetFunction answers: Move function signatures as sui.rpc.v2 `FunctionDescriptor`s.

pysui's builder reads parameter types to encode pure arguments and to tell objects (by reference)
from values. `k3s_daas` signatures come from the native package's FUNCTIONS table; the framework
(0x2) functions a client may `move_call` directly are listed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.seal.sui import normalize_type

_B = v2.OpenSignatureBodyType
_PRIMITIVES = {
    "bool": _B.BOOL,
    "u8": _B.U8,
    "u16": _B.U16,
    "u32": _B.U32,
    "u64": _B.U64,
    "u128": _B.U128,
    "u256": _B.U256,
    "address": _B.ADDRESS,
}
_REFERENCES = {
    "immutable": v2.OpenSignatureReference.IMMUTABLE,
    "mutable": v2.OpenSignatureReference.MUTABLE,
}


@dataclass(frozen=True)
class Param:
    """A parameter or return type: `reference` None | "immutable" | "mutable"."""

    type: str
    reference: str | None = None


@dataclass(frozen=True)
class Signature:
    """Signature of a framework function (same shape as the native package's)."""

    name: str
    parameters: list[Param]
    returns: list[Param] = field(default_factory=list)
    type_parameters: int = 0
    is_entry: bool = False
    visibility: str = "public"


def _split_args(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def open_body(type_text: str) -> v2.OpenSignatureBody:
    """`vector<u8>`, `0x2::coin::Coin<T0>`, `u64`, `T0` -> OpenSignatureBody."""
    text = type_text.strip()
    if text in _PRIMITIVES:
        return v2.OpenSignatureBody(type=_PRIMITIVES[text])
    if text.startswith("T") and text[1:].isdigit():
        return v2.OpenSignatureBody(type=_B.TYPE_PARAMETER, type_parameter=int(text[1:]))
    if text.startswith("vector<") and text.endswith(">"):
        inner = open_body(text[len("vector<") : -1])
        return v2.OpenSignatureBody(type=_B.VECTOR, type_parameter_instantiation=[inner])
    name, args = text, ""
    if "<" in text and text.endswith(">"):
        name, args = text.split("<", 1)
        args = args[:-1]
    return v2.OpenSignatureBody(
        type=_B.DATATYPE,
        type_name=normalize_type(name),
        type_parameter_instantiation=[open_body(a) for a in _split_args(args)],
    )


def _signature(param: Any) -> v2.OpenSignature:
    reference = getattr(param, "reference", None)
    return v2.OpenSignature(
        reference=_REFERENCES.get(str(reference)) if reference else None,
        body=open_body(str(param.type)),
    )


def function_descriptor(sig: Any) -> v2.FunctionDescriptor:
    """Any object with name/visibility/is_entry/parameters/returns (ours or the package's)."""
    visibility = {
        "public": v2.FunctionDescriptorVisibility.PUBLIC,
        "private": v2.FunctionDescriptorVisibility.PRIVATE,
        "friend": v2.FunctionDescriptorVisibility.FRIEND,
    }.get(str(getattr(sig, "visibility", "public")), v2.FunctionDescriptorVisibility.PUBLIC)
    count = int(getattr(sig, "type_parameters", 0) or 0)
    return v2.FunctionDescriptor(
        name=sig.name,
        visibility=visibility,
        is_entry=bool(getattr(sig, "is_entry", False)),
        type_parameters=[v2.TypeParameter(constraints=[], is_phantom=False) for _ in range(count)],
        parameters=[_signature(p) for p in sig.parameters],
        returns=[_signature(p) for p in getattr(sig, "returns", [])],
    )


_CTX = Param("0x2::tx_context::TxContext", "mutable")
_COIN_T = "0x2::coin::Coin<T0>"

#: 0x2 functions served by GetFunction (the ones a PTB may call on coins on this devnet).
FRAMEWORK_FUNCTIONS: dict[tuple[str, str], Signature] = {
    ("coin", "split"): Signature(
        "split", [Param(_COIN_T, "mutable"), Param("u64"), _CTX], [Param(_COIN_T)], 1
    ),
    ("coin", "join"): Signature("join", [Param(_COIN_T, "mutable"), Param(_COIN_T)], [], 1),
    ("coin", "value"): Signature("value", [Param(_COIN_T, "immutable")], [Param("u64")], 1),
    ("coin", "zero"): Signature("zero", [_CTX], [Param(_COIN_T)], 1),
    ("coin", "destroy_zero"): Signature("destroy_zero", [Param(_COIN_T)], [], 1),
    ("transfer", "public_transfer"): Signature(
        "public_transfer", [Param("T0"), Param("address")], [], 1
    ),
}
