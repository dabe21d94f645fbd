"""BLS12-381 min-sig, as Sui's validators sign checkpoints: 48-byte G1 signatures, 96-byte G2 keys.

A tiny interface over py-arkworks-bls12381 so the library can be swapped (pyblst gives the same
bytes): key generation from a seed, sign, aggregate, verify an aggregate. Every point that comes
from outside is decoded with the subgroup check, and the point at infinity is refused: both
libraries accept it on decoding, and an infinite key or signature would make the pairing check
meaningless.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

#: RFC 9380 hash-to-curve domain tag of min-sig signatures (fastcrypto `DST_G1`).
DST: Final = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
SIGNATURE_LENGTH: Final = 48
PUBLIC_KEY_LENGTH: Final = 96
PRIVATE_KEY_LENGTH: Final = 32
#: The order r of the BLS12-381 groups; a private key is a scalar in [1, r).
CURVE_ORDER: Final = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
_KEYGEN_SALT: Final = b"BLS-SIG-KEYGEN-SALT-"
_INFINITY_FLAG: Final = 0x40
_G2: Final = G2Point()  # the generator
_MINUS_G2: Final = -_G2


class BlsError(ValueError):
    """Bytes that are not a usable key or signature (wrong length, not on the curve, outside the
    prime-order subgroup, or the point at infinity)."""


def _infinity_problem(data: bytes, what: str) -> str | None:
    """Compressed encoding: the second-highest bit of the first byte flags infinity, and only
    `c0 00 … 00` is a well-formed infinity; neither is let through to the pairing."""
    if not data[0] & _INFINITY_FLAG:
        return None
    if data == bytes([0xC0]) + bytes(len(data) - 1):
        return f"the BLS {what} is the point at infinity"
    return f"not a valid BLS {what}"


def _g1(data: bytes) -> G1Point:
    if len(data) != SIGNATURE_LENGTH:
        raise BlsError(f"a BLS signature is {SIGNATURE_LENGTH} bytes, not {len(data)}")
    if problem := _infinity_problem(data, "signature"):
        raise BlsError(problem)
    try:
        return G1Point.from_compressed_bytes(data)  # checks the curve and the subgroup
    except Exception as exc:  # the binding raises plain exceptions
        raise BlsError("not a valid BLS signature") from exc


def _g2(data: bytes) -> G2Point:
    if len(data) != PUBLIC_KEY_LENGTH:
        raise BlsError(f"a BLS public key is {PUBLIC_KEY_LENGTH} bytes, not {len(data)}")
    if problem := _infinity_problem(data, "public key"):
        raise BlsError(problem)
    try:
        return G2Point.from_compressed_bytes(data)
    except Exception as exc:
        raise BlsError("not a valid BLS public key") from exc


@dataclass(frozen=True)
class BlsPublicKey:
    """A G2 key decoded and checked once (a committee's keys are decoded once per epoch)."""

    raw: bytes
    point: G2Point = field(repr=False, compare=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> BlsPublicKey:
        return cls(bytes(data), _g2(bytes(data)))


@dataclass(frozen=True)
class BlsPrivateKey:
    """A validator's secret scalar; `repr` never shows it."""

    scalar: int = field(repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.scalar < CURVE_ORDER:
            raise BlsError("a BLS private key is a scalar in [1, r)")

    @classmethod
    def from_bytes(cls, data: bytes) -> BlsPrivateKey:
        """32 big-endian bytes, fastcrypto's encoding."""
        if len(data) != PRIVATE_KEY_LENGTH:
            raise BlsError(f"a BLS private key is {PRIVATE_KEY_LENGTH} bytes")
        return cls(int.from_bytes(data, "big"))

    @classmethod
    def from_seed(cls, seed: bytes) -> BlsPrivateKey:
        """IETF BLS `KeyGen` (HKDF-SHA256 mod r, empty key_info; the EIP-2333 master key), as
        blst's `key_gen`: the same seed gives the same validator key everywhere."""
        if len(seed) < PRIVATE_KEY_LENGTH:
            raise BlsError(f"a key seed needs at least {PRIVATE_KEY_LENGTH} bytes")
        salt = _KEYGEN_SALT
        length = 48  # ceil(3 * ceil(log2(r)) / 16)
        scalar = 0
        while scalar == 0:
            salt = hashlib.sha256(salt).digest()
            prk = hmac.new(salt, seed + b"\x00", hashlib.sha256).digest()
            okm, block, counter = b"", b"", 1
            while len(okm) < length:  # HKDF-Expand with info = I2OSP(L, 2)
                block = hmac.new(
                    prk, block + length.to_bytes(2, "big") + bytes([counter]), hashlib.sha256
                ).digest()
                okm += block
                counter += 1
            scalar = int.from_bytes(okm[:length], "big") % CURVE_ORDER
        return cls(scalar)

    def to_bytes(self) -> bytes:
        return self.scalar.to_bytes(PRIVATE_KEY_LENGTH, "big")

    def _scalar(self) -> Scalar:
        return Scalar(self.scalar)

    def public_key(self) -> bytes:
        """The 96-byte compressed G2 key (a committee member's `public_key`)."""
        return (_G2 * self._scalar()).to_compressed_bytes()

    def sign(self, message: bytes) -> bytes:
        """`sk · H(message)`, 48 bytes; the caller adds Sui's intent and epoch to `message`."""
        return (G1Point.hash_to_curve(message, DST) * self._scalar()).to_compressed_bytes()


def aggregate_signatures(signatures: Iterable[bytes]) -> bytes:
    """The sum of signatures (each decoded with the subgroup check), compressed."""
    total: G1Point | None = None
    for signature in signatures:
        point = _g1(signature)
        total = point if total is None else total + point
    if total is None:
        raise BlsError("nothing to aggregate")
    return total.to_compressed_bytes()


def sign_aggregate(keys: Sequence[BlsPrivateKey], message: bytes) -> bytes:
    """The aggregate of every key's signature of `message`, at the cost of one signature: BLS is
    linear, so the sum of `sk_i · H(m)` is `(sum of sk_i) · H(m)` (how a devnet's whole committee
    signs a checkpoint)."""
    if not keys:
        raise BlsError("no keys to sign with")
    scalar = sum(k.scalar for k in keys) % CURVE_ORDER
    if scalar == 0:  # the keys cancel out (never by chance): aggregate the long way
        return aggregate_signatures(k.sign(message) for k in keys)
    return BlsPrivateKey(scalar).sign(message)


def aggregate_public_keys(keys: Sequence[BlsPublicKey]) -> G2Point:
    """The sum of the signers' keys, for one pairing check per certificate."""
    if not keys:
        raise BlsError("no public keys to aggregate")
    total = keys[0].point
    for key in keys[1:]:
        total = total + key.point
    return total


def verify_aggregate(keys: Sequence[BlsPublicKey], message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the aggregate of the holders of `keys` signing `message`:
    `e(sig, g2) == e(H(m), Σ pk)`, as blst's `fast_aggregate_verify`. A malformed or infinite
    signature raises `BlsError`; a well-formed wrong one returns False."""
    point = _g1(signature)
    return GT.pairing_check(
        [point, G1Point.hash_to_curve(message, DST)], [_MINUS_G2, aggregate_public_keys(keys)]
    )


__all__ = [
    "CURVE_ORDER",
    "DST",
    "PRIVATE_KEY_LENGTH",
    "PUBLIC_KEY_LENGTH",
    "SIGNATURE_LENGTH",
    "BlsError",
    "BlsPrivateKey",
    "BlsPublicKey",
    "aggregate_public_keys",
    "aggregate_signatures",
    "sign_aggregate",
    "verify_aggregate",
]
