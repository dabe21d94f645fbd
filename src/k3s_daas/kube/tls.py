"""The master's HTTPS identity: a self-made CA and a server certificate with subjectAltNames
(kubectl sends no token over plain HTTP and refuses CN-only certificates). ECDSA P-256, which Go's
TLS stack and kubectl accept. Keys are 0600; an existing identity is reused, and the server
certificate is re-issued from the same CA when names are missing or it is near expiry.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k3s_daas.kube.types import KubeError

CA_DAYS: Final = 3650
SERVER_DAYS: Final = 365
CLIENT_DAYS: Final = 365
APISERVER_CLIENT: Final = "kube-apiserver"  # CN of the client certificate the webhooks require
RENEW_BEFORE: Final = timedelta(days=30)


class TlsIdentityError(KubeError):
    """Key or certificate files that exist but cannot be used."""

    reason = "bad_tls_identity"


def certificate_names(
    bind_host: str, advertised_url: str | None = None, sans: list[str] | tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """The (DNS names, IP addresses) a master's certificate must name so that workers and kubectl
    on any host pin it: localhost, 127.0.0.1, the bind address (unless a wildcard), each extra
    SAN and the advertised URL's host, each once, DNS names lower-cased."""
    hostnames, ips = ["localhost"], ["127.0.0.1"]
    extra = [bind_host, *sans]
    if advertised_url:
        extra.append(urlsplit(advertised_url).hostname or "")
    for name in extra:
        name = name.strip().strip("[]")
        if not name:
            continue
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            if name.lower() not in hostnames:
                hostnames.append(name.lower())
            continue
        if not ip.is_unspecified and str(ip) not in ips:
            ips.append(str(ip))
    return hostnames, ips


@dataclass(frozen=True)
class ServerIdentity:
    """Paths and PEMs of the CA and server certificate; `public_key_sha256` is SHA-256 of the
    server certificate's SubjectPublicKeyInfo DER (bound into attestation user_data)."""

    ca_pem: bytes
    cert_pem: bytes
    key_path: Path
    cert_path: Path
    ca_path: Path
    public_key_sha256: bytes

    @classmethod
    def load_or_create(cls, dir: Path, hostnames: list[str], ips: list[str]) -> ServerIdentity:
        """Reuse the CA in `dir` (or make one) and a server cert covering all names."""
        dir.mkdir(parents=True, exist_ok=True)
        ca_key_path, ca_path = dir / "ca.key", dir / "ca.crt"
        key_path, cert_path = dir / "server.key", dir / "server.crt"
        try:
            ip_objs = [ipaddress.ip_address(ip) for ip in ips]
        except ValueError as exc:
            raise TlsIdentityError(f"invalid IP address for the certificate: {exc}") from exc
        if not hostnames and not ip_objs:
            raise TlsIdentityError("the server certificate needs at least one name or IP")

        if ca_key_path.exists() and ca_path.exists():
            ca_key = _load_key(ca_key_path)
            ca_cert = _load_cert(ca_path)
        else:
            ca_key, ca_cert = _new_ca()
            _write(ca_key_path, _key_pem(ca_key), 0o600)
            _write(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)

        cert = _load_cert(cert_path) if cert_path.exists() and key_path.exists() else None
        if cert is not None and _public_der(_load_key(key_path)) != _public_der(cert):
            cert = None  # a key that does not match its certificate: re-issue both
        if cert is None or not _still_good(cert, ca_cert, hostnames, ip_objs):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _new_server_cert(key, ca_key, ca_cert, hostnames, ip_objs)
            _write(key_path, _key_pem(key), 0o600)
            _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        else:
            os.chmod(key_path, 0o600)
        spki = _public_der(cert)
        return cls(
            ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_path=key_path,
            cert_path=cert_path,
            ca_path=ca_path,
            public_key_sha256=hashlib.sha256(spki).digest(),
        )

    def uvicorn_ssl(self) -> dict[str, str]:
        """Keyword arguments for uvicorn.Config / uvicorn.run to serve HTTPS with this identity."""
        return {"ssl_certfile": str(self.cert_path), "ssl_keyfile": str(self.key_path)}


def _public_der(obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    return obj.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Atomic, with the final mode from the first byte (no window where a key is world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise TlsIdentityError(f"{path}: not a PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsIdentityError(f"{path}: expected an ECDSA key")
    os.chmod(path, 0o600)
    return key


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError as exc:
        raise TlsIdentityError(f"{path}: not a PEM certificate") from exc


def _new_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k3s-daas-ca")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _new_server_cert(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hostnames: list[str],
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> x509.Certificate:
    now = datetime.now(UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    sans += [x509.IPAddress(ip) for ip in ips]
    cn = hostnames[0] if hostnames else str(ips[0])
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _still_good(
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    hostnames: list[str],
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> bool:
    """Issued by this CA, not near expiry, and naming every requested host and IP."""
    if cert.issuer != ca_cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if cert.not_valid_after_utc - datetime.now(UTC) < RENEW_BEFORE:
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return set(hostnames) <= set(san.get_values_for_type(x509.DNSName)) and set(ips) <= set(
        san.get_values_for_type(x509.IPAddress)
    )


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate (clientAuth only) from the identity's CA, and its key."""

    cert_pem: bytes
    key_pem: bytes


def issue_client_certificate(
    dir: Path, common_name: str = APISERVER_CLIENT, days: int = CLIENT_DAYS
) -> ClientCertificate:
    """Sign a client certificate with the CA in `dir` (the master's TLS directory): the webhook
    listener accepts only clients holding one (kube-apiserver, through its webhook kubeconfig)."""
    ca_key_path, ca_path = dir / "ca.key", dir / "ca.crt"
    if not (ca_key_path.exists() and ca_path.exists()):
        raise TlsIdentityError(f"no CA in {dir}: point at the master's TLS directory")
    ca_key, ca_cert = _load_key(ca_key_path), _load_cert(ca_path)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(min(now + timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ClientCertificate(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))
