"""The three signature schemes a Sui wallet key can have, one class each, chosen by flag or name.

Every scheme signs the same 32-byte intent digest (blake2b-256 of intent ‖ message) into 64 bytes
and has its own flag byte, public key and curve:

| scheme    | flag | public key                 | signature over the digest D              |
|-----------|------|----------------------------|------------------------------------------|
| ed25519   | 0x00 | 32 bytes                   | Ed25519(D)                               |
| secp256k1 | 0x01 | 33 bytes, compressed SEC1  | ECDSA-SHA256(D), RFC 6979, r‖s, low S    |
| secp256r1 | 0x02 | 33 bytes, compressed SEC1  | ECDSA-SHA256(D), RFC 6979, r‖s, low S    |

A full node rejects an ECDSA signature whose S is in the upper half of the curve order (fastcrypto
and libsecp256k1 require low S), so signing normalises S and verifying refuses a high one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from ed25519_zebra import ed_verify

from k3s_daas.seal.errors import K3sDaasError

SchemeName = Literal["ed25519", "secp256k1", "secp256r1"]
SECRET_LENGTH: Final = 32
RAW_SIGNATURE_LENGTH: Final = 64
#: Flags of the composite schemes a full node verifies (`VerifySignature`), never a local key.
MULTISIG_FLAG: Final = 0x03
ZKLOGIN_FLAG: Final = 0x05
PASSKEY_FLAG: Final = 0x06
REMOTE_SCHEMES: Final = {
    MULTISIG_FLAG: "MultiSig",
    ZKLOGIN_FLAG: "zkLogin",
    PASSKEY_FLAG: "passkey",
}


class KeyError_(K3sDaasError):  # trailing underscore: not builtins.KeyError
    """A key that cannot be read: wrong encoding, scheme or length."""

    reason = "invalid_key"


class SignatureError(K3sDaasError):
    """A signature that does not verify, or is not a well-formed Sui signature."""

    reason = "bad_signature"


class SigningKey(ABC):
    """A private key of one scheme: signs intent digests, never shows its secret in `repr`."""

    @property
    @abstractmethod
    def scheme(self) -> Scheme: ...

    @abstractmethod
    def secret(self) -> bytes:
        """The 32-byte private key (what `suiprivkey` and `sui.keystore` hold after the flag)."""

    @abstractmethod
    def public_key(self) -> bytes: ...

    @abstractmethod
    def sign(self, digest: bytes) -> bytes:
        """The 64-byte signature of an intent digest."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<secret>)"


class Scheme(ABC):
    """What a scheme is: its name, flag and key length, and how it makes and checks keys."""

    name: ClassVar[SchemeName]
    flag: ClassVar[int]
    public_key_length: ClassVar[int]

    @abstractmethod
    def generate(self) -> SigningKey: ...

    @abstractmethod
    def from_secret(self, secret: bytes) -> SigningKey:
        """The key of a 32-byte secret (KeyError_ for a secret the curve refuses)."""

    @abstractmethod
    def verify(self, public_key: bytes, digest: bytes, signature: bytes) -> None:
        """Raise SignatureError unless `signature` (64 bytes) signs `digest` for `public_key`."""

    def __repr__(self) -> str:
        return f"<scheme {self.name} 0x{self.flag:02x}>"


# -- Ed25519 --------------------------------------------------------------------------------------
class _Ed25519Key(SigningKey):
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self._public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def scheme(self) -> Scheme:
        return ED25519

    def secret(self) -> bytes:
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def public_key(self) -> bytes:
        return self._public

    def sign(self, digest: bytes) -> bytes:
        return self._private.sign(digest)


class Ed25519(Scheme):
    name = "ed25519"
    flag = 0x00
    public_key_length = 32

    def generate(self) -> SigningKey:
        return _Ed25519Key(Ed25519PrivateKey.generate())

    def from_secret(self, secret: bytes) -> SigningKey:
        if len(secret) != SECRET_LENGTH:
            raise KeyError_("an Ed25519 private key is 32 bytes")
        return _Ed25519Key(Ed25519PrivateKey.from_private_bytes(secret))

    def verify(self, public_key: bytes, digest: bytes, signature: bytes) -> None:
        """ZIP-215 rules (ed25519-zebra), the rules Sui's validators verify with (fastcrypto uses
        ed25519-consensus): a signature is valid here exactly when it is valid on chain. It is
        also the fastest verify available here (~36 us against libsodium's ~54 us), and every
        heartbeat verifies one."""
        if len(public_key) != 32 or len(signature) != 64:
            raise SignatureError("Ed25519 signature does not verify")
        try:
            valid = ed_verify(signature, digest, public_key)
        except TypeError:  # not bytes
            valid = False
        if not valid:
            raise SignatureError("Ed25519 signature does not verify")


# -- ECDSA (Secp256k1, Secp256r1) -----------------------------------------------------------------
class _EcdsaKey(SigningKey):
    def __init__(self, scheme: Ecdsa, private: ec.EllipticCurvePrivateKey) -> None:
        self._scheme = scheme
        self._private = private
        self._public = private.public_key().public_bytes(
            Encoding.X962, PublicFormat.CompressedPoint
        )

    @property
    def scheme(self) -> Scheme:
        return self._scheme

    def secret(self) -> bytes:
        return self._private.private_numbers().private_value.to_bytes(SECRET_LENGTH, "big")

    def public_key(self) -> bytes:
        return self._public

    def sign(self, digest: bytes) -> bytes:
        """ECDSA over SHA-256(digest) with an RFC 6979 nonce, S normalised to the low half."""
        der = self._private.sign(digest, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        if s > self._scheme.order // 2:
            s = self._scheme.order - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Ecdsa(Scheme):
    """ECDSA on a 256-bit curve as Sui uses it (see the module docstring)."""

    public_key_length = 33
    curve: ClassVar[ec.EllipticCurve]
    order: ClassVar[int]

    def generate(self) -> SigningKey:
        return self._key(ec.generate_private_key(self.curve))

    def from_secret(self, secret: bytes) -> SigningKey:
        value = int.from_bytes(secret, "big")
        if len(secret) != SECRET_LENGTH or not 0 < value < self.order:
            raise KeyError_(f"a {self.name} private key is 32 bytes, below the curve order")
        return self._key(ec.derive_private_key(value, self.curve))

    def _key(self, private: ec.EllipticCurvePrivateKey) -> SigningKey:
        return _EcdsaKey(self, private)

    def verify(self, public_key: bytes, digest: bytes, signature: bytes) -> None:
        if len(signature) != RAW_SIGNATURE_LENGTH:
            raise SignatureError(f"a {self.name} signature is r ‖ s, 64 bytes")
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if not (0 < r < self.order and 0 < s < self.order):
            raise SignatureError(f"{self.name} signature: r or s out of range")
        if s > self.order // 2:
            raise SignatureError("the s value of ECDSA signature must be low")
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(self.curve, public_key)
            point.verify(encode_dss_signature(r, s), digest, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise SignatureError(f"{self.name} signature does not verify") from None


class Secp256k1(Ecdsa):
    name = "secp256k1"
    flag = 0x01
    curve = ec.SECP256K1()
    order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class Secp256r1(Ecdsa):
    name = "secp256r1"
    flag = 0x02
    curve = ec.SECP256R1()
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


ED25519: Final = Ed25519()
SECP256K1: Final = Secp256k1()
SECP256R1: Final = Secp256r1()
#: Every local scheme, in flag order (what `k3s-daas up` hands its workers in turn).
SCHEMES: Final[tuple[Scheme, ...]] = (ED25519, SECP256K1, SECP256R1)
_BY_FLAG: Final = {s.flag: s for s in SCHEMES}
_BY_NAME: Final[dict[str, Scheme]] = {s.name: s for s in SCHEMES}
SCHEME_NAMES: Final[tuple[SchemeName, ...]] = tuple(s.name for s in SCHEMES)
DEFAULT_SCHEME: Final = ED25519


def scheme_for_flag(flag: int) -> Scheme:
    """The local scheme of a flag byte; SignatureError names composite schemes and unknown flags."""
    scheme = _BY_FLAG.get(flag)
    if scheme is None:
        what = REMOTE_SCHEMES.get(flag)
        if what is not None:
            raise SignatureError(
                f"a {what} signature is verified by a full node", reason="remote_scheme"
            )
        raise SignatureError(f"unknown signature scheme flag 0x{flag:02x}")
    return scheme


def scheme_named(name: str | Scheme) -> Scheme:
    """`ed25519`, `secp256k1` or `secp256r1` (case-insensitive); KeyError_ for anything else."""
    if isinstance(name, Scheme):
        return name
    scheme = _BY_NAME.get(name.strip().lower())
    if scheme is None:
        raise KeyError_(f"unknown key scheme {name!r}: use one of {', '.join(SCHEME_NAMES)}")
    return scheme


__all__ = [
    "DEFAULT_SCHEME",
    "ED25519",
    "MULTISIG_FLAG",
    "PASSKEY_FLAG",
    "RAW_SIGNATURE_LENGTH",
    "REMOTE_SCHEMES",
    "SCHEMES",
    "SCHEME_NAMES",
    "SECP256K1",
    "SECP256R1",
    "SECRET_LENGTH",
    "ZKLOGIN_FLAG",
    "Ecdsa",
    "Ed25519",
    "KeyError_",
    "Scheme",
    "SchemeName",
    "Secp256k1",
    "Secp256r1",
    "SignatureError",
    "SigningKey",
    "scheme_for_flag",
    "scheme_named",
]
