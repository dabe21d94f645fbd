"""ServerIdentity: SANs, 0600 keys, reuse, re-issue on new names, and the SPKI hash."""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from k3s_daas.kube.tls import ServerIdentity, TlsIdentityError


def test_create_then_reuse(tmp_path: Path) -> None:
    first = ServerIdentity.load_or_create(tmp_path, ["localhost"], ["127.0.0.1"])
    for name in ("ca.key", "server.key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(first.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    ca = x509.load_pem_x509_certificate(first.ca_pem)
    cert.verify_directly_issued_by(ca)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert first.public_key_sha256 == hashlib.sha256(spki).digest()

    again = ServerIdentity.load_or_create(tmp_path, ["localhost"], ["127.0.0.1"])
    assert again == first  # nothing re-issued


def test_new_names_reissue_from_same_ca(tmp_path: Path) -> None:
    first = ServerIdentity.load_or_create(tmp_path, ["localhost"], ["127.0.0.1"])
    second = ServerIdentity.load_or_create(tmp_path, ["localhost", "master.local"], ["127.0.0.1"])
    assert second.ca_pem == first.ca_pem
    assert second.public_key_sha256 != first.public_key_sha256
    cert = x509.load_pem_x509_certificate(second.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "master.local" in san.get_values_for_type(x509.DNSName)


def test_mismatched_key_is_reissued(tmp_path: Path) -> None:
    first = ServerIdentity.load_or_create(tmp_path, ["localhost"], [])
    other = tmp_path / "other"
    ServerIdentity.load_or_create(other, ["localhost"], [])
    (tmp_path / "server.key").write_bytes((other / "server.key").read_bytes())
    second = ServerIdentity.load_or_create(tmp_path, ["localhost"], [])
    assert second.public_key_sha256 != first.public_key_sha256


@pytest.mark.parametrize(("hosts", "ips"), [([], []), (["x"], ["300.1.1.1"])])
def test_bad_input(tmp_path: Path, hosts: list[str], ips: list[str]) -> None:
    with pytest.raises(TlsIdentityError):
        ServerIdentity.load_or_create(tmp_path, hosts, ips)


def test_corrupt_key_file(tmp_path: Path) -> None:
    ServerIdentity.load_or_create(tmp_path, ["localhost"], [])
    (tmp_path / "ca.key").write_text("garbage")
    with pytest.raises(TlsIdentityError, match="not a PEM private key"):
        ServerIdentity.load_or_create(tmp_path, ["localhost"], [])
