"""Sui's certified formats, pinned on a REAL checkpoint: checkpoint 1137 of an upstream network
and its epoch-0 committee (sui-rust-sdk's fixtures, tests/data/sui/NOTICE).

Every digest of the chain of commitments is recomputed from the received bytes and compared with
what the level above commits to (contents -> summary, effects -> contents, objects -> effects,
transaction data -> contents), the real quorum certificate verifies, and each kind of tampering
fails with its own check. Then every struct round-trips encode -> decode -> the same bytes.
"""

from __future__ import annotations

import dataclasses

import pytest

from harness.sui_fixture import COMMITTEE_FILE, FixtureCheckpoint, load
from k3s_daas.chain.bls import BlsPrivateKey
from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    CertifiedCheckpointSummary,
    CheckpointContents,
    CheckpointSummary,
    Committee,
    CommitteeMember,
    Object,
    TransactionEffects,
    contents_digest,
    decode_signers,
    digest_from_base58,
    digest_to_base58,
    effects_digest,
    encode_signers,
    object_digest,
    signing_message,
    sui_digest,
)
from k3s_daas.chain.certified.checkpoint import CommitmentKind
from k3s_daas.chain.errors import FailedCheck, UnverifiedChainData
from k3s_daas.chain.verifier import (
    CheckpointVerifier,
    VerifiedCheckpoint,
    verify_effects,
    verify_object,
)

# The summary of checkpoint 1137, field by field (R2 3/7 research, reproduced by this parser).
SUMMARY_1137 = bytes.fromhex(
    "0000000000000000" "7104000000000000" "4513000000000000"
    "20" "55b7372a67f7e45f3840be39031d4fa09136bc89cb399613cfc36ab7ada30f53"
    "0120" "30ec17935824c7b9dcc78c9b4c26fbe2c6a1144080c83e63c08b3edd659840b5"
    "404b4c0000000000" "a0d1c53b00000000" "0000000000000000" "0000000000000000"
    "d300a17299010000"
    "010120" "e07b946c863ba4f43927693857d9f77af13329e942cbeff79ce3140405b92f98"
    "00"
    "020000"
)  # fmt: skip
CHECKPOINT_DIGEST = "8qkwUqdozk6whP2X7oxcy1SfwJouBLXwDQxkyHkNR1N3"
CONTENTS_DIGEST = "6mbh5b1v5bVWMM8Rb19n9H7esaVbZSSqFgoVYd3hdGwU"
SIGNATURE_1137 = (
    "ab2591f3c3e298acc54258f461fdf7083e2d925e9bc40d5288ee9e4e3bc24969"
    "e48363505f4e6134eb7ae4a1d8048a1d"
)
BITMAP_1137 = bytes.fromhex("3a300000010000000000020010000000010002000300")


@pytest.fixture(scope="module")
def cp() -> FixtureCheckpoint:
    return load()


def _verified(cp: FixtureCheckpoint) -> VerifiedCheckpoint:
    return CheckpointVerifier(cp.committee).follow(cp.summary, cp.certificate, cp.contents)


def _failed(check: FailedCheck) -> pytest.RaisesExc[UnverifiedChainData]:
    return pytest.raises(UnverifiedChainData, match=f"^{check}: ")


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 1
    return bytes(out)


# -- the real checkpoint ---------------------------------------------------------------------------
def test_the_whole_checkpoint_data_file_is_parsed(cp: FixtureCheckpoint) -> None:
    rebuilt = cp.summary + cp.certificate_bcs + cp.contents
    assert cp.raw.startswith(rebuilt)
    assert len(cp.transactions) == 9
    assert sum(len(t.output_objects) for t in cp.transactions) == 1019
    # the harness found each transaction's data by its listed "TransactionData::" digest
    contents = CheckpointContents.decode(cp.contents)
    for tx, entry in zip(cp.transactions, contents.transactions, strict=True):
        assert sui_digest("TransactionData", tx.transaction_data) == entry.transaction


def test_summary_fields_digest_and_bytes(cp: FixtureCheckpoint) -> None:
    assert cp.summary == SUMMARY_1137
    summary = CheckpointSummary.decode(cp.summary)
    assert (summary.epoch, summary.sequence_number) == (0, 1137)
    assert summary.network_total_transactions == 4933
    assert summary.timestamp_ms == 0x0199_72A1_00D3
    assert summary.epoch_rolling_gas_cost_summary.computation_cost == 5_000_000
    assert [c.kind for c in summary.checkpoint_commitments] == [CommitmentKind.CHECKPOINT_ARTIFACTS]
    assert summary.end_of_epoch_data is None
    assert summary.version_specific_data == b"\x00\x00"  # V1, no randomness rounds
    assert digest_to_base58(summary.digest()) == CHECKPOINT_DIGEST
    assert digest_to_base58(summary.content_digest) == CONTENTS_DIGEST
    assert summary.encode() == cp.summary
    assert summary.signing_message() == b"\x02\x00\x00" + cp.summary + bytes(8)
    assert len(summary.signing_message()) == 181


def test_contents_digest_is_the_summarys(cp: FixtureCheckpoint) -> None:
    contents = CheckpointContents.decode(cp.contents)
    assert contents.version == 1
    assert len(contents.transactions) == 9
    assert contents_digest(cp.contents) == digest_from_base58(CONTENTS_DIGEST)
    assert contents.digest() == digest_from_base58(CONTENTS_DIGEST)
    assert contents.encode() == cp.contents


def test_every_effects_digest_is_listed_for_its_transaction(cp: FixtureCheckpoint) -> None:
    contents = CheckpointContents.decode(cp.contents)
    for tx, entry in zip(cp.transactions, contents.transactions, strict=True):
        assert effects_digest(tx.effects) == entry.effects
        effects = TransactionEffects.decode(tx.effects)
        assert effects.transaction_digest == entry.transaction
        assert effects.failure is None
        assert effects.events_digest is None  # this checkpoint emitted no events
        assert effects.encode() == tx.effects


def test_all_1019_written_objects_match_their_effects(cp: FixtureCheckpoint) -> None:
    checkpoint = _verified(cp)
    matched = 0
    for tx in cp.transactions:
        effects = verify_effects(checkpoint, tx.effects)
        for raw in tx.output_objects:
            obj = verify_object(effects, raw)
            assert obj.version == effects.effects.lamport_version
            assert object_digest(raw) == obj.digest()
            assert obj.encode() == raw
            matched += 1
    assert matched == 1019


def test_input_objects_match_the_input_state_effects_record(cp: FixtureCheckpoint) -> None:
    checked = 0
    for tx in cp.transactions:
        effects = TransactionEffects.decode(tx.effects)
        for raw in tx.input_objects:
            obj = Object.decode(raw)
            assert obj.encode() == raw
            change = effects.change_of(obj.object_id)
            if change is not None and change.input_state is not None:
                assert (change.input_state.version, change.input_state.digest) == (
                    obj.version,
                    object_digest(raw),
                )
                checked += 1
    assert checked == 9  # each transaction's gas coin


def test_real_certificate_and_committee(cp: FixtureCheckpoint) -> None:
    assert cp.certificate.epoch == 0
    assert cp.certificate.signers == (1, 2, 3)
    assert cp.certificate.signature.hex() == SIGNATURE_1137
    assert cp.certificate.bitmap() == BITMAP_1137
    assert encode_signers([3, 1, 2]) == BITMAP_1137
    assert len(cp.certificate_bcs) == 79
    assert cp.certificate.encode() == cp.certificate_bcs
    assert cp.committee.epoch == 0
    assert [m.stake for m in cp.committee.members] == [2500] * 4
    assert cp.committee.quorum_threshold == 6667
    assert cp.committee.encode() == COMMITTEE_FILE.read_bytes()
    certified = CertifiedCheckpointSummary.decode(cp.summary + cp.certificate_bcs)
    assert certified.summary_bcs == cp.summary
    assert certified.encode() == cp.summary + cp.certificate_bcs


def test_real_certificate_verifies(cp: FixtureCheckpoint) -> None:
    verifier = CheckpointVerifier(cp.committee)
    checkpoint = verifier.follow(cp.summary, cp.certificate, cp.contents)
    assert digest_to_base58(checkpoint.digest) == CHECKPOINT_DIGEST
    assert checkpoint.contents is not None
    assert verifier.latest == checkpoint
    pinned = CheckpointVerifier(cp.committee, pinned_digest=digest_from_base58(CHECKPOINT_DIGEST))
    assert pinned.follow(cp.summary, cp.certificate).sequence_number == 1137


# -- tampering with the real checkpoint --------------------------------------------------------------
@pytest.mark.parametrize("index", [8, 30, 100, 160])  # sequence, content digest, gas, timestamp
def test_one_summary_byte_changed_breaks_the_signature(cp: FixtureCheckpoint, index: int) -> None:
    with _failed(FailedCheck.BAD_SIGNATURE):
        CheckpointVerifier(cp.committee).follow(_flip(cp.summary, index), cp.certificate)


def test_signer_bitmap_tampering(cp: FixtureCheckpoint) -> None:
    def signed_by(*signers: int) -> AuthorityStrongQuorumSignInfo:
        return dataclasses.replace(cp.certificate, signers=signers)

    with _failed(FailedCheck.BAD_SIGNATURE):  # a quorum, but not the one that signed
        CheckpointVerifier(cp.committee).follow(cp.summary, signed_by(0, 1, 2))
    with _failed(FailedCheck.BAD_SIGNATURE):
        CheckpointVerifier(cp.committee).follow(cp.summary, signed_by(0, 1, 2, 3))
    with _failed(FailedCheck.NO_QUORUM):
        CheckpointVerifier(cp.committee).follow(cp.summary, signed_by(1, 2))
    with _failed(FailedCheck.BAD_SIGNERS):
        CheckpointVerifier(cp.committee).follow(cp.summary, signed_by(1, 2, 4))
    with _failed(FailedCheck.BAD_SIGNERS):
        CheckpointVerifier(cp.committee).follow(cp.summary, signed_by())


def test_the_epoch_suffix_is_part_of_the_signed_message(cp: FixtureCheckpoint) -> None:
    from k3s_daas.chain.bls import BlsPublicKey, verify_aggregate

    keys = [BlsPublicKey.from_bytes(cp.committee.members[i].public_key) for i in (1, 2, 3)]
    signature = cp.certificate.signature
    assert verify_aggregate(keys, signing_message(cp.summary, 0), signature)
    assert not verify_aggregate(keys, signing_message(cp.summary, 1), signature)
    assert not verify_aggregate(keys, b"\x02\x00\x00" + cp.summary, signature)
    assert not verify_aggregate(keys, cp.summary + bytes(8), signature)  # without the intent
    with _failed(FailedCheck.WRONG_EPOCH):  # a certificate claiming another epoch
        CheckpointVerifier(cp.committee).follow(
            cp.summary, dataclasses.replace(cp.certificate, epoch=1)
        )


def test_a_wrong_committee_is_caught(cp: FixtureCheckpoint) -> None:
    others = [BlsPrivateKey.from_seed(bytes([i]) * 32).public_key() for i in range(4)]
    impostor = Committee.of(0, [CommitteeMember(pk, 2500) for pk in others])
    with _failed(FailedCheck.BAD_SIGNATURE):
        CheckpointVerifier(impostor).follow(cp.summary, cp.certificate)
    # the right keys with other weights: signers 1-3 no longer hold a quorum
    reweighted = Committee(
        0,
        tuple(
            CommitteeMember(m.public_key, s)
            for m, s in zip(cp.committee.members, (7000, 1000, 1000, 1000), strict=True)
        ),
    )
    with _failed(FailedCheck.NO_QUORUM):
        CheckpointVerifier(reweighted).follow(cp.summary, cp.certificate)
    with _failed(FailedCheck.UNKNOWN_EPOCH):
        CheckpointVerifier(dataclasses.replace(cp.committee, epoch=1)).certify(
            cp.summary, cp.certificate
        )
    with _failed(FailedCheck.WRONG_COMMITTEE):
        CheckpointVerifier(cp.committee).check_committee(reweighted)
    CheckpointVerifier(cp.committee).check_committee(Committee.decode(cp.committee.encode()))


def test_an_infinite_signature_or_key_is_refused(cp: FixtureCheckpoint) -> None:
    infinity = bytes([0xC0]) + bytes(47)
    with _failed(FailedCheck.BAD_SIGNATURE):
        CheckpointVerifier(cp.committee).follow(
            cp.summary, dataclasses.replace(cp.certificate, signature=infinity)
        )
    members = list(cp.committee.members)
    members[0] = CommitteeMember(bytes([0xC0]) + bytes(95), 2500)
    with pytest.raises(ValueError, match="infinity"):
        CheckpointVerifier(Committee.of(0, members))


def test_a_pinned_anchor_accepts_only_its_checkpoint(cp: FixtureCheckpoint) -> None:
    verifier = CheckpointVerifier(cp.committee, pinned_digest=bytes(32))
    with _failed(FailedCheck.WRONG_ANCHOR):
        verifier.follow(cp.summary, cp.certificate)


def test_tampered_contents_effects_and_objects(cp: FixtureCheckpoint) -> None:
    with _failed(FailedCheck.CONTENTS_MISMATCH):
        CheckpointVerifier(cp.committee).follow(cp.summary, cp.certificate, _flip(cp.contents, 5))
    checkpoint = _verified(cp)
    tx = cp.transactions[4]
    with _failed(FailedCheck.EFFECTS_MISMATCH):
        verify_effects(checkpoint, _flip(tx.effects, len(tx.effects) // 2))
    effects = verify_effects(checkpoint, tx.effects)
    raw = tx.output_objects[0]
    with _failed(FailedCheck.OBJECT_MISMATCH):
        verify_object(effects, _flip(raw, len(raw) - 9))  # a byte of the storage rebate
    with _failed(FailedCheck.OBJECT_MISMATCH):  # an object this transaction did not write
        verify_object(effects, cp.transactions[0].output_objects[0])
    with _failed(FailedCheck.OBJECT_MISMATCH):  # the version before (its input)
        verify_object(effects, tx.input_objects[0])
    with _failed(FailedCheck.MALFORMED):
        verify_object(effects, raw + b"\x00")


def test_effects_of_another_transaction_are_refused(cp: FixtureCheckpoint) -> None:
    checkpoint = _verified(cp)
    contents = CheckpointContents.decode(cp.contents)
    swapped = list(contents.transactions)
    swapped[0] = dataclasses.replace(swapped[0], transaction=swapped[1].transaction)
    lying = VerifiedCheckpoint(
        checkpoint.summary, checkpoint.digest, CheckpointContents.of(tuple(swapped))
    )
    with _failed(FailedCheck.EFFECTS_MISMATCH):
        verify_effects(lying, cp.transactions[0].effects)


# -- the signers bitmap ------------------------------------------------------------------------------
@pytest.mark.parametrize("indices", [(), (0,), (1, 2, 3), tuple(range(100)), (5, 70000, 70001)])
def test_signers_round_trip(indices: tuple[int, ...]) -> None:
    assert decode_signers(encode_signers(indices)) == indices


@pytest.mark.parametrize(
    ("bitmap", "problem"),
    [
        (bytes.fromhex("3b300000") + BITMAP_1137[4:], "cookie"),  # 12347: run containers
        (BITMAP_1137 + b"\x00", "after"),
        (BITMAP_1137[:-2], "truncated"),
        (BITMAP_1137[:-4] + bytes.fromhex("03000200"), "order"),
        (BITMAP_1137[:-6] + bytes.fromhex("010001000300"), "order"),
        (BITMAP_1137[:12] + bytes.fromhex("11000000") + BITMAP_1137[16:], "offset"),
        (bytes.fromhex("3a3000000100000000000010"), "bitset"),
        (
            bytes.fromhex("3a300000020000000100000000000000180000001a000000") + bytes(4),
            "keys",
        ),
    ],
)
def test_only_roaring_rs_committee_bitmaps_are_accepted(bitmap: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_signers(bitmap)


def test_certificate_from_rpc_parts(cp: FixtureCheckpoint) -> None:
    parts = AuthorityStrongQuorumSignInfo.from_parts(0, cp.certificate.signature, BITMAP_1137)
    assert parts == cp.certificate
    with pytest.raises(ValueError, match="48 bytes"):
        AuthorityStrongQuorumSignInfo.from_parts(0, cp.certificate.signature[:47], BITMAP_1137)
