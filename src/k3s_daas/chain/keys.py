"""Sui Ed25519 keys, addresses and signatures, the Sui way (byte-exact with pysui and Mysten's SDK).

- transaction signature: Ed25519 over blake2b-256(intent [0,0,0] ‖ BCS(TransactionData));
- serialized signature: 0x00 (scheme flag) ‖ sig(64) ‖ pubkey(32) = 97 bytes, base64 on the wire;
- address: blake2b-256(0x00 ‖ pubkey), 0x + 64 hex;
- digest: base58(blake2b-256(b"TransactionData::" ‖ bytes));
- personal message: intent [3,0,0] over BCS(vector<u8>) (ULEB128 length ‖ bytes).
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

import base58
import bech32
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from k3s_daas.seal import sui
from k3s_daas.seal.encoding import b64decode, b64encode, uleb128
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.sui import blake2b256

ED25519_FLAG = 0x00
SIGNATURE_LENGTH = 97
SUI_PRIVKEY_HRP = "suiprivkey"
INTENT_TRANSACTION = bytes([0, 0, 0])
INTENT_PERSONAL_MESSAGE = bytes([3, 0, 0])
_TX_DIGEST_SALT = b"TransactionData::"


class KeyError_(K3sDaasError):  # trailing underscore: not builtins.KeyError
    """A key that cannot be read: wrong encoding, scheme or length."""

    reason = "invalid_key"


class SignatureError(K3sDaasError):
    """A signature that does not verify, or is not a 97-byte Ed25519 Sui signature."""

    reason = "bad_signature"


def address_from_public_key(public_key: bytes) -> str:
    if len(public_key) != 32:
        raise KeyError_("an Ed25519 public key is 32 bytes")
    return "0x" + blake2b256(bytes([ED25519_FLAG]) + public_key).hex()


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


class SuiKeyPair:
    """An Ed25519 Sui key pair. `repr` never shows the private key."""

    __slots__ = ("_private", "_public")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self._public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def generate(cls) -> SuiKeyPair:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SuiKeyPair:
        if len(seed) != 32:
            raise KeyError_("an Ed25519 private key is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_suiprivkey(cls, text: str) -> SuiKeyPair:
        """Import Sui's bech32 `suiprivkey1...` form (flag byte ‖ 32-byte seed)."""
        hrp, data = bech32.bech32_decode(text.strip())
        if hrp != SUI_PRIVKEY_HRP or data is None:
            raise KeyError_("not a suiprivkey1... bech32 key")
        raw = bech32.convertbits(data, 5, 8, False)
        if raw is None or len(raw) != 33:
            raise KeyError_("suiprivkey payload must be 33 bytes")
        if raw[0] != ED25519_FLAG:
            raise KeyError_("only Ed25519 keys (flag 0x00) are supported")
        return cls.from_seed(bytes(raw[1:]))

    @classmethod
    def from_keystore(cls, text: str) -> SuiKeyPair:
        """Import the base64 form Sui's `sui.keystore` holds (flag ‖ 32-byte seed)."""
        try:
            raw = b64decode(text.strip())
        except ValueError as exc:
            raise KeyError_("keystore entry is not base64") from exc
        if len(raw) != 33 or raw[0] != ED25519_FLAG:
            raise KeyError_("keystore entry must be an Ed25519 key: 0x00 flag + 32 bytes")
        return cls.from_seed(raw[1:])

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
    def _seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def to_suiprivkey(self) -> str:
        data = bech32.convertbits(bytes([ED25519_FLAG]) + self._seed(), 8, 5, True)
        assert data is not None
        return str(bech32.bech32_encode(SUI_PRIVKEY_HRP, data))

    def to_keystore(self) -> str:
        return b64encode(bytes([ED25519_FLAG]) + self._seed())

    # -- identity -----------------------------------------------------------------------------
    @property
    def public_key(self) -> bytes:
        return self._public

    @property
    def address(self) -> str:
        return address_from_public_key(self._public)

    def __repr__(self) -> str:
        return f"SuiKeyPair(address={self.address})"

    # -- signing ------------------------------------------------------------------------------
    def _serialized(self, digest: bytes) -> bytes:
        return bytes([ED25519_FLAG]) + self._private.sign(digest) + self._public

    def sign_transaction(self, tx_bytes: bytes) -> bytes:
        """97-byte serialized signature over BCS TransactionData."""
        return self._serialized(blake2b256(INTENT_TRANSACTION + tx_bytes))

    def sign_personal_message(self, message: bytes) -> bytes:
        """97-byte serialized signature of a personal message (what wallets sign)."""
        return self._serialized(blake2b256(personal_message_bytes(message)))


def _verify(digest: bytes, signature: bytes) -> str:
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_LENGTH:
        raise SignatureError("a Sui Ed25519 signature is 97 bytes")
    if signature[0] != ED25519_FLAG:
        raise SignatureError("only Ed25519 signatures (flag 0x00) are supported")
    public = bytes(signature[65:])
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(bytes(signature[1:65]), digest)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("signature does not verify") from exc
    return address_from_public_key(public)


def verify_transaction_signature(tx_bytes: bytes, signature: bytes) -> str:
    """Verify and return the signer's address."""
    return _verify(blake2b256(INTENT_TRANSACTION + tx_bytes), signature)


def verify_personal_message(message: bytes, signature: bytes, expected_signer: str) -> None:
    """Verify a personal-message signature made by `expected_signer` (constant-time compare)."""
    signer = _verify(blake2b256(personal_message_bytes(message)), signature)
    if not hmac.compare_digest(signer, normalize_address(expected_signer)):
        raise SignatureError("signer is not the expected address", reason="signer_mismatch")


def recover_personal_message_signer(message: bytes, signature: bytes) -> str:
    """Verify and return who signed a personal message."""
    return _verify(blake2b256(personal_message_bytes(message)), signature)


def decode_signature(text: str) -> bytes:
    """Base64 wire form -> 97 bytes, with a SignatureError for anything else."""
    if not isinstance(text, str) or len(text) > 200:
        raise SignatureError("signature must be base64 of 97 bytes")
    try:
        raw = b64decode(text)
    except ValueError as exc:
        raise SignatureError("signature is not base64") from exc
    if len(raw) != SIGNATURE_LENGTH:
        raise SignatureError("a Sui Ed25519 signature is 97 bytes")
    return raw


__all__ = [
    "ED25519_FLAG",
    "INTENT_PERSONAL_MESSAGE",
    "INTENT_TRANSACTION",
    "SIGNATURE_LENGTH",
    "SUI_PRIVKEY_HRP",
    "KeyError_",
    "SignatureError",
    "SuiKeyPair",
    "address_from_public_key",
    "blake2b256",  # re-exported from seal.sui for existing callers
    "decode_signature",
    "normalize_address",
    "personal_message_bytes",
    "recover_personal_message_signer",
    "transaction_digest",
    "uleb128",  # re-exported from seal.encoding for existing callers
    "verify_personal_message",
    "verify_transaction_signature",
]
