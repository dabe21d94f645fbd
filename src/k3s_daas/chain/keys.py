"""Sui keys, addresses and signatures of every local scheme, byte-exact with Mysten's SDKs.

- transaction: the scheme's signature of blake2b-256(intent [0,0,0] ‖ BCS(TransactionData));
- personal message: intent [3,0,0] over BCS(vector<u8>) (ULEB128 length ‖ bytes);
- serialized signature: flag ‖ signature(64) ‖ public key (97 bytes for Ed25519, 98 for ECDSA),
  base64 on the wire;
- address: blake2b-256(flag ‖ public key), 0x + 64 hex;
- digest: base58(blake2b-256(b"TransactionData::" ‖ bytes));
- private keys: `suiprivkey1…` (bech32 of flag ‖ 32-byte secret) or the base64 of the same bytes
  that `sui.keystore` holds.

The schemes themselves (Ed25519, Secp256k1, Secp256r1) are `chain.schemes`; MultiSig, zkLogin and
passkey signatures are not verified here (see `chain.verification`).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import base58
import bech32

from k3s_daas.chain.schemes import (
    DEFAULT_SCHEME,
    ED25519,
    RAW_SIGNATURE_LENGTH,
    SECRET_LENGTH,
    KeyError_,
    Scheme,
    SchemeName,
    SignatureError,
    SigningKey,
    scheme_for_flag,
    scheme_named,
)
from k3s_daas.seal import sui
from k3s_daas.seal.encoding import b64decode, b64encode, uleb128
from k3s_daas.seal.protocol import MAX_SIGNATURE_CHARS
from k3s_daas.seal.sui import blake2b256

ED25519_FLAG = ED25519.flag
SUI_PRIVKEY_HRP = "suiprivkey"
INTENT_TRANSACTION = bytes([0, 0, 0])
INTENT_PERSONAL_MESSAGE = bytes([3, 0, 0])
_TX_DIGEST_SALT = b"TransactionData::"


def address_from_public_key(public_key: bytes, scheme: Scheme | str = ED25519) -> str:
    """blake2b-256(flag ‖ public key) of a key of `scheme` (Ed25519 unless told)."""
    scheme = scheme_named(scheme)
    if len(public_key) != scheme.public_key_length:
        raise KeyError_(f"a {scheme.name} public key is {scheme.public_key_length} bytes")
    return "0x" + blake2b256(bytes([scheme.flag]) + public_key).hex()


def normalize_address(address: str) -> str:
    """`seal.sui.normalize_address`, failing with KeyError_ (reason `invalid_address`) for the
    callers that report key and address problems together."""
    try:
        return sui.normalize_address(address)
    except ValueError as exc:
        raise KeyError_(str(exc), reason="invalid_address") from None


def transaction_digest(tx_bytes: bytes) -> str:
    return str(base58.b58encode(blake2b256(_TX_DIGEST_SALT + tx_bytes)).decode("ascii"))


def personal_message_bytes(message: bytes) -> bytes:
    """What is signed for a personal message: intent ‖ BCS(vector<u8>)."""
    return INTENT_PERSONAL_MESSAGE + uleb128(len(message)) + message


def personal_message_digest(message: bytes) -> bytes:
    return blake2b256(personal_message_bytes(message))


def transaction_intent_digest(tx_bytes: bytes) -> bytes:
    return blake2b256(INTENT_TRANSACTION + tx_bytes)


def _flagged_secret(raw: bytes, what: str) -> SigningKey:
    if len(raw) != 1 + SECRET_LENGTH:
        raise KeyError_(f"{what} must be a flag byte and a 32-byte private key")
    try:
        scheme = scheme_for_flag(raw[0])
    except SignatureError:
        raise KeyError_(
            f"{what}: flag 0x{raw[0]:02x} is not ed25519, secp256k1 or secp256r1"
        ) from None
    return scheme.from_secret(raw[1:])


class SuiKeyPair:
    """A Sui key pair of any local scheme. `repr` never shows the private key."""

    __slots__ = ("_key", "_public")

    def __init__(self, key: SigningKey) -> None:
        self._key = key
        self._public = key.public_key()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def generate(cls, scheme: Scheme | str = DEFAULT_SCHEME) -> SuiKeyPair:
        return cls(scheme_named(scheme).generate())

    @classmethod
    def from_seed(cls, seed: bytes, scheme: Scheme | str = DEFAULT_SCHEME) -> SuiKeyPair:
        """The key of a 32-byte secret of `scheme` (Ed25519 unless told)."""
        return cls(scheme_named(scheme).from_secret(seed))

    @classmethod
    def from_suiprivkey(cls, text: str) -> SuiKeyPair:
        """Import Sui's bech32 `suiprivkey1...` form (flag byte ‖ 32-byte secret)."""
        hrp, data = bech32.bech32_decode(text.strip())
        if hrp != SUI_PRIVKEY_HRP or data is None:
            raise KeyError_("not a suiprivkey1... bech32 key")
        raw = bech32.convertbits(data, 5, 8, False)
        if raw is None:
            raise KeyError_("suiprivkey payload is not whole bytes")
        return cls(_flagged_secret(bytes(raw), "suiprivkey payload"))

    @classmethod
    def from_keystore(cls, text: str) -> SuiKeyPair:
        """Import one entry of Sui's `sui.keystore`: base64 of flag ‖ 32-byte secret."""
        try:
            raw = b64decode(text.strip())
        except ValueError:
            raise KeyError_("keystore entry is not base64") from None
        return cls(_flagged_secret(raw, "keystore entry"))

    @classmethod
    def from_string(cls, text: str) -> SuiKeyPair:
        """Either accepted form, told apart by the bech32 prefix."""
        text = text.strip()
        if text.startswith(SUI_PRIVKEY_HRP + "1"):
            return cls.from_suiprivkey(text)
        return cls.from_keystore(text)

    @classmethod
    def load(cls, path: Path) -> SuiKeyPair:
        """Read a key file (either form); refuses files readable by group or others."""
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise KeyError_(
                f"key file {path} has mode {mode:04o}; run: chmod 600 {path}",
                reason="insecure_key_file",
            )
        return cls.from_string(path.read_text(encoding="utf-8"))

    def save(self, path: Path) -> None:
        """Write the suiprivkey form with mode 0600 (created that way: never briefly readable)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.to_suiprivkey() + "\n")
        os.chmod(path, 0o600)

    # -- export -------------------------------------------------------------------------------
    def _flagged_secret(self) -> bytes:
        return bytes([self.flag]) + self._key.secret()

    def to_suiprivkey(self) -> str:
        data = bech32.convertbits(self._flagged_secret(), 8, 5, True)
        assert data is not None
        return str(bech32.bech32_encode(SUI_PRIVKEY_HRP, data))

    def to_keystore(self) -> str:
        return b64encode(self._flagged_secret())

    # -- identity -----------------------------------------------------------------------------
    @property
    def scheme(self) -> SchemeName:
        """`ed25519`, `secp256k1` or `secp256r1`."""
        return self._key.scheme.name

    @property
    def flag(self) -> int:
        return self._key.scheme.flag

    @property
    def public_key(self) -> bytes:
        """The raw public key (32 bytes Ed25519, 33 bytes compressed SEC1 for ECDSA)."""
        return self._public

    @property
    def sui_public_key(self) -> bytes:
        """flag ‖ public key (what Sui hashes into the address and lists in a MultiSig)."""
        return bytes([self.flag]) + self._public

    @property
    def address(self) -> str:
        return address_from_public_key(self._public, self._key.scheme)

    def __repr__(self) -> str:
        return f"SuiKeyPair({self.scheme}, address={self.address})"

    # -- signing ------------------------------------------------------------------------------
    def sign_digest(self, digest: bytes) -> bytes:
        """The serialized signature (flag ‖ sig ‖ public key) of an intent digest."""
        return bytes([self.flag]) + self._key.sign(digest) + self._public

    def sign_transaction(self, tx_bytes: bytes) -> bytes:
        """Serialized signature over BCS TransactionData."""
        return self.sign_digest(transaction_intent_digest(tx_bytes))

    def sign_personal_message(self, message: bytes) -> bytes:
        """Serialized signature of a personal message (what wallets sign)."""
        return self.sign_digest(personal_message_digest(message))


# -- verification of simple signatures -----------------------------------------------------------
@dataclass(frozen=True)
class SimpleSignature:
    """A serialized signature of one local scheme, split into its parts."""

    scheme: Scheme
    signature: bytes
    public_key: bytes

    @classmethod
    def parse(cls, raw: bytes) -> SimpleSignature:
        """flag ‖ sig(64) ‖ public key; SignatureError (reason `remote_scheme` for MultiSig,
        zkLogin and passkey) for anything else."""
        if not isinstance(raw, bytes | bytearray) or not raw:
            raise SignatureError("empty signature")
        scheme = scheme_for_flag(raw[0])
        if len(raw) != 1 + RAW_SIGNATURE_LENGTH + scheme.public_key_length:
            size = 1 + RAW_SIGNATURE_LENGTH + scheme.public_key_length
            raise SignatureError(f"a serialized {scheme.name} signature is {size} bytes")
        return cls(scheme, bytes(raw[1:65]), bytes(raw[65:]))

    @property
    def address(self) -> str:
        return address_from_public_key(self.public_key, self.scheme)

    def verify(self, digest: bytes) -> str:
        """Verify over an intent digest and return the signer's address."""
        self.scheme.verify(self.public_key, digest, self.signature)
        return self.address


def signature_flag(signature: bytes) -> int:
    """The scheme flag a serialized signature starts with."""
    if not signature:
        raise SignatureError("empty signature")
    return signature[0]


def verify_transaction_signature(tx_bytes: bytes, signature: bytes) -> str:
    """Verify a simple signature over a transaction and return the signer's address."""
    return SimpleSignature.parse(signature).verify(transaction_intent_digest(tx_bytes))


def verify_personal_message(message: bytes, signature: bytes, expected_signer: str) -> None:
    """Verify a personal-message signature made by `expected_signer` (constant-time compare)."""
    signer = recover_personal_message_signer(message, signature)
    if not hmac.compare_digest(signer, normalize_address(expected_signer)):
        raise SignatureError("signer is not the expected address", reason="signer_mismatch")


def recover_personal_message_signer(message: bytes, signature: bytes) -> str:
    """Verify a simple personal-message signature and return who signed it."""
    return SimpleSignature.parse(signature).verify(personal_message_digest(message))


def decode_signature(text: str) -> bytes:
    """Base64 wire form -> serialized signature bytes, with a SignatureError for anything else."""
    if not isinstance(text, str) or not text or len(text) > MAX_SIGNATURE_CHARS:
        raise SignatureError(f"signature must be base64 of at most {MAX_SIGNATURE_CHARS} chars")
    try:
        return b64decode(text)
    except ValueError:
        raise SignatureError("signature is not base64") from None


__all__ = [
    "ED25519_FLAG",
    "INTENT_PERSONAL_MESSAGE",
    "INTENT_TRANSACTION",
    "SUI_PRIVKEY_HRP",
    "KeyError_",
    "SignatureError",
    "SimpleSignature",
    "SuiKeyPair",
    "address_from_public_key",
    "blake2b256",  # re-exported from seal.sui for existing callers
    "decode_signature",
    "normalize_address",
    "personal_message_bytes",
    "personal_message_digest",
    "recover_personal_message_signer",
    "signature_flag",
    "transaction_digest",
    "transaction_intent_digest",
    "uleb128",  # re-exported from seal.encoding for existing callers
    "verify_personal_message",
    "verify_transaction_signature",
]
