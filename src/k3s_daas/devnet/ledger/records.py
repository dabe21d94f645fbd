"""What the ledger hands back: object versions, events, transactions, checkpoints, epochs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k3s_daas.devnet.effects import TransactionEffects, TxKind
from k3s_daas.devnet.objects import StoredObject


@dataclass(frozen=True)
class ObjectRow:
    """One stored object version with its precomputed digest and BCS."""

    obj: StoredObject
    digest: str
    bcs: bytes


@dataclass(frozen=True)
class OwnedCursor:
    """Where a ListOwnedObjects page resumes: the owner-index key of its first object."""

    type: str
    balance: int | None
    object_id: str


@dataclass(frozen=True)
class EventRow:
    """One stored event, positioned by (tx digest, index) and checkpoint."""

    tx_digest: str
    event_index: int
    checkpoint: int
    package_id: str
    module: str
    sender: str
    event_type: str
    fields: dict[str, Any]
    bcs: bytes


@dataclass(frozen=True)
class TxRecord:
    """One committed transaction: raw BCS, signatures and its effects (see docs/devnet.md)."""

    digest: str
    tx_index: int
    kind: TxKind
    sender: str
    bcs: bytes
    signatures: list[bytes]
    effects: TransactionEffects
    checkpoint: int
    timestamp_ms: int


@dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint: simplified summary, no validator signature."""

    seq: int
    digest: str
    previous_digest: str | None
    epoch: int
    timestamp_ms: int
    tx_digests: list[str]
    total_transactions: int


@dataclass(frozen=True)
class EpochRecord:
    """When an epoch started (time and first checkpoint) and its reference gas price."""

    epoch: int
    start_ms: int
    first_checkpoint: int
    reference_gas_price: int
