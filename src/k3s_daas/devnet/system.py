"""Devnet system transactions (genesis, faucet grants): recorded like any transaction, with a
real `TransactionData` whose digest is the transaction digest, but nobody signs them, no gas is
charged, the devnet applies them itself (never through the executor) and they only create
objects.

Both use Sui's system-transaction envelope (`TransactionData::new_system_transaction`: sender
0x0, gas payment `(0x0, 0, ObjectDigest::MIN)`, owner 0x0, price 1, budget 0, no expiration;
checked on sui-rust-sdk's genesis-transaction fixture). Genesis is Sui's `Genesis` kind listing
the objects it creates. A faucet grant is the programmable transaction a faucet sends:
`SplitCoins(GasCoin, [amount])`, `TransferObjects([coin], recipient)`, with an unused third pure
input, a nonce, so two equal grants have different digests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from k3s_daas.chain import transaction_digest
from k3s_daas.chain.certified import bcs
from k3s_daas.devnet.effects import (
    ExecutedTransaction,
    ExecutionStatus,
    GasCost,
    TransactionEffects,
    TxKind,
)
from k3s_daas.devnet.objects import StoredObject
from k3s_daas.seal.sui import derive_object_id

#: The sender (and gas owner) of every system transaction.
SYSTEM_ADDRESS: Final = "0x" + "00" * 32
_ZERO: Final = bytes(32)
_V1, _PROGRAMMABLE, _GENESIS = 0, 0, 2
_PURE, _GAS_COIN, _INPUT, _NESTED_RESULT = 0, 0, 1, 3
_TRANSFER_OBJECTS, _SPLIT_COINS = 1, 2


def _system_transaction(kind: bytes) -> bytes:
    """`TransactionData::V1` of a system transaction of this (encoded) kind."""
    gas = bcs.vector([_ZERO], lambda oid: oid + bcs.u64(0) + bcs.digest(_ZERO))
    gas += _ZERO + bcs.u64(1) + bcs.u64(0)
    return bcs.tag(_V1) + kind + _ZERO + gas + bcs.tag(0)


def genesis_transaction(objects: Sequence[StoredObject]) -> bytes:
    """`Genesis { objects: [RawObject { data, owner }] }`: the objects as they are created."""

    def raw(obj: StoredObject) -> bytes:
        sui = obj.sui_object()
        return bcs.tag(0) + bcs.tag(0) + sui.data.encode() + sui.owner.encode()

    return _system_transaction(bcs.tag(_GENESIS) + bcs.vector(objects, raw))


def faucet_transaction(recipient: str, amount: int, nonce: int) -> bytes:
    """The grant as a PTB: split `amount` off the gas coin, transfer it to `recipient`."""
    inputs = [bcs.u64(amount), bcs.address(recipient), bcs.u64(nonce)]
    split = (
        bcs.tag(_SPLIT_COINS)
        + bcs.tag(_GAS_COIN)
        + bcs.vector([0], lambda i: bcs.tag(_INPUT) + bcs.u16(i))
    )
    transfer = (
        bcs.tag(_TRANSFER_OBJECTS)
        + bcs.vector([(0, 0)], lambda r: bcs.tag(_NESTED_RESULT) + bcs.u16(r[0]) + bcs.u16(r[1]))
        + bcs.tag(_INPUT)
        + bcs.u16(1)
    )
    kind = (
        bcs.tag(_PROGRAMMABLE)
        + bcs.vector(inputs, lambda data: bcs.tag(_PURE) + bcs.byte_vector(data))
        + bcs.vector([split, transfer], lambda command: command)
    )
    return _system_transaction(kind)


@dataclass(frozen=True)
class SystemTransaction:
    """The `TransactionData` BCS and digest of a system transaction."""

    kind: TxKind
    body: bytes

    @property
    def digest(self) -> str:
        return transaction_digest(self.body)

    @property
    def sender(self) -> str:
        return SYSTEM_ADDRESS

    def object_id(self, index: int) -> str:
        """Id of the `index`-th object this transaction creates (as a real one would)."""
        return derive_object_id(self.digest, index)

    def executed(self, created: list[StoredObject], epoch: int) -> ExecutedTransaction:
        """The transaction with its effects: `created` objects, at version 1, nothing else."""
        effects = TransactionEffects.summarize(
            transaction_digest=self.digest, status=ExecutionStatus(success=True), epoch=epoch,
            gas_used=GasCost(0, 0, 0), gas_object=None, lamport_version=1, inputs={},
            created=created, mutated=[], deleted=[], events=[],
        )  # fmt: skip
        return ExecutedTransaction(self.kind, self.sender, self.body, [], effects, created)


__all__ = [
    "SYSTEM_ADDRESS",
    "SystemTransaction",
    "faucet_transaction",
    "genesis_transaction",
]
