"""What a native Move function sees: the transaction `Runtime`, aborts, and JSON-field helpers.

Native functions (the `k3s_daas` package and the 0x2 framework subset) act on `StoredObject`s
whose `fields` are already Sui's JSON rendering (u64 as decimal strings, bytes base64), so the
helpers here convert at the edges and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from k3s_daas.devnet.objects import StoredObject
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.sui import MOVE_STDLIB, SUI_FRAMEWORK

CLOCK_TYPE = f"{SUI_FRAMEWORK}::clock::Clock"
STRING_TYPE = f"{MOVE_STDLIB}::string::String"
ID_TYPE = f"{SUI_FRAMEWORK}::object::ID"
TX_CONTEXT_TYPE = f"{SUI_FRAMEWORK}::tx_context::TxContext"
DOCUMENT_TYPE = f"{SUI_FRAMEWORK}::nitro_attestation::NitroAttestationDocument"

#: Pure value kinds (our short names) -> Move types, for GetFunction and type checks. A value of
#: one of these kinds has `copy` and `drop`, so results of these types may be reused or ignored.
PURE_MOVE_TYPES: dict[str, str] = {
    "bool": "bool",
    "u8": "u8",
    "u16": "u16",
    "u32": "u32",
    "u64": "u64",
    "u128": "u128",
    "address": "address",
    "vector<u8>": "vector<u8>",
    "string": STRING_TYPE,
    "vector<string>": f"vector<{STRING_TYPE}>",
    "id": ID_TYPE,
    "vector<id>": f"vector<{ID_TYPE}>",
    "option<id>": f"{MOVE_STDLIB}::option::Option<{ID_TYPE}>",
}


def u64(value: Any) -> int:
    """A u64 field (rendered as a decimal string) as an int."""
    return int(value)


def coin_value(obj: StoredObject) -> int:
    """Value of a `Coin<SUI>` object (its `balance` is `{"value": "<u64>"}`)."""
    raw = obj.fields["balance"]
    return int(raw["value"] if isinstance(raw, dict) else raw)


def set_coin_value(obj: StoredObject, value: int) -> None:
    """Write a coin's (or a `Balance` holder's) value back in JSON form."""
    obj.fields["balance"] = {"value": str(value)}


class MoveAbort(K3sDaasError):  # named after Sui's MoveAbort status
    """A native function aborted: the transaction fails, only gas is charged."""

    reason = "move_abort"

    def __init__(self, module: str, function: str, code: int, package: str = "") -> None:
        super().__init__(f"MoveAbort in {module}::{function} with code {code}")
        self.package = package
        self.module = module
        self.function = function
        self.code = code
        self.command_index: int | None = None


@dataclass(frozen=True)
class AttestationFields:
    """What `sui::nitro_attestation::NitroAttestationDocument` exposes after verification."""

    pcrs: dict[int, bytes]
    public_key: bytes | None
    timestamp_ms: int
    verified: bool = True  # False: the document failed verification (devnet: abort later)


class Runtime(Protocol):
    """What a native function may do; the executor implements it for one transaction."""

    sender: str
    epoch: int
    timestamp_ms: int
    package_id: str

    def new_object(
        self, type_: str, fields: dict[str, Any], *, shared: bool, owner: str | None = None
    ) -> StoredObject:
        """Create an object; `owner=None` and not shared: a value the PTB must still place."""
        ...

    def delete(self, obj: StoredObject) -> None:
        """Destroy an object taken by value (its UID is deleted)."""
        ...

    def transfer(self, obj: StoredObject, recipient: str) -> None:
        """`transfer::transfer` / `public_transfer` of an object taken by value."""
        ...

    def emit(self, module: str, name: str, fields: dict[str, Any]) -> None:
        """`event::emit` of `<package>::<module>::<name>` with JSON fields."""
        ...

    def table_get(self, table_id: str, key: str) -> str | None:
        """A `Table<String, ID>` entry as seen by this transaction so far."""
        ...

    def table_set(self, table_id: str, key: str, value: str | None) -> None:
        """Add (value) or remove (None) a `Table<String, ID>` entry."""
        ...

    def verify_attestation(self, document: bytes) -> AttestationFields:
        """`load_nitro_attestation`: chain, signature and validity at the Clock's time."""
        ...


@dataclass(frozen=True)
class Param:
    """One declared parameter: kind `ref` (&T), `mut` (&mut T), `val` (T by value) or `pure`
    (BCS argument, `type` is one of PURE_MOVE_TYPES' keys); object types are full Move types
    and may mention the function's type parameters (`T0`)."""

    kind: str
    type: str


@dataclass(frozen=True)
class NativeFunction:
    """A Move function implemented in Python: its declaration plus the implementation.

    `impl(rt, *args)` returns the Move return values as a list (pure kinds as Python values,
    objects as StoredObject); `type_args` lists its type parameters (e.g. ("T0",)); `ctx` is how
    it takes the TxContext ("mutable" | "immutable" | None), which the caller never passes."""

    package: str
    module: str
    name: str
    params: tuple[Param, ...]
    returns: tuple[str, ...]
    impl: Callable[..., list[Any]]
    ctx: str | None = "mutable"
    type_params: int = 0
    is_entry: bool = False


def parse_params(spec: str, aliases: dict[str, str]) -> tuple[Param, ...]:
    """`"mut:pool val:coin pure:string"` -> Params; object aliases name full Move types."""
    out = []
    for item in spec.split():
        kind, name = item.split(":", 1)
        out.append(Param(kind, name if kind == "pure" else aliases.get(name, name)))
    return tuple(out)


def type_of(rt: Runtime, module: str, name: str) -> str:
    """Full type of one of the package's structs, e.g. `<pkg>::staking::StakeRecord`."""
    return f"{rt.package_id}::{module}::{name}"
