"""Enclave-key helpers every side shares: Ed25519 answer signatures and the attested-TLS binding.

They live in the pure `attestation` layer so the worker (which must not import `nautilus`) checks
exactly what the master's enclave produces.
"""

from __future__ import annotations

import hashlib
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519_PUBLIC_KEY_LENGTH: Final = 32
ED25519_SIGNATURE_LENGTH: Final = 64


def verify_enclave_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True iff `signature` is the enclave key's Ed25519 signature of `message`; never raises."""
    if len(public_key) != ED25519_PUBLIC_KEY_LENGTH or len(signature) != ED25519_SIGNATURE_LENGTH:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(bytes(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def tls_key_binding(public_key_der: bytes) -> bytes:
    """The `user_data` of attested TLS: SHA-256 of the TLS key's SubjectPublicKeyInfo DER."""
    return hashlib.sha256(public_key_der).digest()


def certificate_binding(certificate: x509.Certificate) -> bytes:
    """`tls_key_binding` of a TLS certificate's public key (what a worker computes after the
    handshake, to compare with the attested `user_data`)."""
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return tls_key_binding(spki)
