"""Checkpoint verification from a trusted anchor, as Sui's light client does it (and a bit more).

The chain of commitments: a trusted committee signs summaries (a 2f+1 stake quorum, BLS min-sig);
a summary commits to its contents and to the previous summary; contents list effects digests;
effects commit to the transaction's events and to each object version it wrote. An end-of-epoch
summary names the next committee. Pure: bytes in, verified values or `UnverifiedChainData` out,
never I/O. Sui's `sui-light-client` (verifier.rs, proof.rs) checks the same links except the
previous-digest chain, which is checked here too.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from k3s_daas.chain.bls import BlsError, BlsPublicKey, verify_aggregate
from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    BcsError,
    CheckpointContents,
    CheckpointSummary,
    Committee,
    Object,
    TransactionEffects,
    TransactionEvents,
    contents_digest,
    effects_digest,
    events_digest,
    object_digest,
    signing_message,
    summary_digest,
)
from k3s_daas.chain.errors import FailedCheck, UnverifiedChainData

#: Verified summary digests remembered by sequence number, to catch a conflicting copy.
DEFAULT_HISTORY: Final = 4096


def _fail(check: FailedCheck, message: str) -> UnverifiedChainData:
    return UnverifiedChainData(message, check=check)


def parse_certificate(epoch: int, signature: bytes, bitmap: bytes) -> AuthorityStrongQuorumSignInfo:
    """sui.rpc.v2 `ValidatorAggregatedSignature` fields as a certificate (or `malformed`)."""
    try:
        return AuthorityStrongQuorumSignInfo.from_parts(epoch, signature, bitmap)
    except ValueError as exc:
        raise _fail(FailedCheck.MALFORMED, f"certificate: {exc}") from None


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A summary certified by its epoch's committee; `contents` once they were checked too."""

    summary: CheckpointSummary
    digest: bytes
    contents: CheckpointContents | None = None

    @property
    def sequence_number(self) -> int:
        return self.summary.sequence_number

    @property
    def epoch(self) -> int:
        return self.summary.epoch


@dataclass(frozen=True)
class VerifiedEffects:
    """Effects listed in a verified checkpoint's contents."""

    effects: TransactionEffects
    digest: bytes
    checkpoint: int


@dataclass(frozen=True)
class _EpochKeys:
    committee: Committee
    keys: tuple[BlsPublicKey, ...]

    @classmethod
    def of(cls, committee: Committee) -> _EpochKeys:
        return cls(
            committee, tuple(BlsPublicKey.from_bytes(m.public_key) for m in committee.members)
        )


class CheckpointVerifier:
    """Follows the chain from an anchor: the committee of one epoch, optionally with the digest
    of the checkpoint to start from (for a network whose genesis committee is not at hand)."""

    def __init__(
        self,
        committee: Committee,
        *,
        pinned_digest: bytes | None = None,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        try:
            self._epochs = {committee.epoch: _EpochKeys.of(committee)}
        except BlsError as exc:
            raise ValueError(f"the anchor committee has an unusable key: {exc}") from None
        self.anchor_epoch = committee.epoch
        self.pinned_digest = pinned_digest
        self._latest: VerifiedCheckpoint | None = None
        self._history: OrderedDict[int, bytes] = OrderedDict()
        self._history_size = history

    @property
    def latest(self) -> VerifiedCheckpoint | None:
        """The last summary `follow` accepted (None before the first)."""
        return self._latest

    def committee(self, epoch: int) -> Committee | None:
        """The trusted committee of `epoch`: the anchor's, or one a verified end-of-epoch
        summary named."""
        keys = self._epochs.get(epoch)
        return None if keys is None else keys.committee

    def check_committee(self, served: Committee) -> None:
        """A committee an endpoint serves (GetEpoch) must equal the trusted one for its epoch."""
        trusted = self.committee(served.epoch)
        if trusted is None:
            raise _fail(FailedCheck.UNKNOWN_EPOCH, f"no trusted committee for epoch {served.epoch}")
        if trusted != served:
            raise _fail(FailedCheck.WRONG_COMMITTEE, f"epoch {served.epoch} committee differs")

    def follow(
        self,
        summary_bcs: bytes,
        certificate: AuthorityStrongQuorumSignInfo,
        contents_bcs: bytes | None = None,
    ) -> VerifiedCheckpoint:
        """Verify the next summary of the chain: the successor of `latest`, linked to it by
        `previous_digest`, in the same epoch or (after an end-of-epoch summary) the next one."""
        summary = _decode_summary(summary_bcs)
        digest = summary_digest(summary_bcs)
        last = self._latest
        if last is None:
            if self.pinned_digest is not None and digest != self.pinned_digest:
                raise _fail(FailedCheck.WRONG_ANCHOR, "not the pinned checkpoint")
            expected_epoch = self.anchor_epoch
        else:
            if summary.sequence_number != last.sequence_number + 1:
                raise _fail(
                    FailedCheck.WRONG_SEQUENCE,
                    f"checkpoint {summary.sequence_number} does not follow {last.sequence_number}",
                )
            if summary.previous_digest != last.digest:
                raise _fail(
                    FailedCheck.BROKEN_LINK,
                    f"checkpoint {summary.sequence_number} does not link to the verified "
                    f"checkpoint {last.sequence_number}",
                )
            expected_epoch = last.epoch + (last.summary.end_of_epoch_data is not None)
        if summary.epoch != expected_epoch:
            raise _fail(
                FailedCheck.WRONG_EPOCH,
                f"checkpoint {summary.sequence_number} claims epoch {summary.epoch}, "
                f"expected {expected_epoch}",
            )
        verified = self._certify(summary, summary_bcs, digest, certificate, contents_bcs)
        next_committee = self._next_committee(summary)
        self._latest = verified
        self._remember(summary.sequence_number, digest)
        if next_committee is not None:
            self._epochs[next_committee.committee.epoch] = next_committee
        return verified

    def certify(
        self,
        summary_bcs: bytes,
        certificate: AuthorityStrongQuorumSignInfo,
        contents_bcs: bytes | None = None,
    ) -> VerifiedCheckpoint:
        """Verify any summary of an epoch with a trusted committee, out of order (e.g. the
        checkpoint that wrote an object). It must agree with every digest already verified."""
        summary = _decode_summary(summary_bcs)
        digest = summary_digest(summary_bcs)
        known = self._history.get(summary.sequence_number)
        if known is not None and known != digest:
            raise _fail(
                FailedCheck.BROKEN_LINK,
                f"checkpoint {summary.sequence_number} differs from the one verified before",
            )
        return self._certify(summary, summary_bcs, digest, certificate, contents_bcs)

    def _certify(
        self,
        summary: CheckpointSummary,
        summary_bcs: bytes,
        digest: bytes,
        certificate: AuthorityStrongQuorumSignInfo,
        contents_bcs: bytes | None,
    ) -> VerifiedCheckpoint:
        epoch_keys = self._epochs.get(summary.epoch)
        if epoch_keys is None:
            raise _fail(
                FailedCheck.UNKNOWN_EPOCH, f"no trusted committee for epoch {summary.epoch}"
            )
        if certificate.epoch != summary.epoch:
            raise _fail(
                FailedCheck.WRONG_EPOCH,
                f"certificate of epoch {certificate.epoch} on a summary of epoch {summary.epoch}",
            )
        committee = epoch_keys.committee
        signers = certificate.signers
        if not signers or signers[-1] >= len(committee.members):
            raise _fail(FailedCheck.BAD_SIGNERS, "signer indices outside the committee")
        stake = committee.stake_of(signers)
        if stake < committee.quorum_threshold:
            raise _fail(
                FailedCheck.NO_QUORUM,
                f"signers hold {stake} of {committee.total_stake}, "
                f"{committee.quorum_threshold} needed",
            )
        message = signing_message(summary_bcs, summary.epoch)
        try:
            valid = verify_aggregate(
                [epoch_keys.keys[i] for i in signers], message, certificate.signature
            )
        except BlsError as exc:
            raise _fail(FailedCheck.BAD_SIGNATURE, str(exc)) from None
        if not valid:
            raise _fail(
                FailedCheck.BAD_SIGNATURE,
                f"checkpoint {summary.sequence_number} is not signed by its signers",
            )
        checkpoint = VerifiedCheckpoint(summary, digest)
        return checkpoint if contents_bcs is None else with_contents(checkpoint, contents_bcs)

    def _next_committee(self, summary: CheckpointSummary) -> _EpochKeys | None:
        try:
            committee = summary.next_committee()
            return None if committee is None else _EpochKeys.of(committee)
        except ValueError as exc:  # BlsError included
            raise _fail(FailedCheck.BAD_COMMITTEE, f"next epoch's committee: {exc}") from None

    def _remember(self, sequence_number: int, digest: bytes) -> None:
        self._history[sequence_number] = digest
        while len(self._history) > self._history_size:
            self._history.popitem(last=False)


def _decode_summary(summary_bcs: bytes) -> CheckpointSummary:
    try:
        return CheckpointSummary.decode(summary_bcs)
    except BcsError as exc:
        raise _fail(FailedCheck.MALFORMED, f"checkpoint summary: {exc}") from None


def with_contents(checkpoint: VerifiedCheckpoint, contents_bcs: bytes) -> VerifiedCheckpoint:
    """The checkpoint with its contents, once their digest is the summary's `content_digest`."""
    if contents_digest(contents_bcs) != checkpoint.summary.content_digest:
        raise _fail(
            FailedCheck.CONTENTS_MISMATCH,
            f"contents are not those of checkpoint {checkpoint.sequence_number}",
        )
    try:
        contents = CheckpointContents.decode(contents_bcs)
    except BcsError as exc:
        raise _fail(FailedCheck.MALFORMED, f"checkpoint contents: {exc}") from None
    return VerifiedCheckpoint(checkpoint.summary, checkpoint.digest, contents)


def verify_effects(checkpoint: VerifiedCheckpoint, effects_bcs: bytes) -> VerifiedEffects:
    """Effects whose digest the verified contents list, for the transaction listed with it."""
    if checkpoint.contents is None:
        raise ValueError("verify the checkpoint's contents before its effects")
    digest = effects_digest(effects_bcs)
    entry = checkpoint.contents.find_effects(digest)
    if entry is None:
        raise _fail(
            FailedCheck.EFFECTS_MISMATCH,
            f"effects not listed in checkpoint {checkpoint.sequence_number}",
        )
    try:
        effects = TransactionEffects.decode(effects_bcs)
    except BcsError as exc:
        raise _fail(FailedCheck.MALFORMED, f"transaction effects: {exc}") from None
    if effects.transaction_digest != entry.transaction:
        raise _fail(FailedCheck.EFFECTS_MISMATCH, "effects of another transaction")
    return VerifiedEffects(effects, digest, checkpoint.sequence_number)


def verify_events(effects: VerifiedEffects, events_bcs: bytes | None) -> TransactionEvents | None:
    """The transaction's events, when their digest is the effects' `events_digest` (None for a
    transaction without events; withholding the events of one with events fails)."""
    expected = effects.effects.events_digest
    if events_bcs is None:
        if expected is not None:
            raise _fail(FailedCheck.EVENTS_MISMATCH, "the transaction's events are missing")
        return None
    if expected is None or events_digest(events_bcs) != expected:
        raise _fail(FailedCheck.EVENTS_MISMATCH, "events are not the transaction's")
    try:
        return TransactionEvents.decode(events_bcs)
    except BcsError as exc:
        raise _fail(FailedCheck.MALFORMED, f"transaction events: {exc}") from None


def verify_object(effects: VerifiedEffects, object_bcs: bytes) -> Object:
    """An object version these effects wrote: its digest and version are the changed-object
    entry's, and it names this transaction as its previous transaction."""
    try:
        obj = Object.decode(object_bcs)
    except BcsError as exc:
        raise _fail(FailedCheck.MALFORMED, f"object: {exc}") from None
    written = effects.effects.output_reference(obj.object_id)
    if written is None:
        raise _fail(FailedCheck.OBJECT_MISMATCH, f"{obj.object_id} not written by the transaction")
    version, digest = written
    if obj.version != version or object_digest(object_bcs) != digest:
        raise _fail(
            FailedCheck.OBJECT_MISMATCH,
            f"{obj.object_id} is not the version {version} the transaction wrote",
        )
    if obj.previous_transaction != effects.effects.transaction_digest:
        raise _fail(FailedCheck.OBJECT_MISMATCH, f"{obj.object_id} names another transaction")
    return obj


__all__ = [
    "DEFAULT_HISTORY",
    "CheckpointVerifier",
    "VerifiedCheckpoint",
    "VerifiedEffects",
    "parse_certificate",
    "verify_effects",
    "verify_events",
    "verify_object",
    "with_contents",
]
