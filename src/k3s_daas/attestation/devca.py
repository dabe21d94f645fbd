"""The dev certificate chain the devnet makes at genesis, shaped like AWS's Nitro PKI.

root (long-lived, written to disk) -> intermediate (made in memory per process, like AWS's
per-instance CAs) -> leaf (one per enclave start, a few hours, like AWS's). P-384 everywhere,
CA basic constraints with path lengths, so the one verifier exercises the same checks as in prod.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from k3s_daas.attestation.errors import AttestationError

ROOT_CERT_FILE: Final = "attestation-root.pem"
ROOT_KEY_FILE: Final = "attestation-root.key"
ROOT_VALIDITY: Final = timedelta(days=3650)
INTERMEDIATE_VALIDITY: Final = timedelta(days=3)
LEAF_VALIDITY: Final = timedelta(hours=3)
BACKDATE: Final = timedelta(minutes=5)  # tolerate small clock differences between processes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "k3s-daas"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "devnet"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _build(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    path_length: int | None,
    ca: bool,
) -> x509.Certificate:
    """One X.509 v3 certificate with the extensions AWS's chain carries."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA384())


@dataclass(frozen=True)
class EnclaveLeaf:
    """What a (simulated) enclave signs documents with: leaf cert + key, and the cabundle."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cabundle: tuple[bytes, ...]  # DER, root first, the leaf's issuer last (AWS order)

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class DevCA:
    """The devnet root (cert + key) and an in-memory intermediate it signed at load time."""

    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey = field(repr=False)
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @classmethod
    def from_root(
        cls, root: x509.Certificate, root_key: ec.EllipticCurvePrivateKey, *, now: datetime | None
    ) -> DevCA:
        """Wrap a root and mint the intermediate (path length 0: it may only sign leaves)."""
        now = now or datetime.now(UTC)
        key = _new_key()
        intermediate = _build(
            subject=_name("k3s-daas dev nitro intermediate"),
            public_key=key.public_key(),
            issuer=root.subject,
            issuer_key=root_key,
            not_before=now - BACKDATE,
            not_after=min(now + INTERMEDIATE_VALIDITY, root.not_valid_after_utc),
            path_length=0,
            ca=True,
        )
        return cls(root=root, root_key=root_key, intermediate=intermediate, intermediate_key=key)

    @classmethod
    def load(cls, directory: Path, *, now: datetime | None = None) -> DevCA:
        """Read the root made by `create_dev_ca(directory)`."""
        return cls.load_files(directory / ROOT_CERT_FILE, directory / ROOT_KEY_FILE, now=now)

    @classmethod
    def load_files(cls, cert_path: Path, key_path: Path, *, now: datetime | None = None) -> DevCA:
        """Read a root cert PEM and its key PEM from explicit paths (as devnet.json names them)."""
        try:
            root = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
        except OSError as exc:
            raise AttestationError(
                f"cannot read dev CA ({exc.filename}): {exc.strerror}", reason="bad_ca"
            ) from None
        except ValueError as exc:
            raise AttestationError(f"dev CA files are not PEM: {exc}", reason="bad_ca") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP384R1
        ):
            raise AttestationError("dev CA key must be a P-384 EC key", reason="bad_ca")
        if key.public_key() != root.public_key():
            raise AttestationError("dev CA key does not match its certificate", reason="bad_ca")
        return cls.from_root(root, key, now=now)

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    @property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)


def _write_private(path: Path, data: bytes) -> None:
    """Create a 0600 file atomically-exclusive (never widen, never overwrite an existing key)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AttestationError(f"{path} already exists", reason="bad_ca") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def create_dev_ca(directory: Path, *, now: datetime | None = None) -> DevCA:
    """Make a fresh root (P-384, path length 1) in `directory`: cert PEM 0644, key PEM 0600."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key()
    name = _name("k3s-daas dev nitro root")
    root = _build(
        subject=name,
        public_key=key.public_key(),
        issuer=name,
        issuer_key=key,
        not_before=now - BACKDATE,
        not_after=now + ROOT_VALIDITY,
        path_length=1,
        ca=True,
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_private(directory / ROOT_KEY_FILE, key_pem)
    (directory / ROOT_CERT_FILE).write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return DevCA.from_root(root, key, now=now)


def load_or_create_dev_ca(directory: Path, *, now: datetime | None = None) -> DevCA:
    """Genesis helper: reuse the root in `directory` if there is one, else make it."""
    if (directory / ROOT_KEY_FILE).exists():
        return DevCA.load(directory, now=now)
    return create_dev_ca(directory, now=now)


def issue_enclave_leaf(
    ca: DevCA,
    *,
    module_id: str = "k3s-daas-simulated",
    now: datetime | None = None,
    validity: timedelta = LEAF_VALIDITY,
) -> EnclaveLeaf:
    """A fresh leaf (new P-384 key) for one enclave start, issued by the CA's intermediate."""
    now = now or datetime.now(UTC)
    key = _new_key()
    leaf = _build(
        subject=_name(module_id),
        public_key=key.public_key(),
        issuer=ca.intermediate.subject,
        issuer_key=ca.intermediate_key,
        not_before=now - BACKDATE,
        not_after=now + validity,
        path_length=None,
        ca=False,
    )
    der = serialization.Encoding.DER
    return EnclaveLeaf(
        certificate=leaf,
        key=key,
        cabundle=(ca.root.public_bytes(der), ca.intermediate.public_bytes(der)),
    )
