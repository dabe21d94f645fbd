"""How the devnet reads and authenticates user signatures (in-process; the gRPC surface is in
tests/integration/test_devnet_signatures.py): every proto form of a UserSignature gives the same
serialized bytes, and zkLogin/passkey are refused as unimplemented, never guessed at."""

from __future__ import annotations

import pytest
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain import MultiSig, SignatureError, SuiKeyPair
from k3s_daas.chain.keys import personal_message_digest
from k3s_daas.devnet.user_signatures import SchemeUnimplemented, authenticate, signature_bytes
from k3s_daas.seal.encoding import uleb128
from tests.fixtures.sui_wallet import MultiSigWallet

MESSAGE = b"hello"
DIGEST = personal_message_digest(MESSAGE)


def structured(raw: bytes, wallet: MultiSigWallet) -> v2.MultisigAggregatedSignature:
    """The `multisig` oneof of a UserSignature, as a client may send it instead of BCS."""
    parsed = MultiSig.parse(raw)
    members = [
        v2.MultisigMember(
            public_key=v2.MultisigMemberPublicKey(
                scheme=v2.SignatureScheme(m.flag), public_key=m.public_key
            ),
            weight=m.weight,
        )
        for m in wallet.committee.members
    ]
    return v2.MultisigAggregatedSignature(
        signatures=[
            v2.MultisigMemberSignature(scheme=v2.SignatureScheme(flag), signature=sig)
            for flag, sig in parsed.signatures
        ],
        bitmap=parsed.bitmap,
        committee=v2.MultisigCommittee(members=members, threshold=wallet.committee.threshold),
    )


def test_every_proto_form_gives_the_same_bytes() -> None:
    key = SuiKeyPair.generate("secp256k1")
    sig = key.sign_personal_message(MESSAGE)
    forms = [
        v2.UserSignature(bcs=v2.Bcs(value=sig)),
        v2.UserSignature(bcs=v2.Bcs(value=uleb128(len(sig)) + sig)),
        v2.UserSignature(simple=v2.SimpleSignature(
            scheme=v2.SignatureScheme.SECP256K1, signature=sig[1:65], public_key=sig[65:])),
    ]  # fmt: skip
    assert {signature_bytes(f) for f in forms} == {sig}
    wallet, _ = MultiSigWallet.two_of_three()
    multisig = wallet.sign_personal_message(MESSAGE)
    assert len(multisig) > 127  # a two-byte length prefix
    assert signature_bytes(v2.UserSignature(bcs=v2.Bcs(value=uleb128(len(multisig)) + multisig))) \
        == multisig  # fmt: skip
    assert signature_bytes(v2.UserSignature(multisig=structured(multisig, wallet))) == multisig
    assert authenticate(DIGEST, multisig) == wallet.address


def test_zklogin_and_passkey_are_unimplemented_in_every_form() -> None:
    for raw in (b"\x05" + bytes(300), b"\x06" + bytes(200)):
        with pytest.raises(SchemeUnimplemented, match="a Sui full node verifies them"):
            authenticate(DIGEST, raw)
    for form in (v2.UserSignature(zklogin=v2.ZkLoginAuthenticator()),
                 v2.UserSignature(passkey=v2.PasskeyAuthenticator())):  # fmt: skip
        with pytest.raises(SchemeUnimplemented):
            signature_bytes(form)


def test_bad_signatures_are_signature_errors() -> None:
    key = SuiKeyPair.generate("secp256r1")
    sig = key.sign_personal_message(MESSAGE)
    assert authenticate(DIGEST, sig) == key.address
    for bad in (b"", sig[:-1], b"\x04" + sig[1:], sig[:5] + bytes([sig[5] ^ 1]) + sig[6:]):
        with pytest.raises(SignatureError):
            authenticate(DIGEST, bad)
