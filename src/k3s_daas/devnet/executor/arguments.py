"""PTB arguments: decoding pure BCS values, the values that flow between commands, and binding
an argument to a callee's declared parameter (type, mutability, by-value moves)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from k3s_daas.devnet.errors import ExecutionFailure
from k3s_daas.devnet.executor.working_set import WorkingSet
from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.package import Param
from k3s_daas.devnet.package.runtime import DOCUMENT_TYPE, PURE_MOVE_TYPES
from k3s_daas.seal.encoding import read_uleb128
from k3s_daas.seal.sui import COIN_SUI_TYPE, normalize_address

_TYPE_PARAM = re.compile(r"\bT(\d+)\b")
#: Move type -> our pure kind (the inverse of PURE_MOVE_TYPES).
PURE_KIND_OF_TYPE = {move: kind for kind, move in PURE_MOVE_TYPES.items()}
_FIXED = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "bool": 1, "address": 32, "id": 32}


# ---- pure values ---------------------------------------------------------------------------------


def _length(data: bytes, pos: int) -> tuple[int, int]:
    try:
        return read_uleb128(data, pos)
    except ValueError:
        raise ExecutionFailure("bad ULEB128 length in a pure argument") from None


def _vector(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _length(data, pos)
    if pos + n > len(data):
        raise ExecutionFailure("vector longer than its argument")
    return data[pos : pos + n], pos + n


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExecutionFailure("string argument is not valid UTF-8") from exc


def decode_pure(kind: str, data: bytes) -> Any:
    """BCS pure argument by the callee's parameter kind (see PURE_MOVE_TYPES); the whole
    argument must be consumed. Bad input raises ExecutionFailure (failed effects, no crash)."""
    if kind in _FIXED:
        if len(data) != _FIXED[kind]:
            raise ExecutionFailure(f"{kind} argument must be {_FIXED[kind]} bytes, got {len(data)}")
        if kind == "bool":
            if data[0] > 1:
                raise ExecutionFailure("bool argument must be 0 or 1")
            return data[0] == 1
        if kind in ("address", "id"):
            return "0x" + data.hex()
        return int.from_bytes(data, "little")
    if kind in ("vector<u8>", "string"):
        raw, end = _vector(data, 0)
        if end != len(data):
            raise ExecutionFailure(f"trailing bytes after a {kind} argument")
        return raw if kind == "vector<u8>" else _utf8(raw)
    if kind == "vector<string>":
        n, pos = _length(data, 0)
        out = []
        for _ in range(n):
            raw, pos = _vector(data, pos)
            out.append(_utf8(raw))
        if pos != len(data):
            raise ExecutionFailure("trailing bytes after a vector<String> argument")
        return out
    raise ExecutionFailure(f"pure arguments of type {kind} are not supported")


def type_tag_str(tag: Any) -> str:
    """A pysui BCS TypeTag as a normalised Move type string."""
    name = tag.enum_name
    if name == "Struct":
        st = tag.value
        head = f"{normalize_address(st.address.to_address_str())}::{st.module}::{st.name}"
        params = [type_tag_str(p) for p in st.type_parameters]
        return head + (f"<{', '.join(params)}>" if params else "")
    if name == "Vector":
        inner = tag.value[0] if isinstance(tag.value, list) else tag.value
        return f"vector<{type_tag_str(inner)}>"
    return str(name).lower()


# ---- values flowing through a PTB ----------------------------------------------------------------


@dataclass
class Pure:
    """A pure input, still BCS: decoded when a command says which type it must be."""

    data: bytes


@dataclass
class ObjRef:
    """An object argument: an input or a command's result."""

    object_id: str
    mutable: bool  # may be passed as &mut
    by_value: bool  # may be moved (owned objects, fresh results)


@dataclass
class Value:
    """A decoded value a command returned (pure kinds, or an attestation document)."""

    value: Any
    type: str  # a PURE_MOVE_TYPES kind, or DOCUMENT_TYPE
    moved: bool = False


Arg = Pure | ObjRef | Value


def resolve(arg: Any, inputs: list[Arg], results: list[list[Arg]], gas_id: str) -> Arg:
    """A BCS `Argument` (GasCoin, Input, Result, NestedResult) -> the value it names."""
    kind = arg.enum_name
    if kind == "GasCoin":
        return ObjRef(gas_id, True, False)
    if kind == "Input":
        if int(arg.value) >= len(inputs):
            raise ExecutionFailure("input index out of range", "IndexOutOfBounds")
        return inputs[int(arg.value)]
    if kind == "Result":
        i = int(arg.value)
        if i >= len(results) or len(results[i]) != 1:
            raise ExecutionFailure("result index out of range", "IndexOutOfBounds")
        return results[i][0]
    i, j = (int(x) for x in arg.value)
    if i >= len(results) or j >= len(results[i]):
        raise ExecutionFailure("nested result index out of range", "IndexOutOfBounds")
    return results[i][j]


def pure_of(arg: Arg, kind: str) -> Any:
    """The argument as a value of pure kind `kind`."""
    if isinstance(arg, Pure):
        return decode_pure(kind, arg.data)
    if isinstance(arg, Value) and arg.type == kind:
        return arg.value
    raise ExecutionFailure(f"expected a {kind} argument")


def coin_of(tx: WorkingSet, arg: Arg, *, by_value: bool = False) -> StoredObject:
    """The argument as a mutable `Coin<SUI>` (taken by value when `by_value`)."""
    if not isinstance(arg, ObjRef):
        raise ExecutionFailure("expected a Coin<SUI>")
    obj = tx.get(arg.object_id)
    if obj.type != COIN_SUI_TYPE:
        raise ExecutionFailure(f"{obj.object_id} is not a Coin<SUI>", "TypeMismatch")
    if not arg.mutable or (by_value and not arg.by_value):
        raise ExecutionFailure(f"coin {obj.object_id} cannot be used this way here")
    return obj


def instantiate(param: Param, type_args: list[str]) -> Param:
    """`param` with the function's type parameters (`T0`, …) replaced by the call's arguments."""
    if not type_args or "T" not in param.type:
        return param
    text = _TYPE_PARAM.sub(lambda m: type_args[int(m.group(1))], param.type)
    return Param(param.kind, text)


def bind(tx: WorkingSet, param: Param, value: Arg) -> Any:
    """The Python value a native receives for `param`; moves what is taken by value."""
    if param.kind == "pure":
        return pure_of(value, param.type)
    if param.type == DOCUMENT_TYPE:  # a value with `drop` but not `copy`
        if not isinstance(value, Value) or value.type != DOCUMENT_TYPE or value.moved:
            raise ExecutionFailure("expected an unused NitroAttestationDocument", "TypeMismatch")
        value.moved = True
        return value.value
    if not isinstance(value, ObjRef):
        raise ExecutionFailure(f"expected an object of type {param.type}", "TypeMismatch")
    obj = tx.get(value.object_id)
    if param.kind == "val" and param.type == "T0":  # generic by-value object
        pass
    elif obj.type != param.type:
        raise ExecutionFailure(f"expected {param.type}, got {obj.type}", "TypeMismatch")
    if param.kind == "mut" and not value.mutable:
        raise ExecutionFailure(f"{obj.object_id} is not mutable here (immutable input)")
    if param.kind == "val":
        if not value.by_value:
            raise ExecutionFailure(f"{obj.object_id} cannot be passed by value")
        tx.moved.add(obj.object_id)
        tx.unplaced.discard(obj.object_id)
    return obj
