"""Executes signed BCS transactions against a ledger view, natively, atomically.

Checks what a Sui validator checks before running anything (signature, signer == sender, gas
coins owned and at the given versions, owned inputs at their versions), then runs the PTB's
commands. A Move abort or an execution error yields failed effects that change nothing but the
gas coin (gas is charged); an `InvalidTransaction` changes nothing at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from pysui.sui.sui_bcs import bcs

from k3s_daas.chain.keys import (
    SignatureError,
    normalize_address,
    transaction_digest,
    verify_transaction_signature,
)
from k3s_daas.devnet.objects import (
    AddressOwner,
    ChainEvent,
    Effects,
    ExecutionStatus,
    GasCost,
    InvalidTransaction,
    LedgerView,
    SharedOwner,
    StoredObject,
    TableChange,
)
from k3s_daas.devnet.package import (
    CLOCK_TYPE,
    SUI_COIN_TYPE,
    AttestationFields,
    K3sDaasNatives,
    MoveAbort,
    NativeFunction,
    PackageIds,
    Param,
)
from k3s_daas.seal.errors import K3sDaasError

# Gas (simplified, documented in docs/devnet.md): per command and per byte written.
COMPUTATION_UNITS_PER_COMMAND = 1_000
STORAGE_UNITS_PER_BYTE = 1
MAX_COMMANDS = 1_024
MAX_INPUTS = 2_048


class AttestationRejected(Exception):
    """Raised by the configured verifier: maps to nitro_attestation's EVerifyError abort."""


class ExecutionFailure(K3sDaasError):
    """A non-abort execution error (type mismatch, unused value, gas): failed effects."""

    reason = "execution_failure"

    def __init__(self, message: str, kind: str = "MoveExecutionError") -> None:
        super().__init__(message)
        self.kind = kind
        self.command_index: int | None = None


def _attestation_verifier(root: x509.Certificate) -> Callable[[bytes, int], AttestationFields]:
    """`0x2::nitro_attestation::load_nitro_attestation` on the devnet: chain to the devnet's
    pinned root, signature and validity at the Clock's time (PCRs are `register_enclave`'s job)."""
    from datetime import UTC, datetime

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
        except AttestationError as exc:
            raise AttestationRejected(exc.message) from exc
        return AttestationFields(dict(doc.pcrs), doc.public_key, doc.timestamp_ms)

    return verify


def _coin_value(obj: StoredObject) -> int:
    raw = obj.fields["balance"]
    return int(raw["value"] if isinstance(raw, dict) else raw)


def _set_coin_value(obj: StoredObject, value: int) -> None:
    obj.fields["balance"] = {"value": str(value)}


def _is_coin(obj: StoredObject) -> bool:
    return bool(obj.type == SUI_COIN_TYPE)


@dataclass
class _Pure:
    data: bytes


@dataclass
class _ObjRef:
    object_id: str
    mutable: bool  # may be passed as &mut or by value
    by_value_ok: bool


@dataclass
class _Value:
    value: Any
    type: str


Arg = _Pure | _ObjRef | _Value


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 35:
            raise ExecutionFailure("bad ULEB128 length", "CommandArgumentError")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _bytes_vec(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _uleb(data, pos)
    if pos + n > len(data):
        raise ExecutionFailure("vector longer than its argument", "CommandArgumentError")
    return data[pos : pos + n], pos + n


def _string(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExecutionFailure("string argument is not UTF-8", "CommandArgumentError") from exc


def decode_pure(type_: str, data: bytes) -> Any:
    """BCS pure argument by the callee's parameter type; trailing bytes are an error."""
    fixed = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16, "bool": 1, "address": 32}
    if type_ in fixed:
        if len(data) != fixed[type_]:
            raise ExecutionFailure(
                f"{type_} argument must be {fixed[type_]} bytes", "CommandArgumentError"
            )
        if type_ == "bool":
            if data[0] > 1:
                raise ExecutionFailure("bool must be 0 or 1", "CommandArgumentError")
            return data[0] == 1
        if type_ == "address":
            return "0x" + data.hex()
        return int.from_bytes(data, "little")
    if type_ in ("vector<u8>", "string"):
        raw, end = _bytes_vec(data, 0)
        if end != len(data):
            raise ExecutionFailure("trailing bytes in argument", "CommandArgumentError")
        return raw if type_ == "vector<u8>" else _string(raw)
    if type_ == "vector<string>":
        n, pos = _uleb(data, 0)
        out = []
        for _ in range(n):
            raw, pos = _bytes_vec(data, pos)
            out.append(_string(raw))
        if pos != len(data):
            raise ExecutionFailure("trailing bytes in argument", "CommandArgumentError")
        return out
    raise ExecutionFailure(f"unsupported pure type {type_}", "CommandArgumentError")


@dataclass
class _Run:
    """One transaction's working set; implements `package.Runtime`."""

    view: LedgerView
    sender: str
    epoch: int
    timestamp_ms: int
    digest: str
    verifier: Any
    objects: dict[str, StoredObject] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)  # id -> input version
    mutable_inputs: set[str] = field(default_factory=set)
    created: dict[str, StoredObject] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    events: list[ChainEvent] = field(default_factory=list)
    tables: dict[tuple[str, str], str | None] = field(default_factory=dict)
    package_id: str = ""
    in_flight: set[str] = field(default_factory=set)  # coins made by SplitCoins, not yet placed
    _counter: int = 0

    # -- Runtime protocol --
    def new_id(self) -> str:
        seed = bytes.fromhex(hashlib.sha256(self.digest.encode()).hexdigest())
        self._counter += 1
        return (
            "0x"
            + hashlib.blake2b(
                seed + self._counter.to_bytes(8, "little"), digest_size=32
            ).hexdigest()
        )

    def new_object(
        self, type_: str, fields: dict[str, Any], *, shared: bool, owner: str | None = None
    ) -> StoredObject:
        object_id = self.new_id()
        fields["id"] = object_id
        obj = StoredObject(
            object_id, 0, SharedOwner(0) if shared else AddressOwner(owner or ""), type_, fields
        )
        if not shared and owner is None:
            self.in_flight.add(object_id)
        self.objects[object_id] = obj
        self.created[object_id] = obj
        return obj

    def delete(self, obj: StoredObject) -> None:
        self.deleted.add(obj.object_id)
        self.created.pop(obj.object_id, None)

    def emit(self, module: str, name: str, fields: dict[str, Any]) -> None:
        self.events.append(
            ChainEvent(
                package_id=self.package_id,
                module=module,
                sender=self.sender,
                event_type=f"{self.package_id}::{module}::{name}",
                fields=fields,
            )
        )

    def table_get(self, table_id: str, key: str) -> str | None:
        if (table_id, key) in self.tables:
            return self.tables[(table_id, key)]
        return self.view.table_get(table_id, key)

    def table_set(self, table_id: str, key: str, value: str | None) -> None:
        self.tables[(table_id, key)] = value

    def verify_attestation(self, document: bytes) -> AttestationFields:
        if self.verifier is None:
            raise MoveAbort("nitro_attestation", "load_nitro_attestation", 2, package="0x2")
        try:
            return self.verifier(document, self.timestamp_ms)  # type: ignore[no-any-return]
        except AttestationRejected as exc:
            raise MoveAbort("nitro_attestation", "load_nitro_attestation", 2, "0x2") from exc

    # -- loading --
    def load(self, object_id: str) -> StoredObject:
        if object_id in self.deleted:
            raise ExecutionFailure(f"object {object_id} was already used by value")
        if object_id not in self.objects:
            obj = self.view.get_object(object_id)
            if obj is None:
                raise InvalidTransaction(f"object {object_id} not found", reason="object_not_found")
            self.objects[object_id] = obj.copy()
            self.loaded[object_id] = obj.version
        return self.objects[object_id]


class Executor:
    """Stateless between transactions; the ledger sequences calls (one writer)."""

    def __init__(self, ids: PackageIds, attestation_root: x509.Certificate | None = None) -> None:
        self.package_id = normalize_address(ids.package_id)
        self.natives = K3sDaasNatives(self.package_id)
        self.verifier = (
            None if attestation_root is None else _attestation_verifier(attestation_root)
        )

    def simulate(self, tx_data: Any, view: LedgerView) -> Effects:
        """Dry run of a pysui `TransactionData` (no signature check, nothing written)."""
        if tx_data.enum_name != "V1":
            raise InvalidTransaction("only V1 transactions", reason="unsupported")
        tx_bytes = tx_data.serialize()
        effects = self.run(tx_data.value, transaction_digest(tx_bytes), view)
        effects.tx_bytes = tx_bytes
        return effects

    # ---- entry points ---------------------------------------------------------------------
    def execute(self, tx_bytes: bytes, signatures: list[bytes], view: LedgerView) -> Effects:
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
        if sender not in signers:
            raise InvalidTransaction("the signer is not the sender", reason="signer_not_sender")
        effects = self.run(data, transaction_digest(tx_bytes), view)
        effects.tx_bytes = tx_bytes
        effects.signatures = list(signatures)
        return effects

    @staticmethod
    def decode(tx_bytes: bytes) -> Any:
        try:
            data = bcs.TransactionData.deserialize(tx_bytes)
        except Exception as exc:  # canoser raises assorted errors on garbage
            raise InvalidTransaction(
                "transaction is not BCS TransactionData", reason="bad_bcs"
            ) from exc
        if (
            data.enum_name != "V1"
            or data.value.TransactionKind.enum_name != "ProgrammableTransaction"
        ):
            raise InvalidTransaction(
                "only V1 programmable transactions are supported", reason="unsupported"
            )
        return data.value

    def run(self, data: Any, digest: str, view: LedgerView) -> Effects:
        """Run a decoded TransactionDataV1 (also used by simulation, without signatures)."""
        sender = normalize_address(data.Sender.to_address_str())
        ptb = data.TransactionKind.value
        if len(ptb.Command) > MAX_COMMANDS or len(ptb.Inputs) > MAX_INPUTS:
            raise InvalidTransaction("too many commands or inputs", reason="too_large")
        run = _Run(view, sender, view.epoch(), view.timestamp_ms(), digest, self.verifier)
        run.package_id = self.package_id
        gas_id, price, budget = self._check_gas(run, data)
        inputs = [self._load_input(run, arg) for arg in ptb.Inputs]
        gas_input_versions = dict(run.loaded)
        computation = price * COMPUTATION_UNITS_PER_COMMAND * max(1, len(ptb.Command))
        try:
            if computation > budget:
                raise ExecutionFailure("gas budget below the computation cost", "InsufficientGas")
            results: list[list[Arg]] = []
            for index, command in enumerate(ptb.Command):
                try:
                    results.append(self._command(run, command, inputs, results, gas_id))
                except (MoveAbort, ExecutionFailure) as exc:
                    exc.command_index = index
                    raise
            self._check_unused(run, results)
            storage = self._storage_cost(run, price)
            if computation + storage > budget:
                raise ExecutionFailure("gas budget below the total cost", "InsufficientGas")
        except (MoveAbort, ExecutionFailure) as exc:
            return self._failed(run, data, digest, gas_id, gas_input_versions, price, budget, exc)
        return self._succeeded(run, digest, gas_id, computation, storage)

    # ---- checks ------------------------------------------------------------------------
    def _check_gas(self, run: _Run, data: Any) -> tuple[str, int, int]:
        gas = data.GasData
        if normalize_address(gas.Owner.to_address_str()) != run.sender:
            raise InvalidTransaction("sponsored gas is not supported", reason="unsupported")
        price, budget = int(gas.Price), int(gas.Budget)
        if price < run.view.reference_gas_price():
            raise InvalidTransaction("gas price below the reference gas price", reason="gas_price")
        if not gas.Payment:
            raise InvalidTransaction("no gas coin", reason="insufficient_gas")
        total = 0
        ids = []
        for ref in gas.Payment:
            obj = self._owned(run, ref, what="gas coin")
            if not _is_coin(obj):
                raise InvalidTransaction("gas payment is not a SUI coin", reason="insufficient_gas")
            total += _coin_value(obj)
            ids.append(obj.object_id)
            run.mutable_inputs.add(obj.object_id)
        if len(set(ids)) != len(ids):
            raise InvalidTransaction("a gas coin is listed twice", reason="bad_argument")
        if total < budget:
            raise InvalidTransaction(
                "gas coins hold less than the budget", reason="insufficient_gas"
            )
        primary = run.objects[ids[0]]
        for other in ids[1:]:  # Sui merges every gas coin into the first
            _set_coin_value(primary, _coin_value(primary) + _coin_value(run.objects[other]))
            run.delete(run.objects[other])
        return ids[0], price, budget

    def _owned(self, run: _Run, ref: Any, what: str) -> StoredObject:
        object_id = normalize_address(ref.ObjectID.to_address_str())
        obj = run.load(object_id)
        if isinstance(obj.owner, AddressOwner) and obj.owner.address != run.sender:
            raise InvalidTransaction(
                f"{what} {object_id} is not owned by the sender", reason="not_owner"
            )
        if isinstance(obj.owner, SharedOwner):
            raise InvalidTransaction(
                f"{what} {object_id} is shared; pass it as shared", reason="bad_argument"
            )
        if int(ref.SequenceNumber) != run.loaded[object_id]:
            raise InvalidTransaction(
                f"{what} {object_id} is at version {run.loaded[object_id]}, "
                f"not {int(ref.SequenceNumber)}",
                reason="stale_object",
            )
        return obj

    def _load_input(self, run: _Run, arg: Any) -> Arg:
        if arg.enum_name == "Pure":
            return _Pure(bytes(arg.value))
        if arg.enum_name != "Object":
            raise InvalidTransaction(f"unsupported input {arg.enum_name}", reason="unsupported")
        obj_arg = arg.value
        if obj_arg.enum_name == "ImmOrOwnedObject":
            obj = self._owned(run, obj_arg.value, what="object")
            mutable = isinstance(obj.owner, AddressOwner)
            if mutable:
                run.mutable_inputs.add(obj.object_id)
            return _ObjRef(obj.object_id, mutable, mutable)
        if obj_arg.enum_name == "SharedObject":
            ref = obj_arg.value
            object_id = normalize_address(ref.ObjectID.to_address_str())
            obj = run.load(object_id)
            if not isinstance(obj.owner, SharedOwner):
                raise InvalidTransaction(f"object {object_id} is not shared", reason="bad_argument")
            if int(ref.SequenceNumber) != obj.owner.initial_shared_version:
                raise InvalidTransaction(
                    f"shared object {object_id} initial version is "
                    f"{obj.owner.initial_shared_version}",
                    reason="bad_argument",
                )
            mutable = bool(ref.Mutable) and obj.type != CLOCK_TYPE
            if mutable:
                run.mutable_inputs.add(object_id)
            return _ObjRef(object_id, mutable, False)
        raise InvalidTransaction(
            f"unsupported object input {obj_arg.enum_name}", reason="unsupported"
        )

    # ---- commands ------------------------------------------------------------------------
    def _arg(self, arg: Any, inputs: list[Arg], results: list[list[Arg]], gas_id: str) -> Arg:
        kind = arg.enum_name
        if kind == "GasCoin":
            return _ObjRef(gas_id, True, False)
        if kind == "Input":
            if int(arg.value) >= len(inputs):
                raise ExecutionFailure("input index out of range", "IndexError")
            return inputs[int(arg.value)]
        if kind == "Result":
            i = int(arg.value)
            if i >= len(results) or len(results[i]) != 1:
                raise ExecutionFailure("result index out of range", "IndexError")
            return results[i][0]
        i, j = (int(x) for x in arg.value)
        if i >= len(results) or j >= len(results[i]):
            raise ExecutionFailure("nested result index out of range", "IndexError")
        return results[i][j]

    def _coin(self, run: _Run, arg: Arg, *, mutable: bool) -> StoredObject:
        if not isinstance(arg, _ObjRef):
            raise ExecutionFailure("expected a coin", "CommandArgumentError")
        obj = run.load(arg.object_id)
        if not _is_coin(obj):
            raise ExecutionFailure(f"{obj.object_id} is not a SUI coin", "CommandArgumentError")
        if mutable and not arg.mutable:
            raise ExecutionFailure("coin is not mutable here", "CommandArgumentError")
        return obj

    def _command(
        self, run: _Run, command: Any, inputs: list[Arg], results: list[list[Arg]], gas_id: str
    ) -> list[Arg]:
        kind = command.enum_name
        value = command.value

        def arg(a: Any) -> Arg:
            return self._arg(a, inputs, results, gas_id)

        if kind == "SplitCoin":
            source = self._coin(run, arg(value.FromCoin), mutable=True)
            out: list[Arg] = []
            for amount_arg in value.Amount:
                amount_value = arg(amount_arg)
                if not isinstance(amount_value, _Pure):
                    raise ExecutionFailure(
                        "split amount must be a pure u64", "CommandArgumentError"
                    )
                amount = decode_pure("u64", amount_value.data)
                if amount > _coin_value(source):
                    raise ExecutionFailure(
                        "insufficient coin balance for split", "InsufficientCoinBalance"
                    )
                _set_coin_value(source, _coin_value(source) - amount)
                coin = run.new_object(
                    SUI_COIN_TYPE,
                    {"id": "", "balance": {"value": str(amount)}},
                    shared=False,
                    owner=None,
                )
                out.append(_ObjRef(coin.object_id, True, True))
            return out
        if kind == "MergeCoins":
            target = self._coin(run, arg(value.ToCoin), mutable=True)
            for source_arg in value.FromCoins:
                ref = arg(source_arg)
                source = self._coin(run, ref, mutable=True)
                if source.object_id == target.object_id or (
                    isinstance(ref, _ObjRef) and not ref.by_value_ok
                ):
                    raise ExecutionFailure("cannot merge this coin", "CommandArgumentError")
                _set_coin_value(target, _coin_value(target) + _coin_value(source))
                run.delete(source)
            return []
        if kind == "TransferObjects":
            recipient = arg(value.Address)
            if not isinstance(recipient, _Pure):
                raise ExecutionFailure("recipient must be a pure address", "CommandArgumentError")
            address = decode_pure("address", recipient.data)
            for obj_arg in value.Objects:
                ref = arg(obj_arg)
                if not isinstance(ref, _ObjRef) or not ref.by_value_ok:
                    raise ExecutionFailure(
                        "only owned objects can be transferred", "CommandArgumentError"
                    )
                obj = run.load(ref.object_id)
                if obj.type.startswith(f"{self.package_id}::") and obj.type.endswith("SealToken"):
                    raise ExecutionFailure(
                        "SealToken has no `store`: not transferable", "CommandArgumentError"
                    )
                obj.owner = AddressOwner(address)
                run.in_flight.discard(obj.object_id)
            return []
        if kind == "MoveCall":
            return self._move_call(run, value, arg)
        raise InvalidTransaction(f"unsupported command {kind}", reason="unsupported_command")

    def _move_call(self, run: _Run, call: Any, arg: Callable[[Any], Arg]) -> list[Arg]:
        package = normalize_address(call.Package.to_address_str())
        key = (str(call.Module), str(call.Function))
        fn: NativeFunction | None
        if package == self.package_id:
            fn = self.natives.functions.get(key)
        elif package == normalize_address("0x2"):
            fn = self.natives.framework.get(key)
        else:
            fn = None
        if fn is None:
            raise ExecutionFailure(
                f"function {package}::{key[0]}::{key[1]} not found", "FunctionNotFound"
            )
        if call.Type_Arguments:
            raise ExecutionFailure(
                "no function of this package takes type arguments", "TypeArgumentError"
            )
        if len(call.Arguments) != len(fn.params):
            raise ExecutionFailure(
                f"{key[0]}::{key[1]} takes {len(fn.params)} arguments, got {len(call.Arguments)}",
                "CommandArgumentError",
            )
        values = [
            self._bind(run, p, arg(a)) for p, a in zip(fn.params, call.Arguments, strict=True)
        ]
        try:
            returned = fn.impl(run, *values)
        except MoveAbort as abort:
            abort.package = (
                self.package_id if fn.package == "k3s_daas" else normalize_address("0x2")
            )
            raise
        return [_Value(v, t) for v, t in zip(returned, fn.returns, strict=True)]

    def _bind(self, run: _Run, param: Param, value: Arg) -> Any:
        if param.kind == "pure":
            if isinstance(value, _Value):
                return value.value
            if not isinstance(value, _Pure):
                raise ExecutionFailure(f"expected a {param.type} argument", "CommandArgumentError")
            return decode_pure(param.type, value.data)
        if isinstance(value, _Value):
            if param.kind == "val" and value.type == param.type:
                return value.value
            raise ExecutionFailure(f"expected {param.type}", "CommandArgumentError")
        if not isinstance(value, _ObjRef):
            raise ExecutionFailure(
                f"expected an object of type {param.type}", "CommandArgumentError"
            )
        obj = run.load(value.object_id)
        if obj.type != param.type:
            raise ExecutionFailure(f"expected {param.type}, got {obj.type}", "TypeMismatch")
        if param.kind == "mut" and not value.mutable:
            raise ExecutionFailure(f"{obj.object_id} is not mutable here", "CommandArgumentError")
        if param.kind == "val" and not value.by_value_ok:
            raise ExecutionFailure(
                f"{obj.object_id} cannot be passed by value", "CommandArgumentError"
            )
        return obj

    def _check_unused(self, run: _Run, results: list[list[Arg]]) -> None:
        for obj in run.created.values():
            if obj.object_id in run.in_flight:
                raise ExecutionFailure(
                    "a coin result was neither used nor transferred", "UnusedValueWithoutDrop"
                )
        # Values returned by our functions (IDs, u8, vectors, NitroAttestationDocument) all
        # have `drop`, so unused results are fine.
        del results

    # ---- effects -------------------------------------------------------------------------
    def _lamport(self, run: _Run) -> int:
        return max([*run.loaded.values(), 0]) + 1

    def _storage_cost(self, run: _Run, price: int) -> int:
        written = [
            o
            for o in run.objects.values()
            if o.object_id in run.created or o.object_id in run.mutable_inputs
        ]
        size = sum(len(o.bcs()) for o in written if o.object_id not in run.deleted)
        return price * STORAGE_UNITS_PER_BYTE * size // 10

    def _succeeded(
        self, run: _Run, digest: str, gas_id: str, computation: int, storage: int
    ) -> Effects:
        lamport = self._lamport(run)
        gas = run.objects[gas_id]
        _set_coin_value(gas, max(0, _coin_value(gas) - computation - storage))
        created, mutated = [], []
        for object_id, obj in run.objects.items():
            if object_id in run.deleted:
                continue
            if object_id in run.created:
                obj.version = lamport
                obj.previous_transaction = digest
                if isinstance(obj.owner, SharedOwner):
                    obj.owner = SharedOwner(lamport)
                created.append(obj)
            elif object_id in run.mutable_inputs:
                obj.version = lamport
                obj.previous_transaction = digest
                mutated.append(obj)
        deleted = sorted(i for i in run.deleted if i in run.loaded)
        return Effects(
            digest=digest,
            sender=run.sender,
            status=ExecutionStatus(success=True),
            gas_used=GasCost(computation, storage),
            created=created,
            mutated=mutated,
            deleted=deleted,
            events=run.events,
            lamport_version=lamport,
            epoch=run.epoch,
            tx_bytes=b"",
            signatures=[],
            table_changes=[TableChange(t, k, v) for (t, k), v in run.tables.items()],
        )

    def _failed(
        self,
        run: _Run,
        data: Any,
        digest: str,
        gas_id: str,
        input_versions: dict[str, int],
        price: int,
        budget: int,
        exc: MoveAbort | ExecutionFailure,
    ) -> Effects:
        """Only the gas coin changes: it pays the computation cost (capped by the budget)."""
        lamport = self._lamport(run)
        gas = run.view.get_object(gas_id)
        assert gas is not None
        gas = gas.copy()
        charged = min(
            budget,
            price * COMPUTATION_UNITS_PER_COMMAND * max(1, len(data.TransactionKind.value.Command)),
        )
        total = _coin_value(gas)
        for other in data.GasData.Payment[1:]:
            other_obj = run.view.get_object(normalize_address(other.ObjectID.to_address_str()))
            total += _coin_value(other_obj) if other_obj else 0
        _set_coin_value(gas, max(0, total - charged))
        gas.version = lamport
        gas.previous_transaction = digest
        merged = [normalize_address(o.ObjectID.to_address_str()) for o in data.GasData.Payment[1:]]
        abort = exc if isinstance(exc, MoveAbort) else None
        status = ExecutionStatus(
            success=False,
            error=str(exc) if isinstance(exc, MoveAbort) else f"{exc.kind}: {exc}",
            abort_module=abort.module if abort else None,
            abort_function=abort.function if abort else None,
            abort_code=abort.code if abort else None,
            command_index=exc.command_index,
        )
        del input_versions
        return Effects(
            digest=digest,
            sender=run.sender,
            status=status,
            gas_used=GasCost(charged, 0),
            created=[],
            mutated=[gas],
            deleted=merged,
            events=[],
            lamport_version=lamport,
            epoch=run.epoch,
            tx_bytes=b"",
            signatures=[],
        )
