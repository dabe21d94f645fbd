"""Every certified struct round-trips (encode -> decode -> the same value and bytes), decoding is
strict (trailing bytes, bad tags, non-canonical ULEB, maps or type forms are refused), and the
effects and objects @mysten/sui's BCS writes (`certified` golden vectors: all 42
ExecutionFailureStatus variants, every object change, owner and object-type form) decode and
re-encode byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from k3s_daas.chain.bls import BlsPrivateKey
from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    BcsError,
    CertifiedCheckpointSummary,
    ChangedObject,
    CheckpointCommitment,
    CheckpointContents,
    CheckpointSummary,
    CommitmentKind,
    Committee,
    CommitteeMember,
    EndOfEpochData,
    Event,
    ExecutionDigests,
    ExecutionFailure,
    GasCostSummary,
    IdOperation,
    MoveObject,
    MovePackage,
    Object,
    ObjectInput,
    ObjectOutput,
    OutputKind,
    Owner,
    OwnerKind,
    StructType,
    TransactionEffects,
    TransactionEvents,
    TypeOrigin,
    UnchangedKind,
    UnchangedSharedObject,
    UpgradeInfo,
    UserSignature,
    VectorType,
    coin_type,
    digest_from_base58,
    digest_to_base58,
    parse_type,
)
from k3s_daas.chain.certified.execution_status import FAILURES, MOVE_ABORT
from k3s_daas.chain.certified.move_types import write_struct
from k3s_daas.chain.certified.objects import TypeForm, balance_accumulator_field_type

# The variant @mysten/sui's BCS names differently from sui-types.
TS_NAMES = {
    "InsufficientFundsForWithdraw": "InsufficientBalanceForWithdraw",
}


def d(label: str) -> bytes:
    """A fixed 32-byte digest."""
    return bytes([len(label)]) * 31 + label.encode()[:1]


def a(n: int) -> str:
    return "0x" + f"{n:x}".rjust(64, "0")


KEYS = [BlsPrivateKey.from_seed(bytes([i + 1]) * 32) for i in range(4)]
MEMBERS = tuple(CommitteeMember(k.public_key(), 2500) for k in KEYS)
GAS = GasCostSummary(1, 2, 3, 4)
OWNERS = (
    Owner.by_address(a(1)),
    Owner(OwnerKind.OBJECT, address=a(2)),
    Owner.shared(3),
    Owner.immutable(),
    Owner(OwnerKind.CONSENSUS_ADDRESS, address=a(4), version=5),
)
STAKE_RECORD = StructType(a(0xABC), "staking", "StakeRecord")


def round_trip(value: Any, decode: Callable[[bytes], Any]) -> bytes:
    data: bytes = value.encode()
    assert decode(data) == value
    assert decode(data).encode() == data
    with pytest.raises(BcsError):
        decode(data + b"\x00")
    with pytest.raises(BcsError):
        decode(data[:-1])
    return data


# -- checkpoint ----------------------------------------------------------------------------------
def summary(**changes: Any) -> CheckpointSummary:
    fields: dict[str, Any] = {
        "epoch": 3,
        "sequence_number": 100,
        "network_total_transactions": 5000,
        "content_digest": d("contents"),
        "previous_digest": d("previous"),
        "epoch_rolling_gas_cost_summary": GAS,
        "timestamp_ms": 1_700_000_000_000,
    }
    return CheckpointSummary(**{**fields, **changes})


@pytest.mark.parametrize(
    "value",
    [
        summary(),
        summary(previous_digest=None, sequence_number=0, version_specific_data=b""),
        summary(
            checkpoint_commitments=(
                CheckpointCommitment(CommitmentKind.ECMH_LIVE_OBJECT_SET, d("ecmh")),
                CheckpointCommitment(CommitmentKind.CHECKPOINT_ARTIFACTS, d("artifacts")),
            ),
            end_of_epoch_data=EndOfEpochData(
                MEMBERS, 72, (CheckpointCommitment(CommitmentKind.ECMH_LIVE_OBJECT_SET, d("e")),)
            ),
        ),
    ],
)
def test_summary_round_trip(value: CheckpointSummary) -> None:
    data = round_trip(value, CheckpointSummary.decode)
    assert value.digest() == CheckpointSummary.decode(data).digest()
    assert value.signing_message() == b"\x02\x00\x00" + data + (3).to_bytes(8, "little")


def test_end_of_epoch_names_the_next_committee_sorted() -> None:
    eoe = summary(end_of_epoch_data=EndOfEpochData(tuple(reversed(MEMBERS)), 72))
    committee = eoe.next_committee()
    assert committee is not None
    assert committee.epoch == 4
    assert [m.public_key for m in committee.members] == sorted(m.public_key for m in MEMBERS)
    assert summary().next_committee() is None


@pytest.mark.parametrize(
    "value",
    [
        CheckpointContents.of(
            (ExecutionDigests(d("t1"), d("e1")), ExecutionDigests(d("t2"), d("e2")))
        ),
        CheckpointContents(
            (ExecutionDigests(d("t1"), d("e1")),), ((UserSignature(b"\x00" + bytes(96)),),)
        ),
        CheckpointContents(
            (ExecutionDigests(d("t1"), d("e1")), ExecutionDigests(d("t2"), d("e2"))),
            ((UserSignature(b"sig", 7), UserSignature(b"sig2")), ()),
            version=2,
        ),
        CheckpointContents.of(()),
    ],
)
def test_contents_round_trip(value: CheckpointContents) -> None:
    data = round_trip(value, CheckpointContents.decode)
    assert data[0] == value.version - 1
    for entry in value.transactions:
        assert value.find_effects(entry.effects) == entry
    assert value.find_effects(d("absent")) is None


def test_contents_invariants() -> None:
    with pytest.raises(ValueError, match="alias"):
        CheckpointContents((ExecutionDigests(d("t"), d("e")),), ((UserSignature(b"s", 1),),))
    with pytest.raises(ValueError, match="one signature list"):
        CheckpointContents((ExecutionDigests(d("t"), d("e")),), ())
    # V1 with more transactions than signature lists: a decode error, not a crash
    data = b"\x00\x01" + ExecutionDigests(d("t"), d("e")).encode() + b"\x00"
    with pytest.raises(BcsError, match="one signature list"):
        CheckpointContents.decode(data)
    with pytest.raises(BcsError, match="variant 2"):
        CheckpointContents.decode(b"\x02\x00\x00")


def test_certificate_committee_and_certified_summary_round_trip() -> None:
    value = summary()
    cert = AuthorityStrongQuorumSignInfo.sign(value, {i: KEYS[i] for i in (0, 2, 3)})
    assert cert.signers == (0, 2, 3)
    round_trip(cert, AuthorityStrongQuorumSignInfo.decode)
    certified = CertifiedCheckpointSummary.of(value, cert)
    round_trip(certified, CertifiedCheckpointSummary.decode)
    committee = Committee.of(3, MEMBERS)
    round_trip(committee, Committee.decode)
    assert committee.total_stake == 10_000
    assert committee.quorum_threshold == 6667
    assert committee.stake_of([0, 2, 3]) == 7500


def test_committee_invariants() -> None:
    ordered = sorted(MEMBERS, key=lambda m: m.public_key)
    with pytest.raises(ValueError, match="sorted"):
        Committee(0, tuple(reversed(ordered)))
    with pytest.raises(ValueError, match="repeats"):
        Committee(0, (ordered[0], ordered[0]))
    with pytest.raises(ValueError, match="no stake"):
        Committee.of(0, [CommitteeMember(MEMBERS[0].public_key, 0)])
    with pytest.raises(ValueError, match="at least one"):
        Committee(0, ())
    with pytest.raises(ValueError, match="96 bytes"):
        CommitteeMember(bytes(48), 1)
    unsorted = (0).to_bytes(8, "little") + b"\x02" + ordered[1].encode() + ordered[0].encode()
    with pytest.raises(BcsError, match="sorted"):
        Committee.decode(unsorted)
    with pytest.raises(IndexError):
        Committee.of(0, MEMBERS).stake_of([4])


@pytest.mark.parametrize(("total", "quorum"), [(10_000, 6667), (4, 3), (3, 3), (1, 1), (100, 67)])
def test_quorum_is_two_f_plus_one(total: int, quorum: int) -> None:
    members = [CommitteeMember(MEMBERS[0].public_key, total)]
    assert Committee.of(0, members).quorum_threshold == quorum


# -- effects, events, objects ----------------------------------------------------------------------
def effects(**changes: Any) -> TransactionEffects:
    fields: dict[str, Any] = {
        "executed_epoch": 3,
        "gas_used": GAS,
        "transaction_digest": d("tx"),
        "lamport_version": 9,
        "changed_objects": (
            ChangedObject(
                a(1),
                ObjectInput(8, d("before"), OWNERS[0]),
                ObjectOutput.object_write(d("after"), OWNERS[1]),
            ),
            ChangedObject(a(2), None, ObjectOutput.package_write(1, d("pkg")), IdOperation.CREATED),
            ChangedObject(
                a(3),
                ObjectInput(4, d("gone"), OWNERS[4]),
                ObjectOutput(OutputKind.NOT_EXIST),
                IdOperation.DELETED,
            ),
        ),
        "events_digest": d("events"),
        "gas_object_index": 0,
        "dependencies": (d("dep"),),
        "unchanged_shared_objects": (
            UnchangedSharedObject(a(5), UnchangedKind.READ_ONLY_ROOT, 3, d("root")),
            UnchangedSharedObject(a(6), UnchangedKind.CANCELLED, 4),
            UnchangedSharedObject(a(7), UnchangedKind.PER_EPOCH_CONFIG),
        ),
        "aux_data_digest": d("aux"),
    }
    return TransactionEffects(**{**fields, **changes})


@pytest.mark.parametrize(
    "value",
    [
        effects(),
        effects(events_digest=None, gas_object_index=None, aux_data_digest=None),
        effects(failure=ExecutionFailure(0)),
        effects(failure=ExecutionFailure(4, bytes(16), command=2)),
        effects(failure=ExecutionFailure(35, b"\x03abc")),
    ],
)
def test_effects_round_trip(value: TransactionEffects) -> None:
    round_trip(value, TransactionEffects.decode)
    assert value.output_reference(a(1)) == (9, d("after"))
    assert value.output_reference(a(2)) == (1, d("pkg"))
    assert value.output_reference(a(3)) is None  # deleted
    assert value.output_reference(a(9)) is None


def test_effects_v1_and_unknown_failures_are_refused() -> None:
    data = effects().encode()
    with pytest.raises(BcsError, match="V1"):
        TransactionEffects.decode(b"\x00" + data[1:])
    with pytest.raises(BcsError, match="ExecutionFailureStatus variant 42"):
        TransactionEffects.decode(b"\x01\x01\x2a" + data[2:])
    with pytest.raises(ValueError, match="bad fields"):
        ObjectOutput(OutputKind.OBJECT_WRITE, digest=d("x"))


def test_move_abort_payload_is_kept() -> None:
    location = bytes(32) + b"\x07staking" + b"\x03\x00" + b"\x11\x00" + b"\x01\x05slash"
    failure = ExecutionFailure(MOVE_ABORT, location + (7).to_bytes(8, "little"), command=0)
    value = effects(failure=failure)
    decoded = TransactionEffects.decode(value.encode())
    assert decoded.failure == failure
    assert decoded.failure is not None
    assert decoded.failure.name == "MoveAbort"


def test_events_round_trip() -> None:
    tag = StructType(a(0xABC), "staking", "StakeSlashed", (VectorType("u8"), coin_type("u64")))
    events = TransactionEvents(
        (
            Event(a(0xABC), "staking", a(1), tag, b"\x01\x02"),
            Event(a(0xABC), "k8s_gateway", a(2), STAKE_RECORD, b""),
        )
    )
    round_trip(events, TransactionEvents.decode)
    round_trip(TransactionEvents(()), TransactionEvents.decode)
    assert events.digest() != TransactionEvents(()).digest()


def move_object(tag: StructType, owner: Owner = OWNERS[0]) -> Object:
    return Object(MoveObject(tag, True, 7, bytes(range(32)) + b"rest"), owner, d("tx"), 99)


USDC = StructType(a(0xABC), "usdc", "USDC")
SUI = StructType("0x2", "sui", "SUI")


@pytest.mark.parametrize(
    ("tag", "form"),
    [
        (STAKE_RECORD, TypeForm.OTHER),
        (coin_type(SUI), TypeForm.GAS_COIN),
        (StructType("0x3", "staking_pool", "StakedSui"), TypeForm.STAKED_SUI),
        (coin_type(USDC), TypeForm.COIN),
        (balance_accumulator_field_type(SUI), TypeForm.SUI_BALANCE_ACCUMULATOR_FIELD),
        (balance_accumulator_field_type(USDC), TypeForm.BALANCE_ACCUMULATOR_FIELD),
        (StructType("0x2", "coin", "Coin", ("u8", "u8")), TypeForm.OTHER),
    ],
)
def test_move_objects_use_sui_compact_type_forms(tag: StructType, form: TypeForm) -> None:
    value = move_object(tag)
    data = round_trip(value, Object.decode)
    assert data[1] == form
    assert Object.decode(data).object_id == "0x" + bytes(range(32)).hex()


def test_non_canonical_type_forms_are_refused() -> None:
    data = move_object(coin_type(SUI)).encode()
    # Other(0x2::coin::Coin<0x2::sui::SUI>) instead of GasCoin: the SDK refuses it too
    other = data[:1] + b"\x00" + write_struct(coin_type(SUI)) + data[2:]
    with pytest.raises(BcsError, match="non-canonical"):
        Object.decode(other)


@pytest.mark.parametrize("owner", OWNERS)
def test_owners_round_trip(owner: Owner) -> None:
    round_trip(move_object(STAKE_RECORD, owner), Object.decode)


def test_package_round_trip_with_canonical_maps() -> None:
    package = Object(
        MovePackage(
            a(0x50),
            2,
            (("a", b"\x01"), ("b", b""), ("staking", b"\x02\x03")),
            (TypeOrigin("staking", "StakeRecord", a(0x50)),),
            ((a(1), UpgradeInfo(a(2), 3)), (a(4), UpgradeInfo(a(5), 6))),
        ),
        Owner.immutable(),
        d("publish"),
    )
    data = round_trip(package, Object.decode)
    assert package.object_id == a(0x50)
    # "ab" (length 2) after "b" (length 1) is canonical: keys compare as their BCS bytes
    shuffled = Object(MovePackage(a(0x50), 2, (("ab", b""), ("b", b""))), Owner.immutable(), d("p"))
    assert Object.decode(shuffled.encode()).data == MovePackage(
        a(0x50), 2, (("b", b""), ("ab", b""))
    )
    swapped = data.replace(b"\x01a\x01\x01\x01b\x00", b"\x01b\x00\x01a\x01\x01")
    with pytest.raises(BcsError, match="canonical order"):
        Object.decode(swapped)


def test_short_move_contents_and_bad_tags_are_refused() -> None:
    with pytest.raises(ValueError, match="32-byte id"):
        MoveObject(STAKE_RECORD, True, 1, b"short")
    data = move_object(STAKE_RECORD).encode()
    with pytest.raises(BcsError, match="Data variant 2"):
        Object.decode(b"\x02" + data[1:])


def test_strict_primitives() -> None:
    contents = CheckpointContents.of(()).encode()  # 00 00 00
    with pytest.raises(BcsError, match="non-canonical ULEB128"):
        CheckpointContents.decode(b"\x00\x80\x00\x00")
    assert CheckpointContents.decode(contents) == CheckpointContents.of(())
    bad_option = (
        summary().encode().replace(b"\x01\x20" + d("previous"), b"\x02\x20" + d("previous"))
    )
    with pytest.raises(BcsError, match="option"):
        CheckpointSummary.decode(bad_option)
    bad_bool = bytearray(move_object(STAKE_RECORD).encode())
    at = 2 + len(write_struct(STAKE_RECORD))  # Data tag, type form, struct tag: has_public_transfer
    assert bad_bool[at] == 1
    bad_bool[at] = 2
    with pytest.raises(BcsError, match="bool"):
        Object.decode(bytes(bad_bool))


def test_type_text_round_trip() -> None:
    text = f"{a(2)}::coin::Coin<vector<{a(0xABC)}::usdc::USDC>>"
    tag = parse_type(text)
    assert str(tag) == text
    assert parse_type("0x2::table::Table<u64, address>") == StructType(
        "0x2", "table", "Table", ("u64", "address")
    )


def test_base58_digests() -> None:
    digest = d("x")
    assert digest_from_base58(digest_to_base58(digest)) == digest
    with pytest.raises(ValueError, match="32 bytes"):
        digest_from_base58(digest_to_base58(digest[:31]))


# -- @mysten/sui as the oracle -----------------------------------------------------------------------
def test_golden_effects_every_failure_variant(golden_vectors: dict[str, Any]) -> None:
    vectors = golden_vectors["certified"]["effects"]
    assert len(vectors) == 70
    seen: set[int] = set()
    for vector in vectors:
        data = bytes.fromhex(vector["bcs_hex"])
        value = TransactionEffects.decode(data)
        assert value.encode() == data, vector["name"]
        if vector["failure"] is None:
            assert value.failure is None
            kinds = {c.output_state.kind for c in value.changed_objects}
            assert kinds == set(OutputKind)
            assert {u.kind for u in value.unchanged_shared_objects} == set(UnchangedKind)
            continue
        assert value.failure is not None
        name = value.failure.name
        assert TS_NAMES.get(name, name) == vector["failure"], vector["name"]
        seen.add(value.failure.kind)
    assert seen == set(range(len(FAILURES)))


def test_golden_objects(golden_vectors: dict[str, Any]) -> None:
    for vector in golden_vectors["certified"]["objects"]:
        data = bytes.fromhex(vector["bcs_hex"])
        value = Object.decode(data)
        assert value.encode() == data, vector["name"]
    package = Object.decode(bytes.fromhex(golden_vectors["certified"]["objects"][4]["bcs_hex"]))
    assert isinstance(package.data, MovePackage)
    assert [name for name, _ in package.data.modules] == ["a", "staking", "nautilus"]
