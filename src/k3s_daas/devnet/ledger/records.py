"""What the ledger hands back: object versions, events, transactions, checkpoints, epochs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from k3s_daas.chain.certified import AuthorityStrongQuorumSignInfo
from k3s_daas.devnet.effects import TransactionEffects, TxKind
from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.validators import EpochCommittee


@dataclass(frozen=True)
class ObjectRow:
    """One stored object version with its precomputed digest, its Move struct's BCS (`bcs`) and
    Sui's `Object` BCS (`object_bcs`, what the digest is of)."""

    obj: StoredObject
    digest: str
    bcs: bytes
    object_bcs: bytes = b""


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
    """One committed transaction: raw BCS, signatures and its effects (see docs/devnet.md), with
    the effects and events BCS as committed to (`events_bcs` None: no events)."""

    digest: str
    tx_index: int
    kind: TxKind
    sender: str
    bcs: bytes
    signatures: list[bytes]
    effects: TransactionEffects
    checkpoint: int
    timestamp_ms: int
    effects_bcs: bytes
    events_bcs: bytes | None


@dataclass(frozen=True)
class CheckpointRecord:
    """One certified checkpoint: the `CheckpointSummary` and `CheckpointContents` BCS, the
    committee's quorum certificate, and the columns the ledger queries by."""

    seq: int
    digest: str
    previous_digest: str | None
    epoch: int
    timestamp_ms: int
    tx_digests: list[str]
    total_transactions: int
    summary: bytes
    contents: bytes
    certificate: AuthorityStrongQuorumSignInfo


@dataclass(frozen=True)
class EpochRecord:
    """When an epoch started (time and first checkpoint), its reference gas price and its
    validator committee."""

    epoch: int
    start_ms: int
    first_checkpoint: int
    reference_gas_price: int
    committee: EpochCommittee
