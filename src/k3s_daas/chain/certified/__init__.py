"""Sui's certified data in BCS: checkpoint summaries and their quorum certificates, contents,
transaction effects and events, objects; each with Sui's digest (`blake2b256("Type::" ‖ bcs)`).

Encoders and strict decoders, so the devnet writes exactly what a Sui node writes and the
verifier (`k3s_daas.chain.verifier`) reads what any node sends. Every layout names its source
in MystenLabs/sui; the formats are pinned on a real checkpoint (tests/unit/test_chain_certified.py).
"""

from __future__ import annotations

from k3s_daas.chain.certified.bcs import (
    BcsError,
    digest_from_base58,
    digest_to_base58,
    sui_digest,
)
from k3s_daas.chain.certified.certificate import (
    ROARING_COOKIE,
    AuthorityStrongQuorumSignInfo,
    CertifiedCheckpointSummary,
    decode_signers,
    encode_signers,
)
from k3s_daas.chain.certified.checkpoint import (
    CHECKPOINT_INTENT,
    EMPTY_VERSION_SPECIFIC_DATA,
    CheckpointCommitment,
    CheckpointContents,
    CheckpointSummary,
    CommitmentKind,
    EndOfEpochData,
    ExecutionDigests,
    GasCostSummary,
    UserSignature,
    contents_digest,
    signing_message,
    summary_digest,
)
from k3s_daas.chain.certified.committee import Committee, CommitteeMember, quorum_threshold
from k3s_daas.chain.certified.effects import (
    ChangedObject,
    IdOperation,
    ObjectInput,
    ObjectOutput,
    OutputKind,
    TransactionEffects,
    UnchangedKind,
    UnchangedSharedObject,
    effects_digest,
)
from k3s_daas.chain.certified.events import Event, TransactionEvents, events_digest
from k3s_daas.chain.certified.execution_status import ExecutionFailure
from k3s_daas.chain.certified.move_types import StructType, TypeTag, VectorType, parse_type
from k3s_daas.chain.certified.objects import (
    MoveObject,
    MovePackage,
    Object,
    TypeOrigin,
    UpgradeInfo,
    coin_type,
    object_digest,
)
from k3s_daas.chain.certified.owner import Owner, OwnerKind

__all__ = [
    "CHECKPOINT_INTENT",
    "EMPTY_VERSION_SPECIFIC_DATA",
    "ROARING_COOKIE",
    "AuthorityStrongQuorumSignInfo",
    "BcsError",
    "CertifiedCheckpointSummary",
    "ChangedObject",
    "CheckpointCommitment",
    "CheckpointContents",
    "CheckpointSummary",
    "CommitmentKind",
    "Committee",
    "CommitteeMember",
    "EndOfEpochData",
    "Event",
    "ExecutionDigests",
    "ExecutionFailure",
    "GasCostSummary",
    "IdOperation",
    "MoveObject",
    "MovePackage",
    "Object",
    "ObjectInput",
    "ObjectOutput",
    "OutputKind",
    "Owner",
    "OwnerKind",
    "StructType",
    "TransactionEffects",
    "TransactionEvents",
    "TypeOrigin",
    "TypeTag",
    "UnchangedKind",
    "UnchangedSharedObject",
    "UpgradeInfo",
    "UserSignature",
    "VectorType",
    "coin_type",
    "contents_digest",
    "decode_signers",
    "digest_from_base58",
    "digest_to_base58",
    "effects_digest",
    "encode_signers",
    "events_digest",
    "object_digest",
    "parse_type",
    "quorum_threshold",
    "signing_message",
    "sui_digest",
    "summary_digest",
]
