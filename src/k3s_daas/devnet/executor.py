"""Executes signed BCS transactions against a ledger view, natively and atomically.

Checks what a Sui validator checks before running anything (signature, signer == sender, gas
coins owned, at their versions and holding the budget, owned inputs at their versions, shared
inputs really shared, the Clock immutable), then runs the PTB's commands on working copies.
A Move abort or an execution error yields failed effects that change nothing but the gas coin
(gas is charged); an `InvalidTransaction` changes nothing at all. Rules: docs/devnet.md
("Executor", "Gas").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from pysui.sui.sui_bcs import bcs

from k3s_daas.chain.keys import (
    SignatureError,
    normalize_address,
    transaction_digest,
    verify_transaction_signature,
)
from k3s_daas.devnet.framework import FRAMEWORK
from k3s_daas.devnet.ids import SUI_FRAMEWORK, SUI_TYPE
from k3s_daas.devnet.objects import (
    AddressOwner,
    ChainEvent,
    Effects,
    ExecutionStatus,
    GasCost,
    ImmutableOwner,
    InvalidTransaction,
    LedgerView,
    SharedOwner,
    StoredObject,
    TableChange,
    derive_object_id,
)
from k3s_daas.devnet.package import (
    NativeFunction,
    PackageIds,
    Param,
    native_functions,
    struct_types,
)
from k3s_daas.devnet.package.runtime import (
    DOCUMENT_TYPE,
    PURE_MOVE_TYPES,
    SUI_COIN_TYPE,
    AttestationFields,
    MoveAbort,
    coin_value,
    set_coin_value,
)
from k3s_daas.seal.errors import K3sDaasError

# Gas (docs/devnet.md "Gas"): computation per command, storage per byte written, full rebate of
# the storage of every overwritten or deleted object.
COMPUTATION_UNITS_PER_COMMAND = 1_000
STORAGE_MIST_PER_BYTE = 100
OBJECT_OVERHEAD_BYTES = 100
MAX_COMMANDS = 1_024
MAX_INPUTS = 2_048
MAX_GAS_COINS = 256

_TYPE_PARAM = re.compile(r"\bT(\d+)\b")
_PURE_KIND_OF_TYPE = {move: kind for kind, move in PURE_MOVE_TYPES.items()}


class ExecutionFailure(K3sDaasError):
    """A non-abort execution error (bad argument, type mismatch, unused value, gas): failed
    effects whose error starts with `kind` (Sui's ExecutionFailureStatus name)."""

    reason = "execution_failure"

    def __init__(self, message: str, kind: str = "CommandArgumentError") -> None:
        super().__init__(message)
        self.kind = kind
        self.command_index: int | None = None


def storage_cost(obj: StoredObject) -> int:
    """Storage charged for holding one object version (and rebated when it is replaced)."""
    return STORAGE_MIST_PER_BYTE * (OBJECT_OVERHEAD_BYTES + len(obj.bcs()))


# ---- pure arguments ----------------------------------------------------------------------------


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise ExecutionFailure("bad ULEB128 length in a pure argument")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _vector(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _uleb(data, pos)
    if pos + n > len(data):
        raise ExecutionFailure("vector longer than its argument")
    return data[pos : pos + n], pos + n


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExecutionFailure("string argument is not valid UTF-8") from exc


_FIXED = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "bool": 1, "address": 32, "id": 32}


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
        n, pos = _uleb(data, 0)
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
class _Pure:
    data: bytes


@dataclass
class _ObjRef:
    object_id: str
    mutable: bool  # may be passed as &mut
    by_value: bool  # may be moved (owned objects, fresh results)


@dataclass
class _Value:
    value: Any
    type: str  # a PURE_MOVE_TYPES kind, or DOCUMENT_TYPE
    moved: bool = False


Arg = _Pure | _ObjRef | _Value


@dataclass
class _Tx:
    """One transaction's working set; implements `package.Runtime` for the natives."""

    view: LedgerView
    sender: str
    epoch: int
    timestamp_ms: int
    digest: str
    package_id: str
    store_types: frozenset[str]
    verifier: Callable[[bytes, int], AttestationFields] | None
    objects: dict[str, StoredObject] = field(default_factory=dict)
    input_versions: dict[str, int] = field(default_factory=dict)
    input_storage: dict[str, int] = field(default_factory=dict)
    mutable_inputs: set[str] = field(default_factory=set)
    created: dict[str, StoredObject] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    moved: set[str] = field(default_factory=set)
    unplaced: set[str] = field(default_factory=set)  # fresh values the PTB must still place
    events: list[ChainEvent] = field(default_factory=list)
    tables: dict[tuple[str, str], str | None] = field(default_factory=dict)
    creations: int = 0

    # -- Runtime protocol --
    def new_object(
        self, type_: str, fields: dict[str, Any], *, shared: bool, owner: str | None = None
    ) -> StoredObject:
        object_id = derive_object_id(self.digest, self.creations)
        self.creations += 1
        fields["id"] = object_id
        owner_ = SharedOwner(0) if shared else AddressOwner(owner or "")
        obj = StoredObject(object_id, 0, owner_, type_, fields)
        if not shared and owner is None:
            self.unplaced.add(object_id)
        self.objects[object_id] = obj
        self.created[object_id] = obj
        return obj

    def delete(self, obj: StoredObject) -> None:
        self.deleted.add(obj.object_id)
        self.moved.add(obj.object_id)
        self.unplaced.discard(obj.object_id)
        self.created.pop(obj.object_id, None)

    def transfer(self, obj: StoredObject, recipient: str) -> None:
        if obj.type not in self.store_types:
            raise ExecutionFailure(
                f"{obj.type} has no `store`: it cannot be transferred", "InvalidTransferObject"
            )
        obj.owner = AddressOwner(normalize_address(recipient))
        self.moved.add(obj.object_id)
        self.unplaced.discard(obj.object_id)

    def emit(self, module: str, name: str, fields: dict[str, Any]) -> None:
        event_type = f"{self.package_id}::{module}::{name}"
        self.events.append(ChainEvent(self.package_id, module, self.sender, event_type, fields))

    def table_get(self, table_id: str, key: str) -> str | None:
        if (table_id, key) in self.tables:
            return self.tables[(table_id, key)]
        return self.view.table_get(table_id, key)

    def table_set(self, table_id: str, key: str, value: str | None) -> None:
        self.tables[(table_id, key)] = value

    def verify_attestation(self, document: bytes) -> AttestationFields:
        if self.verifier is None:
            return AttestationFields({}, None, 0, verified=False)
        return self.verifier(document, self.timestamp_ms)

    # -- object access --
    def get(self, object_id: str) -> StoredObject:
        """A live object of this transaction (an input or one it created)."""
        if object_id in self.moved:
            raise ExecutionFailure(f"object {object_id} was moved earlier", "InvalidValueUsage")
        return self.objects[object_id]

    def load_input(self, object_id: str) -> StoredObject:
        """Read an input object from the ledger (once)."""
        if object_id in self.input_versions:
            raise InvalidTransaction(f"object {object_id} is used twice", reason="bad_argument")
        obj = self.view.get_object(object_id)
        if obj is None:
            raise InvalidTransaction(f"object {object_id} not found", reason="object_not_found")
        obj = obj.copy()
        self.input_versions[object_id] = obj.version
        self.input_storage[object_id] = storage_cost(obj)
        self.objects[object_id] = obj
        return obj


def _attestation_verifier(root: x509.Certificate) -> Callable[[bytes, int], AttestationFields]:
    """`0x2::nitro_attestation::load_nitro_attestation` on the devnet: chain to the devnet's
    pinned root, ES384 signature, certificate validity at the Clock's time. A document that
    fails comes back unverified, and `register_enclave`/`update_enclave` abort with
    E_INVALID_ATTESTATION (docs/protocol.md §2); PCRs are compared by those functions."""
    from k3s_daas.attestation import AttestationError, verify_document

    def verify(document: bytes, now_ms: int) -> AttestationFields:
        try:
            doc = verify_document(
                document,
                root=root,
                expected_pcrs=None,
                expected_nonce=None,
                max_age=None,
                now=datetime.fromtimestamp(now_ms / 1000, tz=UTC),
            )
        except AttestationError:
            return AttestationFields({}, None, 0, verified=False)
        return AttestationFields(dict(doc.pcrs), doc.public_key, doc.timestamp_ms)

    return verify


class Executor:
    """Stateless between transactions; the ledger sequences calls (one writer)."""

    def __init__(self, ids: PackageIds, attestation_root: x509.Certificate | None = None) -> None:
        self.package_id = normalize_address(ids.package_id)
        self.clock_id = normalize_address(ids.clock_id)
        self.natives = native_functions(self.package_id)
        types = struct_types(self.package_id)
        self.store_types = frozenset({SUI_COIN_TYPE, types["cap"]})  # `has store` structs
        self.verifier = (
            None if attestation_root is None else _attestation_verifier(attestation_root)
        )

    # ---- entry points ---------------------------------------------------------------------
    def execute(self, tx_bytes: bytes, signatures: list[bytes], view: LedgerView) -> Effects:
        """Verify and run one signed transaction (nothing is written: the caller commits)."""
        data = self.decode(tx_bytes)
        sender = normalize_address(data.Sender.to_address_str())
        if not signatures:
            raise InvalidTransaction("no signature", reason="bad_signature")
        signers = set()
        for sig in signatures:
            try:
                signers.add(verify_transaction_signature(tx_bytes, sig))
            except SignatureError as exc:
                raise InvalidTransaction(
                    f"signature: {exc.message}", reason="bad_signature"
                ) from exc
        if signers != {sender}:
            raise InvalidTransaction("the signer is not the sender", reason="signer_not_sender")
        effects = self.run(data, transaction_digest(tx_bytes), view)
        effects.tx_bytes = tx_bytes
        effects.signatures = list(signatures)
        return effects

    def simulate(self, tx_data: Any, view: LedgerView) -> Effects:
        """Dry run of a pysui `TransactionData` (no signature check, nothing written)."""
        tx_bytes = bytes(tx_data.serialize())
        data = self.decode(tx_bytes)
        effects = self.run(data, transaction_digest(tx_bytes), view)
        effects.tx_bytes = tx_bytes
        return effects

    @staticmethod
    def decode(tx_bytes: bytes) -> Any:
        """BCS TransactionData -> its V1 body, or InvalidTransaction."""
        try:
            data = bcs.TransactionData.deserialize(tx_bytes)
        except Exception as exc:  # canoser raises assorted errors on garbage
            raise InvalidTransaction(
                "transaction is not BCS TransactionData", reason="bad_bcs"
            ) from exc
        if data.enum_name != "V1":
            raise InvalidTransaction("only V1 TransactionData", reason="bad_bcs")
        kind = data.value.TransactionKind.enum_name
        if kind != "ProgrammableTransaction":
            raise InvalidTransaction(
                f"{kind} transactions are not supported", reason="unsupported_command"
            )
        return data.value

    def run(self, data: Any, digest: str, view: LedgerView) -> Effects:
        """Run a decoded TransactionDataV1 (checks, commands, gas) into effects."""
        sender = normalize_address(data.Sender.to_address_str())
        ptb = data.TransactionKind.value
        if len(ptb.Command) > MAX_COMMANDS or len(ptb.Inputs) > MAX_INPUTS:
            raise InvalidTransaction("too many commands or inputs", reason="bad_argument")
        for command in ptb.Command:
            if command.enum_name in ("Publish", "Upgrade"):
                raise InvalidTransaction(
                    f"{command.enum_name} is not supported on the devnet",
                    reason="unsupported_command",
                )
        tx = _Tx(
            view, sender, view.epoch(), view.timestamp_ms(), digest, self.package_id,
            self.store_types, self.verifier,
        )  # fmt: skip
        gas_id, price, budget = self._smash_gas(tx, data.GasData)
        inputs = [self._input(tx, arg) for arg in ptb.Inputs]
        computation = price * COMPUTATION_UNITS_PER_COMMAND * max(1, len(ptb.Command))
        try:
            if computation > budget:
                raise ExecutionFailure("gas budget below the computation cost", "InsufficientGas")
            results: list[list[Arg]] = []
            for index, command in enumerate(ptb.Command):
                try:
                    results.append(self._command(tx, command, inputs, results, gas_id))
                except (MoveAbort, ExecutionFailure) as exc:
                    exc.command_index = index
                    raise
            if tx.unplaced:
                raise ExecutionFailure(
                    "a value without `drop` (a Coin) was neither used nor transferred",
                    "UnusedValueWithoutDrop",
                )
            storage, rebate = self._storage(tx, gas_id)
            if computation + storage > budget:
                raise ExecutionFailure("gas budget below the total cost", "InsufficientGas")
        except (MoveAbort, ExecutionFailure) as exc:
            return self._failed(tx, data, gas_id, price, budget, computation, exc)
        return self._succeeded(tx, gas_id, budget, GasCost(computation, storage, rebate))

    # ---- checks before execution -----------------------------------------------------------
    def _smash_gas(self, tx: _Tx, gas: Any) -> tuple[str, int, int]:
        """Check the gas payment, merge every gas coin into the first and set the budget aside
        (the PTB may spend only what exceeds the budget), as Sui does."""
        if normalize_address(gas.Owner.to_address_str()) != tx.sender:
            raise InvalidTransaction("sponsored gas is not supported", reason="bad_argument")
        price, budget = int(gas.Price), int(gas.Budget)
        if price < tx.view.reference_gas_price():
            raise InvalidTransaction(
                "gas price below the reference gas price", reason="insufficient_gas"
            )
        if not gas.Payment or len(gas.Payment) > MAX_GAS_COINS:
            raise InvalidTransaction("no (or too many) gas coins", reason="insufficient_gas")
        coins = []
        for ref in gas.Payment:
            obj = self._owned(tx, ref, what="gas coin")
            if obj.type != SUI_COIN_TYPE:
                raise InvalidTransaction("gas payment is not a SUI coin", reason="bad_argument")
            coins.append(obj)
        total = sum(coin_value(o) for o in coins)
        if total < budget:
            raise InvalidTransaction(
                f"gas coins hold {total} MIST, less than the budget {budget}",
                reason="insufficient_gas",
            )
        primary = coins[0]
        for other in coins[1:]:
            tx.delete(other)
        set_coin_value(primary, total - budget)
        tx.mutable_inputs.add(primary.object_id)
        return primary.object_id, price, budget

    def _owned(self, tx: _Tx, ref: Any, what: str) -> StoredObject:
        object_id = normalize_address(ref.ObjectID.to_address_str())
        obj = tx.load_input(object_id)
        if isinstance(obj.owner, AddressOwner) and obj.owner.address != tx.sender:
            raise InvalidTransaction(
                f"{what} {object_id} is not owned by the sender", reason="not_owner"
            )
        if isinstance(obj.owner, SharedOwner):
            raise InvalidTransaction(
                f"{what} {object_id} is shared: pass it as a shared object", reason="bad_argument"
            )
        if int(ref.SequenceNumber) != obj.version:
            raise InvalidTransaction(
                f"{what} {object_id} is at version {obj.version}, not {int(ref.SequenceNumber)}",
                reason="stale_object",
            )
        return obj

    def _input(self, tx: _Tx, arg: Any) -> Arg:
        if arg.enum_name == "Pure":
            return _Pure(bytes(arg.value))
        if arg.enum_name != "Object":  # UnresolvedObject must never be on the wire
            raise InvalidTransaction(
                f"{arg.enum_name} inputs are not accepted", reason="bad_argument"
            )
        kind, ref = arg.value.enum_name, arg.value.value
        if kind == "ImmOrOwnedObject":
            obj = self._owned(tx, ref, what="object")
            if isinstance(obj.owner, ImmutableOwner):
                return _ObjRef(obj.object_id, False, False)
            tx.mutable_inputs.add(obj.object_id)
            return _ObjRef(obj.object_id, True, True)
        if kind != "SharedObject":
            raise InvalidTransaction(f"{kind} inputs are not supported", reason="bad_argument")
        object_id = normalize_address(ref.ObjectID.to_address_str())
        obj = tx.load_input(object_id)
        if not isinstance(obj.owner, SharedOwner):
            raise InvalidTransaction(f"object {object_id} is not shared", reason="bad_argument")
        if int(ref.SequenceNumber) != obj.owner.initial_shared_version:
            raise InvalidTransaction(
                f"shared object {object_id} has initial shared version "
                f"{obj.owner.initial_shared_version}, not {int(ref.SequenceNumber)}",
                reason="bad_argument",
            )
        mutable = bool(ref.Mutable)
        if object_id == self.clock_id:
            if mutable:
                raise InvalidTransaction(
                    "the Clock can only be passed as an immutable shared object",
                    reason="bad_argument",
                )
            obj.fields["timestamp_ms"] = str(tx.timestamp_ms)  # the consensus clock
        if mutable:
            tx.mutable_inputs.add(object_id)
        return _ObjRef(object_id, mutable, False)

    # ---- commands --------------------------------------------------------------------------
    @staticmethod
    def _arg(arg: Any, inputs: list[Arg], results: list[list[Arg]], gas_id: str) -> Arg:
        kind = arg.enum_name
        if kind == "GasCoin":
            return _ObjRef(gas_id, True, False)
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

    @staticmethod
    def _coin(tx: _Tx, arg: Arg, *, by_value: bool = False) -> StoredObject:
        if not isinstance(arg, _ObjRef):
            raise ExecutionFailure("expected a Coin<SUI>")
        obj = tx.get(arg.object_id)
        if obj.type != SUI_COIN_TYPE:
            raise ExecutionFailure(f"{obj.object_id} is not a Coin<SUI>", "TypeMismatch")
        if not arg.mutable or (by_value and not arg.by_value):
            raise ExecutionFailure(f"coin {obj.object_id} cannot be used this way here")
        return obj

    @staticmethod
    def _pure_of(arg: Arg, kind: str) -> Any:
        if isinstance(arg, _Pure):
            return decode_pure(kind, arg.data)
        if isinstance(arg, _Value) and arg.type == kind:
            return arg.value
        raise ExecutionFailure(f"expected a {kind} argument")

    def _command(
        self, tx: _Tx, command: Any, inputs: list[Arg], results: list[list[Arg]], gas_id: str
    ) -> list[Arg]:
        kind, value = command.enum_name, command.value

        def arg(a: Any) -> Arg:
            return self._arg(a, inputs, results, gas_id)

        if kind == "SplitCoin":
            source = self._coin(tx, arg(value.FromCoin))
            out: list[Arg] = []
            for amount_arg in value.Amount:
                amount = self._pure_of(arg(amount_arg), "u64")
                if amount > coin_value(source):
                    raise ExecutionFailure(
                        f"coin holds {coin_value(source)} MIST, cannot split {amount}",
                        "InsufficientCoinBalance",
                    )
                set_coin_value(source, coin_value(source) - amount)
                coin = tx.new_object(
                    SUI_COIN_TYPE, {"id": "", "balance": {"value": str(amount)}}, shared=False
                )
                out.append(_ObjRef(coin.object_id, True, True))
            return out
        if kind == "MergeCoins":
            target = self._coin(tx, arg(value.ToCoin))
            for source_arg in value.FromCoins:
                source = self._coin(tx, arg(source_arg), by_value=True)
                if source.object_id == target.object_id:
                    raise ExecutionFailure("cannot merge a coin into itself")
                set_coin_value(target, coin_value(target) + coin_value(source))
                tx.delete(source)
            return []
        if kind == "TransferObjects":
            recipient = self._pure_of(arg(value.Address), "address")
            for obj_arg in value.Objects:
                ref = arg(obj_arg)
                is_gas = isinstance(ref, _ObjRef) and ref.object_id == gas_id
                if not isinstance(ref, _ObjRef) or not (ref.by_value or is_gas):
                    raise ExecutionFailure(
                        "only owned objects and fresh values can be transferred",
                        "InvalidTransferObject",
                    )
                tx.transfer(tx.get(ref.object_id), recipient)
                if is_gas:  # the gas coin stays usable for charging
                    tx.moved.discard(gas_id)
            return []
        if kind == "MakeMoveVec":
            return [self._make_move_vec(value, arg)]
        if kind == "MoveCall":
            return self._move_call(tx, value, arg)
        raise InvalidTransaction(f"unsupported command {kind}", reason="unsupported_command")

    def _make_move_vec(self, value: Any, arg: Callable[[Any], Arg]) -> Arg:
        if value.TypeTag.value is None:
            raise ExecutionFailure("MakeMoveVec of objects is not supported on the devnet")
        element = _PURE_KIND_OF_TYPE.get(type_tag_str(value.TypeTag.value))
        if element is None or element.startswith(("vector", "option")):
            raise ExecutionFailure("MakeMoveVec supports u8, u64, address, bool and String")
        items = [self._pure_of(arg(a), element) for a in value.Vector]
        if element == "u8":
            return _Value(bytes(items), "vector<u8>")
        return _Value(items, f"vector<{element}>")

    def _function(self, call: Any) -> tuple[NativeFunction, list[str]]:
        package = normalize_address(call.Package.to_address_str())
        key = (str(call.Module), str(call.Function))
        if package == self.package_id:
            fn = self.natives.get(key)
        elif package == SUI_FRAMEWORK:
            fn = FRAMEWORK.get(key)
        else:
            fn = None
        if fn is None:
            raise ExecutionFailure(
                f"function {package}::{key[0]}::{key[1]} not found", "FunctionNotFound"
            )
        type_args = [type_tag_str(t) for t in call.Type_Arguments]
        if len(type_args) != fn.type_params:
            raise ExecutionFailure(
                f"{key[0]}::{key[1]} takes {fn.type_params} type arguments", "TypeArityMismatch"
            )
        if fn.package == SUI_FRAMEWORK and key[0] in ("coin", "pay") and type_args != [SUI_TYPE]:
            raise ExecutionFailure("only Coin<0x2::sui::SUI> exists on the devnet", "TypeMismatch")
        return fn, type_args

    def _move_call(self, tx: _Tx, call: Any, arg: Callable[[Any], Arg]) -> list[Arg]:
        fn, type_args = self._function(call)
        if len(call.Arguments) != len(fn.params):
            raise ExecutionFailure(
                f"{fn.module}::{fn.name} takes {len(fn.params)} arguments, "
                f"got {len(call.Arguments)}",
                "ArityMismatch",
            )
        args = [arg(a) for a in call.Arguments]
        values = [
            self._bind(tx, self._instantiate(p, type_args), a)
            for p, a in zip(fn.params, args, strict=True)
        ]
        try:
            returned = fn.impl(tx, *values)
        except MoveAbort as abort:
            # The status names the module where the abort fired (as Sui does) and the public
            # function this command called (Sui would name an internal helper, if any).
            abort.package = abort.package or fn.package
            abort.function = fn.name
            raise
        out: list[Arg] = []
        for value, type_ in zip(returned, fn.returns, strict=True):
            if isinstance(value, StoredObject):
                out.append(_ObjRef(value.object_id, True, True))
            else:
                out.append(_Value(value, type_))
        return out

    @staticmethod
    def _instantiate(param: Param, type_args: list[str]) -> Param:
        if not type_args or "T" not in param.type:
            return param
        text = _TYPE_PARAM.sub(lambda m: type_args[int(m.group(1))], param.type)
        return Param(param.kind, text)

    def _bind(self, tx: _Tx, param: Param, value: Arg) -> Any:
        if param.kind == "pure":
            return self._pure_of(value, param.type)
        if param.type == DOCUMENT_TYPE:  # a value with `drop` but not `copy`
            if not isinstance(value, _Value) or value.type != DOCUMENT_TYPE or value.moved:
                raise ExecutionFailure(
                    "expected an unused NitroAttestationDocument", "TypeMismatch"
                )
            value.moved = True
            return value.value
        if not isinstance(value, _ObjRef):
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

    # ---- effects -------------------------------------------------------------------------
    @staticmethod
    def _lamport(tx: _Tx) -> int:
        return max([*tx.input_versions.values(), 0]) + 1

    @staticmethod
    def _storage(tx: _Tx, gas_id: str) -> tuple[int, int]:
        """Storage for every object written; rebate for every input version replaced/deleted."""
        written = [
            obj
            for object_id, obj in tx.objects.items()
            if object_id not in tx.deleted
            and (object_id in tx.created or object_id in tx.mutable_inputs)
        ]
        storage = sum(storage_cost(obj) for obj in written)
        rebate = sum(
            tx.input_storage[i]
            for i in tx.input_versions
            if i in tx.mutable_inputs or i in tx.deleted
        )
        del gas_id
        return storage, rebate

    def _succeeded(self, tx: _Tx, gas_id: str, budget: int, gas: GasCost) -> Effects:
        lamport = self._lamport(tx)
        coin = tx.objects[gas_id]
        set_coin_value(coin, coin_value(coin) + budget - gas.net)
        created, mutated = [], []
        for object_id, obj in tx.objects.items():
            if object_id in tx.deleted:
                continue
            if object_id in tx.created:
                obj.version = lamport
                obj.previous_transaction = tx.digest
                if isinstance(obj.owner, SharedOwner):
                    obj.owner = SharedOwner(lamport)
                created.append(obj)
            elif object_id in tx.mutable_inputs:
                obj.version = lamport
                obj.previous_transaction = tx.digest
                mutated.append(obj)
        return Effects(
            digest=tx.digest,
            sender=tx.sender,
            status=ExecutionStatus(success=True),
            gas_used=gas,
            created=created,
            mutated=mutated,
            deleted=[i for i in tx.input_versions if i in tx.deleted],
            events=tx.events,
            lamport_version=lamport,
            epoch=tx.epoch,
            tx_bytes=b"",
            signatures=[],
            table_changes=[TableChange(t, k, v) for (t, k), v in tx.tables.items()],
        )

    def _failed(
        self,
        tx: _Tx,
        data: Any,
        gas_id: str,
        price: int,
        budget: int,
        computation: int,
        exc: MoveAbort | ExecutionFailure,
    ) -> Effects:
        """Only the gas coins change: merged into the first, which pays the computation cost
        (capped by the budget); every other object, event and table entry is left alone."""
        del price
        lamport = self._lamport(tx)
        charged = min(budget, computation)
        payment = [normalize_address(r.ObjectID.to_address_str()) for r in data.GasData.Payment]
        originals = [tx.view.get_object(i) for i in payment]
        total = sum(coin_value(o) for o in originals if o is not None)
        gas = originals[0]
        assert gas is not None  # loaded and checked by _smash_gas
        gas = gas.copy()
        set_coin_value(gas, total - charged)
        gas.version = lamport
        gas.previous_transaction = tx.digest
        if isinstance(exc, MoveAbort):
            status = ExecutionStatus(
                success=False,
                error=str(exc),
                abort_module=exc.module,
                abort_function=exc.function,
                abort_code=exc.code,
                command_index=exc.command_index,
                abort_package=exc.package or None,
            )
        else:
            status = ExecutionStatus(
                success=False, error=f"{exc.kind}: {exc}", command_index=exc.command_index
            )
        return Effects(
            digest=tx.digest,
            sender=tx.sender,
            status=status,
            gas_used=GasCost(charged, 0, 0),
            created=[],
            mutated=[gas],
            deleted=payment[1:],
            events=[],
            lamport_version=lamport,
            epoch=tx.epoch,
            tx_bytes=b"",
            signatures=[],
        )
