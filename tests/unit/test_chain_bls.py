"""BLS12-381 min-sig as Sui's validators use it: known answers from fastcrypto and EIP-2333, and
every kind of bad point refused (wrong length, off the subgroup, the point at infinity)."""

from __future__ import annotations

import pytest

from k3s_daas.chain.bls import (
    CURVE_ORDER,
    DST,
    BlsError,
    BlsPrivateKey,
    BlsPublicKey,
    aggregate_signatures,
    sign_aggregate,
    verify_aggregate,
)

# fastcrypto src/tests/bls12381_tests.rs, `mod min_sig`, `regression_test` (no intent, no epoch).
FASTCRYPTO_SK = "266f9708fd8d3b462b10cdbf5498076c021eb3acfdd47cb1fef647967fe194fb"
FASTCRYPTO_PK = (
    "8c66dc2c1ea9e53f0985c17b4e7af19912b6d3c40e0c5920a5a12509b4eb3619f5e07ec56ea77f0b30629ba1cc72d75b"
    "139460782a5f0e2f89fb4c42b4b8a5fae3d260102220e63d0754e7e1846deefd3988eade4ed37f1385437d19de1a1618"
)
FASTCRYPTO_SIG = "89dff2dc1e9428b9437d50b37f8160eca790110ea2a79b6c88a43a16953466f8e391ff65842b067a1c9441c7c2cebce0"
# EIP-2333 test case 0: derive_master_SK(seed) is the IETF KeyGen with an empty key_info.
EIP2333_SEED = (
    "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf1"
    "41630c7a3c4ab7c81b2f001698e7463b04"
)
EIP2333_MASTER_SK = 6083874454709270928345386274498605044986640685124978867557563392430687146096
G1_INFINITY = bytes([0xC0]) + bytes(47)
G2_INFINITY = bytes([0xC0]) + bytes(95)


def _g1_off_subgroup() -> bytes:
    """A compressed point on y² = x³ + 4 that is not in the prime-order subgroup."""
    p = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
    x = 1
    while True:
        rhs = (x**3 + 4) % p
        y = pow(rhs, (p + 1) // 4, p)
        if y * y % p == rhs:
            raw = bytearray(x.to_bytes(48, "big"))
            raw[0] |= 0x80
            return bytes(raw)
        x += 1


def test_the_dst_is_min_sig() -> None:
    assert DST == b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"


def test_fastcrypto_vector_reproduced() -> None:
    sk = BlsPrivateKey.from_bytes(bytes.fromhex(FASTCRYPTO_SK))
    assert sk.public_key().hex() == FASTCRYPTO_PK
    assert sk.sign(b"hello, narwhal").hex() == FASTCRYPTO_SIG
    key = BlsPublicKey.from_bytes(bytes.fromhex(FASTCRYPTO_PK))
    assert verify_aggregate([key], b"hello, narwhal", bytes.fromhex(FASTCRYPTO_SIG))
    assert not verify_aggregate([key], b"hello, narwhal!", bytes.fromhex(FASTCRYPTO_SIG))
    assert sk.to_bytes().hex() == FASTCRYPTO_SK


def test_key_generation_is_the_ietf_keygen() -> None:
    assert BlsPrivateKey.from_seed(bytes.fromhex(EIP2333_SEED)).scalar == EIP2333_MASTER_SK
    assert BlsPrivateKey.from_seed(bytes(32)) == BlsPrivateKey.from_seed(bytes(32))
    assert BlsPrivateKey.from_seed(bytes(32)) != BlsPrivateKey.from_seed(b"\x01" + bytes(31))
    with pytest.raises(BlsError, match="at least 32"):
        BlsPrivateKey.from_seed(b"short")


def test_private_keys_are_scalars_in_range_and_never_shown() -> None:
    for scalar in (0, CURVE_ORDER):
        with pytest.raises(BlsError):
            BlsPrivateKey(scalar)
    with pytest.raises(BlsError):
        BlsPrivateKey.from_bytes(bytes(31))
    key = BlsPrivateKey.from_seed(bytes(32))
    assert str(key.scalar) not in repr(key)


def test_aggregate_of_signers_verifies_against_their_keys_only() -> None:
    keys = [BlsPrivateKey.from_seed(bytes([i]) * 32) for i in range(4)]
    publics = [BlsPublicKey.from_bytes(k.public_key()) for k in keys]
    message = b"\x02\x00\x00summary" + bytes(8)
    aggregate = aggregate_signatures(k.sign(message) for k in keys[:3])
    assert verify_aggregate(publics[:3], message, aggregate)
    assert not verify_aggregate(publics[1:], message, aggregate)
    assert not verify_aggregate(publics, message, aggregate)
    assert not verify_aggregate(publics[:3], message[:-8], aggregate)  # without the epoch


def test_one_signature_by_the_summed_keys_is_the_aggregate() -> None:
    keys = [BlsPrivateKey.from_seed(bytes([i]) * 32) for i in range(4)]
    message = b"\x02\x00\x00summary" + bytes(8)
    assert sign_aggregate(keys, message) == aggregate_signatures(k.sign(message) for k in keys)
    assert sign_aggregate(keys[:1], message) == keys[0].sign(message)
    cancelling = [keys[0], BlsPrivateKey(CURVE_ORDER - keys[0].scalar), keys[1]]
    assert sign_aggregate(cancelling, message) == keys[1].sign(message)
    assert sign_aggregate(cancelling[:2], message) == G1_INFINITY  # summed to 0: the long way
    with pytest.raises(BlsError, match="no keys"):
        sign_aggregate([], message)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (G1_INFINITY, "infinity"),
        (bytes(47), "48 bytes"),
        (_g1_off_subgroup(), "not a valid"),
        (b"\xff" * 48, "not a valid"),
    ],
)
def test_bad_signatures_are_refused(data: bytes, problem: str) -> None:
    key = BlsPublicKey.from_bytes(bytes.fromhex(FASTCRYPTO_PK))
    with pytest.raises(BlsError, match=problem):
        verify_aggregate([key], b"m", data)
    with pytest.raises(BlsError, match=problem):
        aggregate_signatures([data])


@pytest.mark.parametrize(
    ("data", "problem"),
    [(G2_INFINITY, "infinity"), (bytes(95), "96 bytes"), (b"\xff" * 96, "not a valid")],
)
def test_bad_public_keys_are_refused(data: bytes, problem: str) -> None:
    with pytest.raises(BlsError, match=problem):
        BlsPublicKey.from_bytes(data)


def test_nothing_to_aggregate_is_an_error() -> None:
    with pytest.raises(BlsError):
        aggregate_signatures([])
    with pytest.raises(BlsError):
        verify_aggregate([], b"m", bytes.fromhex(FASTCRYPTO_SIG))
