"""The one attestation verifier: the worker, the devnet's `load_nitro_attestation` and the tests
all call `verify_document`, so production (AWS root) and dev (dev CA root) run the same checks.

Order: shape -> root pin -> chain -> ES384 signature -> freshness -> validity -> PCRs/nonce/key.
Each failure raises `AttestationError` with a distinct `reason` (see errors.py).
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from k3s_daas.attestation.document import (
    SIGNATURE_LENGTH,
    AttestationDocument,
    CoseSign1,
    parse_cose,
    parse_payload,
)
from k3s_daas.attestation.errors import AttestationError

DEFAULT_MAX_AGE: Final = timedelta(minutes=5)
FUTURE_SKEW: Final = timedelta(seconds=60)  # a document may be this far ahead of our clock


def _load_chain(document: AttestationDocument) -> list[x509.Certificate]:
    """[leaf, cabundle[-1], ..., cabundle[0]]: each certificate followed by its issuer."""
    chain = []
    try:
        for der in (document.certificate, *reversed(document.cabundle)):
            cert = x509.load_der_x509_certificate(der)
            # cryptography parses these lazily: touch them now so a malformed field is a
            # format error here, not an exception from deep inside a later check.
            _ = (cert.extensions, cert.public_key(), cert.subject.rfc4514_string(), cert.issuer)
            _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
            chain.append(cert)
    except Exception:  # ValueError, DuplicateExtension, UnsupportedAlgorithm...: all untrusted
        raise AttestationError("a certificate in the document is not valid DER") from None
    return chain


def _check_chain(chain: Sequence[x509.Certificate]) -> None:
    """Each certificate is directly issued by the next, a CA within its path length."""
    for position, (child, issuer) in enumerate(itertools.pairwise(chain)):
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise AttestationError(
                f"certificate {position} is not issued by the next one in the cabundle",
                reason="bad_chain",
            ) from None
        try:
            constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            raise AttestationError(
                "an issuing certificate is not a CA", reason="bad_chain"
            ) from None
        if not constraints.ca:
            raise AttestationError("an issuing certificate is not a CA", reason="bad_chain")
        # CAs below this issuer (the leaf is not counted): positions 1..position.
        if constraints.path_length is not None and position > constraints.path_length:
            raise AttestationError("a CA's path length is exceeded", reason="bad_chain")
        try:
            usage = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if not usage.key_cert_sign:
            raise AttestationError("an issuing CA may not sign certificates", reason="bad_chain")


def _check_signature(cose: CoseSign1, leaf: x509.Certificate) -> None:
    """ES384 over the Sig_structure, with the raw r||s signature converted to DER first."""
    if len(cose.signature) != SIGNATURE_LENGTH:
        raise AttestationError(
            f"signature must be raw r||s ({SIGNATURE_LENGTH} bytes), got {len(cose.signature)}",
            reason="bad_signature",
        )
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise AttestationError("the leaf key is not P-384 (ES384)", reason="bad_signature")
    r = int.from_bytes(cose.signature[:48], "big")
    s = int.from_bytes(cose.signature[48:], "big")
    try:
        key.verify(encode_dss_signature(r, s), cose.to_be_signed(), ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise AttestationError("ES384 signature does not verify", reason="bad_signature") from None


def _check_validity(chain: Sequence[x509.Certificate], moments: Sequence[datetime]) -> None:
    for cert in chain:
        for moment in moments:
            if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
                raise AttestationError(
                    f"certificate {cert.subject.rfc4514_string()} is not valid at {moment:%FT%TZ}",
                    reason="cert_expired",
                )


def _equal(a: bytes | None, b: bytes) -> bool:
    return a is not None and hmac.compare_digest(a, b)


def verify_document(
    document: bytes,
    *,
    root: x509.Certificate,
    expected_pcrs: Mapping[int, bytes] | None,
    expected_nonce: bytes | None,
    expected_public_key: bytes | None = None,
    now: datetime | None = None,
    max_age: timedelta | None = DEFAULT_MAX_AGE,
) -> AttestationDocument:
    """Verify a Nitro attestation document against the pinned `root` and return its payload.

    `expected_pcrs=None` / `expected_nonce=None` / `expected_public_key=None` skip that
    comparison (the devnet's `load_nitro_attestation`, like Sui's, checks only chain, signature
    and time; `register_enclave` then compares PCR0-2 itself). `max_age=None` skips freshness.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cose = parse_cose(document)
    payload = parse_payload(cose.payload)
    chain = _load_chain(payload)
    root_der = root.public_bytes(Encoding.DER)
    if not hmac.compare_digest(payload.cabundle[0], root_der):
        raise AttestationError("cabundle[0] is not the pinned root", reason="untrusted_root")
    _check_chain(chain)
    _check_signature(cose, chain[0])
    created = payload.timestamp
    if max_age is not None and now - created > max_age:
        raise AttestationError(f"document is older than {max_age}", reason="stale")
    if created - now > FUTURE_SKEW:
        raise AttestationError("document timestamp is in the future", reason="stale")
    _check_validity(chain, (now, created))
    if expected_pcrs is not None:
        for index, value in sorted(expected_pcrs.items()):
            if not _equal(payload.pcrs.get(index), value):
                raise AttestationError(
                    f"PCR{index} differs from the expected value", reason="pcr_mismatch"
                )
    if expected_nonce is not None and not _equal(payload.nonce, expected_nonce):
        raise AttestationError("nonce differs from the one asked for", reason="nonce_mismatch")
    if expected_public_key is not None and not _equal(payload.public_key, expected_public_key):
        raise AttestationError("public key differs from the expected one", reason="key_mismatch")
    return payload
