"""Executes signed BCS transactions against a ledger view, natively and atomically.

Checks what a Sui validator checks before running anything (`inputs`), then runs the PTB's
commands (`commands`) on a working set. A Move abort or an execution error yields failed effects
that change nothing but the gas coin (gas is charged); an `InvalidTransaction` changes nothing at
all. Rules: docs/devnet.md ("Executor", "Gas").
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from pysui.sui.sui_bcs import bcs

from k3s_daas.chain import SignatureError, transaction_digest
from k3s_daas.chain.keys import transaction_intent_digest
from k3s_daas.devnet.effects import (
    ExecutedTransaction,
    ExecutionStatus,
    GasCost,
    TableChange,
    TransactionEffects,
)
from k3s_daas.devnet.errors import ExecutionFailure, InvalidTransaction
from k3s_daas.devnet.executor.arguments import Arg
from k3s_daas.devnet.executor.commands import Commands
from k3s_daas.devnet.executor.gas import computation_cost, storage_and_rebate
from k3s_daas.devnet.executor.inputs import call_arg, smash_gas
from k3s_daas.devnet.executor.working_set import WorkingSet
from k3s_daas.devnet.framework import attestation_verifier
from k3s_daas.devnet.objects import LedgerView, SharedOwner
from k3s_daas.devnet.package import PackageIds, native_functions, struct_types
from k3s_daas.devnet.package.runtime import MoveAbort, coin_value, set_coin_value
from k3s_daas.devnet.user_signatures import SchemeUnimplemented, authenticate
from k3s_daas.seal.sui import COIN_SUI_TYPE, normalize_address

MAX_COMMANDS = 1_024
MAX_INPUTS = 2_048


class Executor:
    """Stateless between transactions; the ledger sequences calls (one writer)."""

    def __init__(self, ids: PackageIds, attestation_root: x509.Certificate | None = None) -> None:
        self.package_id = normalize_address(ids.package_id)
        self.clock_id = normalize_address(ids.clock_id)
        self.commands = Commands(self.package_id, native_functions(self.package_id))
        types = struct_types(self.package_id)
        self.store_types = frozenset({COIN_SUI_TYPE, types["cap"]})  # `has store` structs
        self.verifier = None if attestation_root is None else attestation_verifier(attestation_root)

    # ---- entry points ---------------------------------------------------------------------
    def execute(
        self, tx_bytes: bytes, signatures: list[bytes], view: LedgerView
    ) -> ExecutedTransaction:
        """Verify and run one signed transaction (nothing is written: the caller commits)."""
        data = self.decode(tx_bytes)
        sender = normalize_address(data.Sender.to_address_str())
        if not signatures:
            raise InvalidTransaction("no signature", reason="bad_signature")
        signers = set()
        digest = transaction_intent_digest(tx_bytes)
        for sig in signatures:  # any scheme a full node takes (zkLogin/passkey: said plainly)
            try:
                signers.add(authenticate(digest, sig))
            except (SignatureError, SchemeUnimplemented) as exc:
                raise InvalidTransaction(
                    f"Invalid user signature: {exc.message}", reason="bad_signature"
                ) from None
        if signers != {sender}:
            raise InvalidTransaction("the signer is not the sender", reason="signer_not_sender")
        return self.run(data, tx_bytes, list(signatures), view)

    def simulate(self, tx_data: Any, view: LedgerView) -> ExecutedTransaction:
        """Dry run of a pysui `TransactionData` (no signature check, nothing written)."""
        tx_bytes = bytes(tx_data.serialize())
        return self.run(self.decode(tx_bytes), tx_bytes, [], view)

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

    def run(
        self, data: Any, tx_bytes: bytes, signatures: list[bytes], view: LedgerView
    ) -> ExecutedTransaction:
        """Run a decoded TransactionDataV1 (checks, commands, gas) into its effects."""
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
        tx = WorkingSet(
            view, sender, view.epoch(), view.timestamp_ms(), transaction_digest(tx_bytes),
            self.package_id, self.store_types, self.verifier,
        )  # fmt: skip
        gas_id, price, budget = smash_gas(tx, data.GasData)
        inputs = [call_arg(tx, arg, self.clock_id) for arg in ptb.Inputs]
        computation = computation_cost(price, len(ptb.Command))
        try:
            if computation > budget:
                raise ExecutionFailure("gas budget below the computation cost", "InsufficientGas")
            results: list[list[Arg]] = []
            for index, command in enumerate(ptb.Command):
                try:
                    results.append(self.commands.run(tx, command, inputs, results, gas_id))
                except (MoveAbort, ExecutionFailure) as exc:
                    exc.command_index = index
                    raise
            if tx.unplaced:
                raise ExecutionFailure(
                    "a value without `drop` (a Coin) was neither used nor transferred",
                    "UnusedValueWithoutDrop",
                )
            storage, rebate = storage_and_rebate(tx)
            if computation + storage > budget:
                raise ExecutionFailure("gas budget below the total cost", "InsufficientGas")
        except (MoveAbort, ExecutionFailure) as exc:
            return self._failed(tx, data, gas_id, budget, computation, exc, tx_bytes, signatures)
        gas = GasCost(computation, storage, rebate)
        return self._succeeded(tx, gas_id, budget, gas, tx_bytes, signatures)

    # ---- effects -------------------------------------------------------------------------
    @staticmethod
    def _lamport(tx: WorkingSet) -> int:
        return max([*(o.version for o in tx.originals.values()), 0]) + 1

    def _succeeded(
        self,
        tx: WorkingSet,
        gas_id: str,
        budget: int,
        gas: GasCost,
        tx_bytes: bytes,
        signatures: list[bytes],
    ) -> ExecutedTransaction:
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
        deleted = [i for i in tx.originals if i in tx.deleted]
        effects = TransactionEffects.summarize(
            transaction_digest=tx.digest, status=ExecutionStatus(success=True), epoch=tx.epoch,
            gas_used=gas, gas_object=gas_id, lamport_version=lamport, inputs=tx.originals,
            created=created, mutated=mutated, deleted=deleted, events=tx.events,
        )  # fmt: skip
        tables = [TableChange(t, k, v) for (t, k), v in tx.tables.items()]
        return ExecutedTransaction(
            "programmable", tx.sender, tx_bytes, signatures, effects, created, mutated, deleted,
            tx.events, tables,
        )  # fmt: skip

    def _failed(
        self,
        tx: WorkingSet,
        data: Any,
        gas_id: str,
        budget: int,
        computation: int,
        exc: MoveAbort | ExecutionFailure,
        tx_bytes: bytes,
        signatures: list[bytes],
    ) -> ExecutedTransaction:
        """Only the gas coins change: merged into the first, which pays the computation cost
        (capped by the budget); every other object, event and table entry is left alone."""
        lamport = self._lamport(tx)
        charged = min(budget, computation)
        payment = [normalize_address(r.ObjectID.to_address_str()) for r in data.GasData.Payment]
        total = sum(coin_value(tx.originals[i]) for i in payment)
        gas = tx.originals[gas_id].copy()
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
        effects = TransactionEffects.summarize(
            transaction_digest=tx.digest, status=status, epoch=tx.epoch,
            gas_used=GasCost(charged, 0, 0), gas_object=gas_id, lamport_version=lamport,
            inputs=tx.originals, created=[], mutated=[gas], deleted=payment[1:], events=[],
        )  # fmt: skip
        return ExecutedTransaction(
            "programmable", tx.sender, tx_bytes, signatures, effects, [], [gas], payment[1:]
        )
