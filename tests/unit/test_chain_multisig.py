"""MultiSig: the address formula, BCS round trips and sui-crypto's verification rules.

The bytes are pinned against @mysten/sui in test_golden_vectors.py; here are the rules a node
applies (weights, bitmap, member order, committee validity).
"""

from __future__ import annotations

import hashlib

import pytest

from k3s_daas.chain.keys import SignatureError, SuiKeyPair, personal_message_digest
from k3s_daas.chain.multisig import Member, MultiSig, MultiSigCommittee

MESSAGE = b"k3s-daas/v1/register"
DIGEST = personal_message_digest(MESSAGE)


@pytest.fixture(scope="module")
def members() -> list[SuiKeyPair]:
    return [SuiKeyPair.generate(s) for s in ("ed25519", "secp256k1", "secp256r1")]


def committee_of(
    members: list[SuiKeyPair], weights: list[int], threshold: int
) -> MultiSigCommittee:
    return MultiSigCommittee.of([(k.sui_public_key, w) for k, w in zip(members, weights, strict=True)],
                        threshold)  # fmt: skip


def test_address_is_the_hash_of_flag_threshold_and_members(members: list[SuiKeyPair]) -> None:
    committee = committee_of(members, [1, 2, 3], 3)
    data = b"\x03" + (3).to_bytes(2, "little")
    for key, weight in zip(members, [1, 2, 3], strict=True):
        data += key.sui_public_key + bytes([weight])
    assert committee.address == "0x" + hashlib.blake2b(data, digest_size=32).hexdigest()
    assert committee_of(members, [1, 2, 3], 2).address != committee.address


def test_two_of_three_in_any_signing_order(members: list[SuiKeyPair]) -> None:
    committee = committee_of(members, [1, 1, 1], 2)
    sigs = [k.sign_personal_message(MESSAGE) for k in members]
    for chosen in ([0, 1], [2, 0], [1, 2], [0, 1, 2]):
        multisig = MultiSig.combine(committee, [sigs[i] for i in chosen])
        assert multisig.bitmap == sum(1 << i for i in chosen)
        raw = multisig.serialize()
        assert raw[0] == 0x03 and MultiSig.parse(raw) == multisig
        assert MultiSig.parse(raw).verify(DIGEST) == committee.address


def test_below_threshold_and_tampering_fail(members: list[SuiKeyPair]) -> None:
    committee = committee_of(members, [1, 1, 1], 2)
    one = MultiSig.combine(committee, [members[1].sign_personal_message(MESSAGE)])
    with pytest.raises(SignatureError, match="threshold"):
        one.verify(DIGEST)
    two = MultiSig.combine(committee, [k.sign_personal_message(MESSAGE) for k in members[:2]])
    with pytest.raises(SignatureError):
        two.verify(personal_message_digest(MESSAGE + b"!"))
    swapped = MultiSig(two.signatures[::-1], two.bitmap, committee)  # not in member order
    with pytest.raises(SignatureError, match="do not match"):
        swapped.verify(DIGEST)
    with pytest.raises(SignatureError, match="bitmap"):
        MultiSig(two.signatures, 0b1, committee).verify(DIGEST)
    with pytest.raises(SignatureError, match="bitmap"):
        MultiSig(two.signatures, 0b11000, committee).verify(DIGEST)
    with pytest.raises(SignatureError, match="committee"):
        MultiSig.combine(committee, [members[0].sign_personal_message(MESSAGE)] * 2)
    outsider = SuiKeyPair.generate()
    with pytest.raises(SignatureError, match="committee"):
        MultiSig.combine(committee, [outsider.sign_personal_message(MESSAGE)])


def test_invalid_committees_are_refused(members: list[SuiKeyPair]) -> None:
    keys = [(k.sui_public_key, 1) for k in members]
    for bad, threshold in [(keys, 0), (keys, 4), (keys[:1] * 2, 1), ([], 1),
                           ([(members[0].sui_public_key, 0)], 1)]:  # fmt: skip
        with pytest.raises(SignatureError, match="committee"):
            MultiSigCommittee.of(bad, threshold)
    eleven = tuple(Member(0, bytes([i]) * 32, 1) for i in range(11))
    with pytest.raises(SignatureError, match="committee"):
        MultiSigCommittee(eleven, 1).validate()


def test_malformed_bytes_are_refused(members: list[SuiKeyPair]) -> None:
    committee = committee_of(members, [1, 1, 1], 2)
    raw = MultiSig.combine(
        committee, [k.sign_personal_message(MESSAGE) for k in members[:2]]
    ).serialize()
    for bad in (raw[:-1], raw + b"\x00", b"\x00" + raw[1:], b"\x03\x01\x09"):
        with pytest.raises(SignatureError):
            MultiSig.parse(bad)


def test_zklogin_members_are_left_to_a_full_node(members: list[SuiKeyPair]) -> None:
    """A zkLogin member's signature can only be checked by a node (JWKs, Groth16)."""
    zk = Member(0x05, b"\x05iss-and-seed", 1)
    committee = MultiSigCommittee((zk, Member(0, members[0].public_key, 1)), 1)
    multisig = MultiSig(((0x05, b"a zklogin authenticator"),), 0b01, committee)
    again = MultiSig.parse(multisig.serialize())
    assert again == multisig
    with pytest.raises(SignatureError) as info:
        again.verify(DIGEST)
    assert info.value.reason == "remote_scheme"
