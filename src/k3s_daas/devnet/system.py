"""Devnet system transactions (genesis, faucet grants): recorded like any transaction, but their
body is canonical JSON rather than a `TransactionData`, nobody signs them, no gas is charged and
they only create objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k3s_daas.devnet.digests import salted_digest
from k3s_daas.devnet.effects import (
    ExecutedTransaction,
    ExecutionStatus,
    GasCost,
    TransactionEffects,
    TxKind,
)
from k3s_daas.devnet.objects import StoredObject
from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.sui import derive_object_id


@dataclass(frozen=True)
class SystemTransaction:
    """The body and digest of a system transaction, known before the objects it creates."""

    kind: TxKind
    sender: str
    body: bytes
    digest: str

    @classmethod
    def new(cls, kind: TxKind, salt: bytes, sender: str, body: dict[str, Any]) -> SystemTransaction:
        """`salt` names the kind in the digest, e.g. b"DevnetFaucetTransaction::"."""
        return cls(kind, sender, canonical_json(body), salted_digest(salt, body))

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
