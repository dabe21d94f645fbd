"""Keys of the three local schemes: sign/verify round trips, import/export forms, the flag ‖ sig ‖
public key layout, and what a full node refuses (high S, wrong flag, tampered bytes).

Byte-for-byte agreement with Mysten's SDK is in test_golden_vectors.py; here are the properties.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from k3s_daas.chain.keys import (
    KeyError_,
    SignatureError,
    SimpleSignature,
    SuiKeyPair,
    address_from_public_key,
    personal_message_digest,
    recover_personal_message_signer,
    verify_personal_message,
    verify_transaction_signature,
)
from k3s_daas.chain.schemes import (
    ED25519,
    SCHEME_NAMES,
    SCHEMES,
    Ecdsa,
    scheme_for_flag,
    scheme_named,
)
from k3s_daas.seal.sui import blake2b256

ECDSA = [s for s in SCHEMES if isinstance(s, Ecdsa)]


@pytest.fixture(params=SCHEME_NAMES)
def key(request: pytest.FixtureRequest) -> SuiKeyPair:
    return SuiKeyPair.generate(request.param)


def test_the_three_schemes_and_their_flags() -> None:
    assert [(s.name, s.flag, s.public_key_length) for s in SCHEMES] == [
        ("ed25519", 0, 32), ("secp256k1", 1, 33), ("secp256r1", 2, 33),
    ]  # fmt: skip
    assert scheme_named("SECP256K1") is scheme_for_flag(1)
    with pytest.raises(KeyError_, match="unknown key scheme"):
        scheme_named("bls12381")
    for flag, what in [(3, "MultiSig"), (5, "zkLogin"), (6, "passkey")]:
        with pytest.raises(SignatureError, match=what) as info:
            scheme_for_flag(flag)
        assert info.value.reason == "remote_scheme"
    with pytest.raises(SignatureError, match="unknown"):
        scheme_for_flag(0x42)


def test_layout_address_and_round_trips(key: SuiKeyPair) -> None:
    length = 97 if key.scheme == "ed25519" else 98
    tx = os.urandom(150)
    sig = key.sign_transaction(tx)
    assert len(sig) == length and sig[0] == key.flag and sig[65:] == key.public_key
    assert key.sui_public_key == bytes([key.flag]) + key.public_key
    assert key.address == "0x" + blake2b256(key.sui_public_key).hex()
    assert address_from_public_key(key.public_key, key.scheme) == key.address
    assert verify_transaction_signature(tx, sig) == key.address
    message = os.urandom(300)
    signed = key.sign_personal_message(message)
    assert recover_personal_message_signer(message, signed) == key.address
    verify_personal_message(message, signed, key.address)
    assert key.sign_personal_message(message) == signed  # deterministic in every scheme
    for text in (key.to_suiprivkey(), key.to_keystore()):
        again = SuiKeyPair.from_string(text)
        assert (again.scheme, again.address) == (key.scheme, key.address)
    assert key.scheme in repr(key) and key.to_suiprivkey() not in repr(key)


def test_tampering_and_wrong_intent_fail(key: SuiKeyPair) -> None:
    message = b"register worker-1"
    sig = key.sign_personal_message(message)
    with pytest.raises(SignatureError):
        recover_personal_message_signer(message + b"!", sig)
    with pytest.raises(SignatureError):
        verify_transaction_signature(message, sig)  # a personal message is not a transaction
    flipped = bytearray(sig)
    flipped[10] ^= 1
    with pytest.raises(SignatureError):
        recover_personal_message_signer(message, bytes(flipped))
    with pytest.raises(SignatureError):
        recover_personal_message_signer(message, sig[:-1])  # wrong length for the flag
    other = SuiKeyPair.generate(key.scheme)
    with pytest.raises(SignatureError) as info:
        verify_personal_message(message, sig, other.address)
    assert info.value.reason == "signer_mismatch"


@pytest.mark.parametrize("scheme", ECDSA, ids=lambda s: s.name)
def test_ecdsa_signs_low_s_and_rejects_high_s(scheme: Ecdsa) -> None:
    """A full node refuses high S (fastcrypto, libsecp256k1): the product never makes one and
    refuses one, though ECDSA itself accepts both (r, s) and (r, n - s)."""
    key = SuiKeyPair.generate(scheme)
    for i in range(20):
        message = f"message {i}".encode()
        sig = key.sign_personal_message(message)
        s = int.from_bytes(sig[33:65], "big")
        assert 0 < s <= scheme.order // 2
        high = sig[:33] + (scheme.order - s).to_bytes(32, "big") + sig[65:]
        with pytest.raises(SignatureError, match="must be low"):
            recover_personal_message_signer(message, high)
        parsed = SimpleSignature.parse(sig)
        assert parsed.verify(personal_message_digest(message)) == key.address


@pytest.mark.parametrize("scheme", ECDSA, ids=lambda s: s.name)
def test_ecdsa_rejects_out_of_range_and_bad_points(scheme: Ecdsa) -> None:
    key = SuiKeyPair.generate(scheme)
    digest = personal_message_digest(b"x")
    sig = SimpleSignature.parse(key.sign_personal_message(b"x"))
    zero_r = bytes(32) + sig.signature[32:]
    with pytest.raises(SignatureError, match="out of range"):
        scheme.verify(key.public_key, digest, zero_r)
    with pytest.raises(SignatureError):
        scheme.verify(b"\x02" + b"\xff" * 32, digest, sig.signature)  # not on the curve


#: The group order of Ed25519 (RFC 8032's L).
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
#: The identity point's encoding: a small-order point (its order is 1).
IDENTITY = (1).to_bytes(32, "little")


def test_ed25519_follows_zip215_as_the_chain_does() -> None:
    """Sui's validators verify Ed25519 by ZIP-215 (fastcrypto, ed25519-consensus), and so does
    the master: a signature is accepted exactly when the chain would accept it. ZIP-215 accepts
    a small-order key (here the identity, with R = identity and S = 0: valid for any message,
    on chain too), which RFC 8032's strict verifiers refuse; it refuses S >= L like every
    verifier does."""
    digest = personal_message_digest(b"x")
    ED25519.verify(IDENTITY, digest, IDENTITY + bytes(32))
    key = SuiKeyPair.generate("ed25519")
    sig = SimpleSignature.parse(key.sign_personal_message(b"x")).signature
    ED25519.verify(key.public_key, digest, sig)
    s = int.from_bytes(sig[32:], "little")
    with pytest.raises(SignatureError):  # the same S plus L: non-canonical, refused
        ED25519.verify(
            key.public_key, digest, sig[:32] + (s + ED25519_ORDER).to_bytes(32, "little")
        )
    with pytest.raises(SignatureError):
        ED25519.verify(key.public_key, digest + b"!", sig)
    with pytest.raises(SignatureError):
        ED25519.verify(key.public_key[:31], digest, sig)
    with pytest.raises(SignatureError):
        ED25519.verify(key.public_key, digest, sig[:63])
    with pytest.raises(SignatureError):
        ED25519.verify(bytearray(key.public_key), digest, sig)  # type: ignore[arg-type]


def test_secrets_of_each_scheme() -> None:
    seed = bytes(range(32))
    keys = {name: SuiKeyPair.from_seed(seed, name) for name in SCHEME_NAMES}
    assert len({k.address for k in keys.values()}) == 3  # one secret, three identities
    with pytest.raises(KeyError_):
        SuiKeyPair.from_seed(seed[:31], "secp256r1")


def test_saved_keys_keep_their_scheme(tmp_path: Path, key: SuiKeyPair) -> None:
    path = tmp_path / f"{key.scheme}.key"
    key.save(path)
    assert path.read_text().startswith("suiprivkey1")
    loaded = SuiKeyPair.load(path)
    assert (loaded.scheme, loaded.address) == (key.scheme, key.address)
