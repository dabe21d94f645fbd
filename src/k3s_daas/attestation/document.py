"""The AWS Nitro Enclaves attestation document, byte for byte: COSE_Sign1 (ES384) over a CBOR map.

One codec for both sides: the simulated enclave makes documents with `sign_document`, and every
verifier parses them with `parse_cose` / `parse_document`, which enforce AWS's documented shape
and size caps before anything is trusted (see docs/attestation.md).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from k3s_daas.attestation.errors import AttestationError
from k3s_daas.seal.constants import PCR_LENGTH

COSE_SIGN1_TAG: Final = 18
COSE_HEADER_ALG: Final = 1
COSE_ALG_ES384: Final = -35
PROTECTED_HEADER: Final = cbor2.dumps({COSE_HEADER_ALG: COSE_ALG_ES384})  # b"\xa1\x01\x38\x22"
DIGEST: Final = "SHA384"
SIGNATURE_LENGTH: Final = 96  # raw r || s, 48 bytes each (P-384)

# Caps from AWS's "syntactical validation" rules, plus a cap on the whole document.
MAX_DOCUMENT_BYTES: Final = 16 * 1024
MAX_CERT_BYTES: Final = 1024
MAX_CABUNDLE: Final = 8
MAX_PCRS: Final = 32
MAX_MODULE_ID: Final = 256
MAX_PUBLIC_KEY: Final = 1024
MAX_USER_DATA: Final = 512
MAX_NONCE: Final = 512
NITRO_PCR_COUNT: Final = 16  # a Nitro document carries PCR0..PCR15; unused ones are zero


@dataclass(frozen=True)
class AttestationDocument:
    """The parsed payload of an attestation document (names follow AWS's CBOR keys)."""

    module_id: str
    timestamp_ms: int
    pcrs: Mapping[int, bytes]
    certificate: bytes  # leaf DER: signs the COSE envelope
    cabundle: tuple[bytes, ...]  # DER, root first; the leaf's issuer is the last one
    public_key: bytes | None = None
    user_data: bytes | None = None
    nonce: bytes | None = None
    digest: str = field(default=DIGEST)

    @property
    def timestamp(self) -> datetime:
        """The document's creation time (UTC), from its millisecond timestamp."""
        return datetime.fromtimestamp(self.timestamp_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class CoseSign1:
    """The four parts of a COSE_Sign1 envelope, still as bytes (the signature covers them)."""

    protected: bytes
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        """The COSE `Sig_structure` the ES384 signature is computed over."""
        return sig_structure(self.protected, self.payload)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """`["Signature1", protected, external_aad = b"", payload]` (RFC 9052 §4.4)."""
    return bytes(cbor2.dumps(["Signature1", protected, b"", payload]))


def encode_document(document: AttestationDocument) -> bytes:
    """The CBOR payload bytes of `document`, keys in AWS's order, absent optionals as null."""
    _check_payload(document)  # never produce what our own parser would reject
    return bytes(
        cbor2.dumps(
            {
                "module_id": document.module_id,
                "digest": document.digest,
                "timestamp": document.timestamp_ms,
                "pcrs": {int(k): bytes(v) for k, v in sorted(document.pcrs.items())},
                "certificate": document.certificate,
                "cabundle": list(document.cabundle),
                "public_key": document.public_key,
                "user_data": document.user_data,
                "nonce": document.nonce,
            }
        )
    )


def encode_cose_sign1(
    protected: bytes, payload: bytes, signature: bytes, *, tagged: bool = True
) -> bytes:
    """Assemble `[protected, {}, payload, signature]`, under CBOR tag 18 unless `tagged=False`."""
    body = [protected, {}, payload, signature]
    return bytes(cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, body) if tagged else body))


def sign_document(document: AttestationDocument, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A complete tagged COSE_Sign1 document signed ES384 by `key` (the leaf's private key)."""
    if not isinstance(key.curve, ec.SECP384R1):
        raise AttestationError("ES384 needs a P-384 key", reason="bad_signature")
    payload = encode_document(document)
    der = key.sign(sig_structure(PROTECTED_HEADER, payload), ec.ECDSA(hashes.SHA384()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    return encode_cose_sign1(PROTECTED_HEADER, payload, raw)


def _loads_exact(data: bytes, what: str) -> Any:
    """Decode one CBOR item that must span all of `data` (cbor2.loads ignores trailing bytes)."""
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except Exception as exc:  # cbor2 raises several types (and RecursionError) on garbage
        raise AttestationError(f"{what}: invalid CBOR ({type(exc).__name__})") from None
    if stream.tell() != len(data):
        raise AttestationError(f"{what}: trailing bytes after the CBOR item")
    return value


def parse_cose(data: bytes) -> CoseSign1:
    """Split a tagged or untagged COSE_Sign1 ES384 envelope; AttestationError(bad_format) if not."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise AttestationError("document must be bytes")
    data = bytes(data)
    if not data:
        raise AttestationError("empty document")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise AttestationError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    value = _loads_exact(data, "document")
    if isinstance(value, cbor2.CBORTag):
        if value.tag != COSE_SIGN1_TAG:
            raise AttestationError(f"CBOR tag {value.tag} is not COSE_Sign1 (18)")
        value = value.value
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise AttestationError("COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = value
    if not isinstance(protected, bytes) or not isinstance(payload, bytes):
        raise AttestationError("COSE_Sign1 protected header and payload must be byte strings")
    if not isinstance(unprotected, Mapping):
        raise AttestationError("COSE_Sign1 unprotected header must be a map")
    if not isinstance(signature, bytes):
        raise AttestationError("COSE_Sign1 signature must be a byte string")
    header = _loads_exact(protected, "protected header")
    if not isinstance(header, Mapping) or dict(header) != {COSE_HEADER_ALG: COSE_ALG_ES384}:
        raise AttestationError("protected header must be exactly {1: -35} (ES384)")
    return CoseSign1(protected=protected, payload=payload, signature=signature)


def _bytes_field(payload: Mapping[Any, Any], name: str, *, low: int, high: int) -> bytes | None:
    """An optional byte-string field: absent or null gives None, otherwise `low..high` bytes."""
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, bytes) or not low <= len(value) <= high:
        raise AttestationError(f"payload field {name!r} must be {low}..{high} bytes")
    return value


def parse_payload(data: bytes) -> AttestationDocument:
    """Decode and validate the payload map (AWS's syntactic rules); raise bad_format otherwise."""
    payload = _loads_exact(data, "payload")
    if not isinstance(payload, Mapping):
        raise AttestationError("payload must be a CBOR map")
    module_id = payload.get("module_id")
    if not isinstance(module_id, str) or not 0 < len(module_id) <= MAX_MODULE_ID:
        raise AttestationError("payload field 'module_id' must be a non-empty string")
    timestamp = payload.get("timestamp")
    if type(timestamp) is not int or not 0 < timestamp < 2**64:
        raise AttestationError("payload field 'timestamp' must be a positive integer (ms)")
    raw_pcrs = payload.get("pcrs")
    if not isinstance(raw_pcrs, Mapping) or not 0 < len(raw_pcrs) <= MAX_PCRS:
        raise AttestationError(f"payload field 'pcrs' must be a map of 1..{MAX_PCRS} entries")
    pcrs: dict[int, bytes] = {}
    for index, value in raw_pcrs.items():
        if type(index) is not int or not 0 <= index < MAX_PCRS:
            raise AttestationError(f"PCR index must be an integer 0..{MAX_PCRS - 1}")
        if not isinstance(value, bytes) or len(value) != PCR_LENGTH:
            raise AttestationError(f"PCR{index} must be {PCR_LENGTH} bytes (SHA-384)")
        pcrs[index] = value
    if payload.get("digest") != DIGEST:
        raise AttestationError(f"payload field 'digest' must be {DIGEST!r}")
    certificate = _bytes_field(payload, "certificate", low=1, high=MAX_CERT_BYTES)
    if certificate is None:
        raise AttestationError("payload field 'certificate' is missing")
    bundle = payload.get("cabundle")
    if not isinstance(bundle, list | tuple) or not 0 < len(bundle) <= MAX_CABUNDLE:
        raise AttestationError(f"payload field 'cabundle' must list 1..{MAX_CABUNDLE} certificates")
    for cert in bundle:
        if not isinstance(cert, bytes) or not 0 < len(cert) <= MAX_CERT_BYTES:
            raise AttestationError(f"cabundle entries must be 1..{MAX_CERT_BYTES} bytes")
    document = AttestationDocument(
        module_id=module_id,
        timestamp_ms=timestamp,
        pcrs=pcrs,
        certificate=certificate,
        cabundle=tuple(bundle),
        public_key=_bytes_field(payload, "public_key", low=1, high=MAX_PUBLIC_KEY),
        user_data=_bytes_field(payload, "user_data", low=0, high=MAX_USER_DATA),
        nonce=_bytes_field(payload, "nonce", low=0, high=MAX_NONCE),
    )
    _check_payload(document)
    return document


def _check_payload(document: AttestationDocument) -> None:
    """Invariants shared by the encoder and the parser."""
    if document.digest != DIGEST:
        raise AttestationError(f"payload field 'digest' must be {DIGEST!r}")
    if not document.module_id or len(document.module_id) > MAX_MODULE_ID:
        raise AttestationError("module_id must be 1..256 characters")
    if any(len(v) != PCR_LENGTH for v in document.pcrs.values()) or not document.pcrs:
        raise AttestationError(f"PCRs must be {PCR_LENGTH} bytes each")
    if not document.cabundle or len(document.cabundle) > MAX_CABUNDLE:
        raise AttestationError("cabundle must hold 1..8 certificates")
    for name, value, low, high in (
        ("public_key", document.public_key, 1, MAX_PUBLIC_KEY),
        ("user_data", document.user_data, 0, MAX_USER_DATA),
        ("nonce", document.nonce, 0, MAX_NONCE),
    ):
        if value is not None and not low <= len(value) <= high:
            raise AttestationError(f"{name} must be {low}..{high} bytes")


def parse_document(data: bytes) -> AttestationDocument:
    """Parse a whole document WITHOUT verifying it (use `verify_document` before trusting it)."""
    return parse_payload(parse_cose(data).payload)
