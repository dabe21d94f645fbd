"""Trust anchors: the AWS Nitro root shipped with the package (hash-pinned) and PEM roots by path.

Production pins the AWS root; the devnet pins the dev CA root it made at genesis. Either way the
verifier gets one `x509.Certificate` and compares cabundle[0] to it byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
from importlib import resources
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from k3s_daas.attestation.errors import AttestationError

AWS_NITRO_ROOT_RESOURCE: Final = "aws-nitro-root-g1.pem"
# SHA-256 of the DER form of `CN=aws.nitro-enclaves` (G1), the value independent verifiers pin.
AWS_NITRO_ROOT_SHA256: Final = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"


def der_sha256(cert: x509.Certificate) -> str:
    """Hex SHA-256 of a certificate's DER encoding (the fingerprint roots are pinned by)."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def root_from_pem(pem: bytes, *, sha256: str | None = None) -> x509.Certificate:
    """Parse one PEM certificate; with `sha256`, refuse it unless its DER hash is that value."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise AttestationError(f"not a PEM certificate: {exc}", reason="bad_root") from None
    if sha256 is not None and not hmac.compare_digest(der_sha256(cert), sha256.lower()):
        raise AttestationError(
            f"root certificate hash {der_sha256(cert)} is not the pinned {sha256}",
            reason="bad_root",
        )
    return cert


def load_root(path: Path, *, sha256: str | None = None) -> x509.Certificate:
    """Read a PEM root from an explicit path (e.g. Deployment.attestation_root_path)."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise AttestationError(
            f"cannot read root {path}: {exc.strerror}", reason="bad_root"
        ) from None
    return root_from_pem(pem, sha256=sha256)


def load_aws_root() -> x509.Certificate:
    """The AWS Nitro Enclaves root G1 shipped as package data, checked against the pinned hash."""
    pem = resources.files(__package__).joinpath(AWS_NITRO_ROOT_RESOURCE).read_bytes()
    return root_from_pem(pem, sha256=AWS_NITRO_ROOT_SHA256)
