"""`CheckpointSummary` and `CheckpointContents`: what validators sign and what it commits to.

Field order is the structs' declaration order in `sui-types` messages_checkpoint.rs (not the
argument order of `CheckpointSummary::new`); checked byte for byte against a real checkpoint
(sui-rust-sdk `tests/fixtures/ocs/1137.chk`). The signed message is the summary behind the
checkpoint-summary intent, followed by the epoch: `02 00 00 ‖ bcs(summary) ‖ u64le(epoch)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from k3s_daas.chain.certified import bcs
from k3s_daas.chain.certified.committee import Committee, CommitteeMember

#: `Intent::sui_app(IntentScope::CheckpointSummary)`: scope 2, version V0, app Sui.
CHECKPOINT_INTENT: Final = bytes([2, 0, 0])
#: `CheckpointVersionSpecificData::V1 { randomness_rounds: [] }`, what current nodes write.
EMPTY_VERSION_SPECIFIC_DATA: Final = b"\x00\x00"


@dataclass(frozen=True)
class GasCostSummary:
    """Four u64 gas figures (an epoch's rolling total, or one transaction's)."""

    computation_cost: int = 0
    storage_cost: int = 0
    storage_rebate: int = 0
    non_refundable_storage_fee: int = 0

    def encode(self) -> bytes:
        return (
            bcs.u64(self.computation_cost)
            + bcs.u64(self.storage_cost)
            + bcs.u64(self.storage_rebate)
            + bcs.u64(self.non_refundable_storage_fee)
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> GasCostSummary:
        return cls(reader.u64(), reader.u64(), reader.u64(), reader.u64())


class CommitmentKind(IntEnum):
    """`CheckpointCommitment` variants."""

    ECMH_LIVE_OBJECT_SET = 0
    CHECKPOINT_ARTIFACTS = 1


@dataclass(frozen=True)
class CheckpointCommitment:
    kind: CommitmentKind
    digest: bytes

    def encode(self) -> bytes:
        return bcs.tag(self.kind) + bcs.digest(self.digest)

    @classmethod
    def read(cls, reader: bcs.Reader) -> CheckpointCommitment:
        kind = CommitmentKind(reader.tag(len(CommitmentKind), "CheckpointCommitment"))
        return cls(kind, reader.digest())


@dataclass(frozen=True)
class EndOfEpochData:
    """Carried by an epoch's last summary: the next committee, as the validators signed it."""

    next_epoch_committee: tuple[CommitteeMember, ...]
    next_epoch_protocol_version: int
    epoch_commitments: tuple[CheckpointCommitment, ...] = ()

    def encode(self) -> bytes:
        return (
            bcs.vector(self.next_epoch_committee, CommitteeMember.encode)
            + bcs.u64(self.next_epoch_protocol_version)
            + bcs.vector(self.epoch_commitments, CheckpointCommitment.encode)
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> EndOfEpochData:
        return cls(
            reader.vector(lambda: CommitteeMember.read(reader)),
            reader.u64(),
            reader.vector(lambda: CheckpointCommitment.read(reader)),
        )


@dataclass(frozen=True)
class CheckpointSummary:
    """One checkpoint's header; its digest is what the next summary's `previous_digest` names."""

    epoch: int
    sequence_number: int
    network_total_transactions: int
    content_digest: bytes
    previous_digest: bytes | None
    epoch_rolling_gas_cost_summary: GasCostSummary
    timestamp_ms: int
    checkpoint_commitments: tuple[CheckpointCommitment, ...] = ()
    end_of_epoch_data: EndOfEpochData | None = None
    version_specific_data: bytes = EMPTY_VERSION_SPECIFIC_DATA

    def encode(self) -> bytes:
        return (
            bcs.u64(self.epoch)
            + bcs.u64(self.sequence_number)
            + bcs.u64(self.network_total_transactions)
            + bcs.digest(self.content_digest)
            + bcs.option(self.previous_digest, bcs.digest)
            + self.epoch_rolling_gas_cost_summary.encode()
            + bcs.u64(self.timestamp_ms)
            + bcs.vector(self.checkpoint_commitments, CheckpointCommitment.encode)
            + bcs.option(self.end_of_epoch_data, EndOfEpochData.encode)
            + bcs.byte_vector(self.version_specific_data)
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> CheckpointSummary:
        return cls(
            epoch=reader.u64(),
            sequence_number=reader.u64(),
            network_total_transactions=reader.u64(),
            content_digest=reader.digest(),
            previous_digest=reader.option(reader.digest),
            epoch_rolling_gas_cost_summary=GasCostSummary.read(reader),
            timestamp_ms=reader.u64(),
            checkpoint_commitments=reader.vector(lambda: CheckpointCommitment.read(reader)),
            end_of_epoch_data=reader.option(lambda: EndOfEpochData.read(reader)),
            version_specific_data=reader.byte_vector(),
        )

    @classmethod
    def decode(cls, data: bytes) -> CheckpointSummary:
        return bcs.decode_all(data, cls.read, "checkpoint summary")

    def digest(self) -> bytes:
        """The checkpoint digest: `blake2b256("CheckpointSummary::" ‖ bcs)`."""
        return summary_digest(self.encode())

    def signing_message(self) -> bytes:
        return signing_message(self.encode(), self.epoch)

    def next_committee(self) -> Committee | None:
        """The committee of `epoch + 1` an end-of-epoch summary names (None otherwise)."""
        if self.end_of_epoch_data is None:
            return None
        return Committee.of(self.epoch + 1, self.end_of_epoch_data.next_epoch_committee)


def summary_digest(summary_bcs: bytes) -> bytes:
    """The digest of a summary from its received bytes (hash first, parse after)."""
    return bcs.sui_digest("CheckpointSummary", summary_bcs)


def signing_message(summary_bcs: bytes, epoch: int) -> bytes:
    """The bytes each validator signs: intent ‖ summary ‖ epoch (`sui-types` crypto.rs)."""
    return CHECKPOINT_INTENT + summary_bcs + bcs.u64(epoch)


@dataclass(frozen=True)
class ExecutionDigests:
    """A transaction and its effects, as a checkpoint lists them."""

    transaction: bytes
    effects: bytes

    def encode(self) -> bytes:
        return bcs.digest(self.transaction) + bcs.digest(self.effects)

    @classmethod
    def read(cls, reader: bcs.Reader) -> ExecutionDigests:
        return cls(reader.digest(), reader.digest())


@dataclass(frozen=True)
class UserSignature:
    """A `GenericSignature`'s bytes; V2 contents add the address-alias version it was made at."""

    signature: bytes
    alias_version: int | None = None


@dataclass(frozen=True)
class CheckpointContents:
    """The transactions of a checkpoint (V1 or V2), with their user signatures."""

    transactions: tuple[ExecutionDigests, ...]
    user_signatures: tuple[tuple[UserSignature, ...], ...]
    version: int = 1
    _by_effects: dict[bytes, ExecutionDigests] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if self.version not in (1, 2):
            raise ValueError("checkpoint contents are V1 or V2")
        if len(self.transactions) != len(self.user_signatures):
            raise ValueError("one signature list per transaction")
        if self.version == 1 and any(
            s.alias_version is not None for sigs in self.user_signatures for s in sigs
        ):
            raise ValueError("V1 contents carry no address-alias versions")
        self._by_effects.update((t.effects, t) for t in self.transactions)

    @classmethod
    def of(cls, transactions: tuple[ExecutionDigests, ...]) -> CheckpointContents:
        """V1 contents with empty signature lists (`new_with_digests_only_for_tests`)."""
        return cls(transactions, tuple(() for _ in transactions))

    def find_effects(self, effects_digest: bytes) -> ExecutionDigests | None:
        """The entry listing `effects_digest`, if this checkpoint has it."""
        return self._by_effects.get(effects_digest)

    def encode(self) -> bytes:
        if self.version == 1:
            return (
                bcs.tag(0)
                + bcs.vector(self.transactions, ExecutionDigests.encode)
                + bcs.vector(
                    self.user_signatures,
                    lambda sigs: bcs.vector(sigs, lambda s: bcs.byte_vector(s.signature)),
                )
            )
        return bcs.tag(1) + bcs.vector(
            zip(self.transactions, self.user_signatures, strict=True),
            lambda item: (
                item[0].encode()
                + bcs.vector(
                    item[1],
                    lambda s: bcs.byte_vector(s.signature) + bcs.option(s.alias_version, bcs.u64),
                )
            ),
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> CheckpointContents:
        if reader.tag(2, "CheckpointContents") == 0:
            transactions = reader.vector(lambda: ExecutionDigests.read(reader))
            signatures = reader.vector(
                lambda: reader.vector(lambda: UserSignature(reader.byte_vector()))
            )
            version = 1
        else:
            items = reader.vector(
                lambda: (
                    ExecutionDigests.read(reader),
                    reader.vector(
                        lambda: UserSignature(reader.byte_vector(), reader.option(reader.u64))
                    ),
                )
            )
            transactions = tuple(t for t, _ in items)
            signatures = tuple(s for _, s in items)
            version = 2
        try:
            return cls(transactions, signatures, version)
        except ValueError as exc:
            raise bcs.BcsError(str(exc)) from None

    @classmethod
    def decode(cls, data: bytes) -> CheckpointContents:
        return bcs.decode_all(data, cls.read, "checkpoint contents")

    def digest(self) -> bytes:
        return contents_digest(self.encode())


def contents_digest(contents_bcs: bytes) -> bytes:
    """`blake2b256("CheckpointContents::" ‖ bcs)`, the variant byte included."""
    return bcs.sui_digest("CheckpointContents", contents_bcs)


__all__ = [
    "CHECKPOINT_INTENT",
    "EMPTY_VERSION_SPECIFIC_DATA",
    "CheckpointCommitment",
    "CheckpointContents",
    "CheckpointSummary",
    "CommitmentKind",
    "EndOfEpochData",
    "ExecutionDigests",
    "GasCostSummary",
    "UserSignature",
    "contents_digest",
    "signing_message",
    "summary_digest",
]
