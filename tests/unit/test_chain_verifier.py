"""`CheckpointVerifier` on a generated 4-validator committee (2,500 stake each, 3 signers needed):
a linked chain, an epoch change handing over to the next committee, forged, replayed and
forked summaries, wrong committees, and the effects -> events / objects proofs under it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from k3s_daas.chain.bls import BlsPrivateKey
from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    ChangedObject,
    CheckpointContents,
    CheckpointSummary,
    Committee,
    CommitteeMember,
    EndOfEpochData,
    Event,
    ExecutionDigests,
    ExecutionFailure,
    GasCostSummary,
    MoveObject,
    Object,
    ObjectInput,
    ObjectOutput,
    Owner,
    StructType,
    TransactionEffects,
    TransactionEvents,
    coin_type,
)
from k3s_daas.chain.errors import ChainError, FailedCheck, UnverifiedChainData
from k3s_daas.chain.verifier import (
    CheckpointVerifier,
    VerifiedCheckpoint,
    parse_certificate,
    verify_effects,
    verify_events,
    verify_object,
    with_contents,
)

STAKER = "0x" + "ab" * 32
PACKAGE = "0x" + "cd" * 32
STAKE_RECORD = StructType(PACKAGE, "staking", "StakeRecord")


def _failed(check: FailedCheck) -> pytest.RaisesExc[UnverifiedChainData]:
    return pytest.raises(UnverifiedChainData, match=f"^{check}: ")


@dataclasses.dataclass(frozen=True)
class Validators:
    """A committee and its members' keys, in committee order."""

    committee: Committee
    keys: tuple[BlsPrivateKey, ...]

    @classmethod
    def generate(cls, epoch: int, label: int, stakes: Sequence[int] = (2500,) * 4) -> Validators:
        keys = [BlsPrivateKey.from_seed(bytes([label, i]) * 16) for i in range(len(stakes))]
        pairs = sorted(zip(keys, stakes, strict=True), key=lambda p: p[0].public_key())
        members = tuple(CommitteeMember(k.public_key(), s) for k, s in pairs)
        return cls(Committee(epoch, members), tuple(k for k, _ in pairs))

    def sign(
        self, summary: CheckpointSummary, signers: Sequence[int]
    ) -> AuthorityStrongQuorumSignInfo:
        return AuthorityStrongQuorumSignInfo.sign(summary, {i: self.keys[i] for i in signers})


@dataclasses.dataclass
class Signed:
    summary: CheckpointSummary
    bcs: bytes
    certificate: AuthorityStrongQuorumSignInfo
    contents: bytes


class ChainBuilder:
    """Builds summaries the way validators would: each links to the previous one."""

    def __init__(self, validators: Validators) -> None:
        self.validators = validators
        self.epoch = validators.committee.epoch
        self.sequence = 0
        self.previous: bytes | None = None
        self.total = 0

    def next(
        self,
        transactions: tuple[ExecutionDigests, ...] = (),
        *,
        signers: Sequence[int] = (0, 1, 2),
        next_validators: Validators | None = None,
        signed_by: Validators | None = None,
        **changes: object,
    ) -> Signed:
        contents = CheckpointContents.of(transactions)
        self.total += len(transactions)
        eoe = None
        if next_validators is not None:
            eoe = EndOfEpochData(next_validators.committee.members, 72)
        fields: dict[str, object] = {
            "epoch": self.epoch,
            "sequence_number": self.sequence,
            "network_total_transactions": self.total,
            "content_digest": contents.digest(),
            "previous_digest": self.previous,
            "epoch_rolling_gas_cost_summary": GasCostSummary(),
            "timestamp_ms": 1_700_000_000_000 + 250 * self.sequence,
            "end_of_epoch_data": eoe,
        }
        summary = CheckpointSummary(**{**fields, **changes})  # type: ignore[arg-type]
        certificate = (signed_by or self.validators).sign(summary, signers)
        self.previous = summary.digest()
        self.sequence += 1
        if next_validators is not None:
            self.validators = next_validators
            self.epoch += 1
        return Signed(summary, summary.encode(), certificate, contents.encode())


def fork_of(chain: ChainBuilder, *, epoch: int | None = None) -> ChainBuilder:
    """A copy of `chain` from here on, optionally writing another epoch (a liar's chain)."""
    copy = ChainBuilder(chain.validators)
    copy.__dict__.update(chain.__dict__)
    if epoch is not None:
        copy.epoch = epoch
    return copy


def follow(verifier: CheckpointVerifier, signed: Signed) -> VerifiedCheckpoint:
    return verifier.follow(signed.bcs, signed.certificate, signed.contents)


A = Validators.generate(0, 1)
B = Validators.generate(1, 2)


def test_follows_a_linked_chain_from_genesis() -> None:
    chain = ChainBuilder(A)
    verifier = CheckpointVerifier(A.committee)
    assert verifier.latest is None
    for sequence in range(4):
        checkpoint = follow(
            verifier, chain.next(signers=[(0, 1, 2), (1, 2, 3), (0, 1, 2, 3), (0, 2, 3)][sequence])
        )
        assert checkpoint.sequence_number == sequence
        assert checkpoint.contents is not None
        assert verifier.latest == checkpoint
    assert verifier.latest is not None
    assert verifier.latest.digest == chain.previous


def test_an_epoch_change_hands_over_to_the_next_committee() -> None:
    chain = ChainBuilder(A)
    verifier = CheckpointVerifier(A.committee)
    follow(verifier, chain.next())
    assert verifier.committee(1) is None
    follow(verifier, chain.next(next_validators=B))  # the last checkpoint of epoch 0
    assert verifier.committee(1) == B.committee
    first_of_epoch_1 = chain.next()
    assert first_of_epoch_1.summary.epoch == 1
    follow(verifier, first_of_epoch_1)
    follow(verifier, chain.next(signers=(1, 2, 3)))
    assert verifier.latest is not None
    assert (verifier.latest.epoch, verifier.latest.sequence_number) == (1, 3)
    verifier.check_committee(B.committee)


def test_the_old_committee_cannot_sign_the_new_epoch() -> None:
    chain = ChainBuilder(A)
    verifier = CheckpointVerifier(A.committee)
    follow(verifier, chain.next(next_validators=B))
    with _failed(FailedCheck.BAD_SIGNATURE):
        follow(verifier, fork_of(chain).next(signed_by=A))
    follow(verifier, chain.next())


def test_epochs_change_only_after_an_end_of_epoch_summary() -> None:
    chain = ChainBuilder(A)
    verifier = CheckpointVerifier(A.committee)
    follow(verifier, chain.next())
    with _failed(FailedCheck.WRONG_EPOCH):  # epoch 1 without a hand-over
        follow(verifier, fork_of(chain, epoch=1).next(signed_by=B))
    follow(verifier, chain.next(next_validators=B))
    with _failed(FailedCheck.WRONG_EPOCH):  # still epoch 0 after the hand-over
        follow(verifier, fork_of(chain, epoch=0).next(signed_by=A))
    honest = chain.next()
    lying_certificate = dataclasses.replace(honest.certificate, epoch=0)
    with _failed(FailedCheck.WRONG_EPOCH):
        verifier.follow(honest.bcs, lying_certificate, honest.contents)
    follow(verifier, honest)


def test_a_forged_summary_without_quorum_is_refused() -> None:
    chain = ChainBuilder(A)
    verifier = CheckpointVerifier(A.committee)
    follow(verifier, chain.next())
    honest_chain = fork_of(chain, epoch=0)
    forged = chain.next(signers=(0, 1))  # 5,000 of 10,000
    with _failed(FailedCheck.NO_QUORUM):
        follow(verifier, forged)
    # claiming a fourth signer that did not sign
    padded = dataclasses.replace(forged.certificate, signers=(0, 1, 2))
    with _failed(FailedCheck.BAD_SIGNATURE):
        verifier.follow(forged.bcs, padded, forged.contents)
    assert verifier.latest is not None
    assert verifier.latest.sequence_number == 0  # nothing moved
    follow(verifier, honest_chain.next())


def test_a_replayed_or_forked_summary_is_refused() -> None:
    chain = ChainBuilder(A)
    verifier = CheckpointVerifier(A.committee)
    history = [chain.next() for _ in range(3)]
    for signed in history:
        follow(verifier, signed)
    with _failed(FailedCheck.WRONG_SEQUENCE):
        follow(verifier, history[1])
    with _failed(FailedCheck.WRONG_SEQUENCE):
        follow(verifier, history[2])
    fork = fork_of(chain, epoch=0)
    fork.previous = history[0].summary.digest()  # a quorum-signed successor of the wrong parent
    with _failed(FailedCheck.BROKEN_LINK):
        follow(verifier, fork.next())
    follow(verifier, chain.next())


def test_a_wrong_committee_is_refused() -> None:
    chain = ChainBuilder(A)
    with _failed(FailedCheck.BAD_SIGNATURE):
        follow(CheckpointVerifier(dataclasses.replace(B.committee, epoch=0)), chain.next())
    verifier = CheckpointVerifier(A.committee)
    with _failed(FailedCheck.WRONG_COMMITTEE):
        verifier.check_committee(dataclasses.replace(B.committee, epoch=0))
    with _failed(FailedCheck.UNKNOWN_EPOCH):
        verifier.check_committee(B.committee)
    reordered_stake = Committee(
        0, tuple(dataclasses.replace(m, stake=2501) for m in A.committee.members)
    )
    with _failed(FailedCheck.WRONG_COMMITTEE):
        verifier.check_committee(reordered_stake)
    verifier.check_committee(A.committee)
    assert issubclass(UnverifiedChainData, ChainError)
    with pytest.raises(UnverifiedChainData) as caught:
        verifier.check_committee(reordered_stake)
    assert caught.value.reason == "unverified_chain_data"
    assert caught.value.check == FailedCheck.WRONG_COMMITTEE


def test_stake_weights_decide_the_quorum() -> None:
    whale = Validators.generate(0, 3, stakes=(7000, 1000, 1000, 1000))
    heavy = max(range(4), key=lambda i: whale.committee.members[i].stake)
    light = tuple(i for i in range(4) if i != heavy)
    chain = ChainBuilder(whale)
    verifier = CheckpointVerifier(whale.committee)
    follow(verifier, chain.next(signers=(heavy,)))
    with _failed(FailedCheck.NO_QUORUM):
        follow(verifier, chain.next(signers=light))


def test_out_of_order_certification_agrees_with_the_followed_chain() -> None:
    chain = ChainBuilder(A)
    verifier = CheckpointVerifier(A.committee)
    signed = [chain.next() for _ in range(4)]
    for s in signed:
        follow(verifier, s)
    again = verifier.certify(signed[1].bcs, signed[1].certificate, signed[1].contents)
    assert again.digest == signed[1].summary.digest()
    conflicting = ChainBuilder(A)
    conflicting.sequence = 1
    other = conflicting.next(timestamp_ms=5)  # quorum-signed, but not the verified checkpoint 1
    with _failed(FailedCheck.BROKEN_LINK):
        verifier.certify(other.bcs, other.certificate)
    ahead = fork_of(chain)
    ahead.sequence = 40
    far = ahead.next()
    assert verifier.certify(far.bcs, far.certificate).sequence_number == 40
    later = ChainBuilder(B)
    later.sequence = 100
    later_epoch = later.next()
    with _failed(FailedCheck.UNKNOWN_EPOCH):
        verifier.certify(later_epoch.bcs, later_epoch.certificate)
    assert verifier.latest is not None
    assert verifier.latest.sequence_number == 3  # certify never moves the followed chain


def test_a_pinned_anchor_starts_the_chain_there() -> None:
    chain = ChainBuilder(A)
    signed = [chain.next() for _ in range(3)]
    verifier = CheckpointVerifier(A.committee, pinned_digest=signed[1].summary.digest())
    with _failed(FailedCheck.WRONG_ANCHOR):
        follow(verifier, signed[0])
    follow(verifier, signed[1])
    follow(verifier, signed[2])


@pytest.mark.parametrize("bad", ["zero stake", "not a point", "repeated key"])
def test_an_unusable_next_committee_is_refused(bad: str) -> None:
    members = list(B.committee.members)
    if bad == "zero stake":
        members[0] = dataclasses.replace(members[0], stake=0)
    elif bad == "not a point":
        members[0] = CommitteeMember(b"\x8f" + b"\xff" * 95, 2500)
    else:
        members[1] = members[0]
    chain = ChainBuilder(A)
    verifier = CheckpointVerifier(A.committee)
    signed = chain.next(end_of_epoch_data=EndOfEpochData(tuple(members), 72))
    with _failed(FailedCheck.BAD_COMMITTEE):
        follow(verifier, signed)
    assert verifier.latest is None


def test_malformed_bytes_are_refused() -> None:
    signed = ChainBuilder(A).next()
    verifier = CheckpointVerifier(A.committee)
    with _failed(FailedCheck.MALFORMED):
        verifier.follow(signed.bcs + b"\x00", signed.certificate)
    with _failed(FailedCheck.MALFORMED):
        parse_certificate(0, signed.certificate.signature, b"\x3b\x30\x00\x00")
    with _failed(FailedCheck.MALFORMED):
        parse_certificate(0, signed.certificate.signature[:40], signed.certificate.bitmap())
    certificate = parse_certificate(0, signed.certificate.signature, signed.certificate.bitmap())
    assert verifier.follow(signed.bcs, certificate).sequence_number == 0


# -- effects, events and objects under a verified checkpoint ---------------------------------------
def written_object(version: int, tx_digest: bytes, amount: int = 100) -> Object:
    contents = bytes.fromhex("11" * 32) + amount.to_bytes(8, "little")
    return Object(
        MoveObject(STAKE_RECORD, False, version, contents), Owner.shared(2), tx_digest, 10
    )


def transaction(
    *, failure: ExecutionFailure | None = None, events: TransactionEvents | None = None
) -> tuple[TransactionEffects, Object]:
    tx_digest = bytes([7]) * 32
    obj = written_object(12, tx_digest)
    gas = Object(
        MoveObject(coin_type(StructType("0x2", "sui", "SUI")), True, 12, bytes([9]) * 40),
        Owner.by_address(STAKER),
        tx_digest,
    )
    effects = TransactionEffects(
        executed_epoch=0,
        gas_used=GasCostSummary(1000, 2000, 0, 0),
        transaction_digest=tx_digest,
        lamport_version=12,
        changed_objects=(
            ChangedObject(
                obj.object_id,
                ObjectInput(11, bytes(32), Owner.shared(2)),
                ObjectOutput.object_write(obj.digest(), obj.owner),
            ),
            ChangedObject(
                gas.object_id,
                ObjectInput(5, bytes(32), gas.owner),
                ObjectOutput.object_write(gas.digest(), gas.owner),
            ),
        ),
        events_digest=None if events is None else events.digest(),
        failure=failure,
        gas_object_index=1,
    )
    return effects, obj


SLASHED = TransactionEvents(
    (Event(PACKAGE, "staking", STAKER, StructType(PACKAGE, "staking", "StakeSlashed"), b"\x01"),)
)


def verified_with(effects: TransactionEffects) -> VerifiedCheckpoint:
    chain = ChainBuilder(A)
    signed = chain.next((ExecutionDigests(effects.transaction_digest, effects.digest()),))
    return CheckpointVerifier(A.committee).follow(signed.bcs, signed.certificate, signed.contents)


def test_effects_events_and_objects_chain_up_to_the_summary() -> None:
    effects, obj = transaction(events=SLASHED)
    checkpoint = verified_with(effects)
    verified = verify_effects(checkpoint, effects.encode())
    assert verified.checkpoint == 0
    assert verify_events(verified, SLASHED.encode()) == SLASHED
    assert verify_object(verified, obj.encode()) == obj


def test_events_must_be_the_transactions() -> None:
    effects, _ = transaction(events=SLASHED)
    verified = verify_effects(verified_with(effects), effects.encode())
    with _failed(FailedCheck.EVENTS_MISMATCH):  # withheld (e.g. a dropped slash)
        verify_events(verified, None)
    with _failed(FailedCheck.EVENTS_MISMATCH):
        verify_events(verified, TransactionEvents(()).encode())
    tampered = TransactionEvents((dataclasses.replace(SLASHED.data[0], contents=b"\x00"),))
    with _failed(FailedCheck.EVENTS_MISMATCH):
        verify_events(verified, tampered.encode())
    quiet_effects, _ = transaction()
    quiet = verify_effects(verified_with(quiet_effects), quiet_effects.encode())
    assert verify_events(quiet, None) is None
    with _failed(FailedCheck.EVENTS_MISMATCH):  # events invented for a transaction without any
        verify_events(quiet, SLASHED.encode())


def test_objects_must_be_the_version_the_effects_wrote() -> None:
    effects, obj = transaction()
    verified = verify_effects(verified_with(effects), effects.encode())
    changed_contents = written_object(12, obj.previous_transaction, amount=10**12)
    with _failed(FailedCheck.OBJECT_MISMATCH):
        verify_object(verified, changed_contents.encode())
    older = written_object(11, obj.previous_transaction)
    with _failed(FailedCheck.OBJECT_MISMATCH):
        verify_object(verified, older.encode())
    elsewhere = dataclasses.replace(obj, previous_transaction=bytes([8]) * 32)
    with _failed(FailedCheck.OBJECT_MISMATCH):
        verify_object(verified, elsewhere.encode())
    never_written = Object(
        MoveObject(STAKE_RECORD, False, 12, bytes.fromhex("22" * 32)),
        obj.owner,
        obj.previous_transaction,
    )
    with _failed(FailedCheck.OBJECT_MISMATCH):
        verify_object(verified, never_written.encode())


def test_effects_must_be_listed_in_the_verified_contents() -> None:
    effects, _ = transaction()
    checkpoint = verified_with(effects)
    other, _ = transaction(events=SLASHED)
    with _failed(FailedCheck.EFFECTS_MISMATCH):
        verify_effects(checkpoint, other.encode())
    bare = VerifiedCheckpoint(checkpoint.summary, checkpoint.digest)
    with pytest.raises(ValueError, match="contents"):
        verify_effects(bare, effects.encode())
    assert checkpoint.contents is not None
    assert with_contents(bare, checkpoint.contents.encode()) == checkpoint
    with _failed(FailedCheck.CONTENTS_MISMATCH):
        with_contents(bare, CheckpointContents.of(()).encode())


def test_a_failed_transaction_still_proves_what_it_wrote() -> None:
    abort = ExecutionFailure(12, bytes(32) + b"\x07staking\x03\x00\x11\x00\x00" + bytes(8), 0)
    effects, obj = transaction(failure=abort)
    verified = verify_effects(verified_with(effects), effects.encode())
    assert verified.effects.failure == abort
    assert verify_object(verified, obj.encode()) == obj
