"""The master's enclave: Ed25519 identity, documents, attested TLS, data key, the Nitro adapter.

/dev/nsm cannot exist here, so the Nitro adapter is driven through `NsmDouble` (harness/
nitro_doubles.py), a named test double of the NSM transport that answers the documented CBOR
request shapes with dev-CA documents.
"""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harness.nitro_doubles import NsmDouble
from k3s_daas.attestation import (
    AttestationError,
    DevCA,
    certificate_binding,
    create_dev_ca,
    issue_enclave_leaf,
    simulated_pcrs,
    verify_document,
)
from k3s_daas.nautilus.enclave import (
    DATA_KEY_LENGTH,
    Enclave,
    EnclaveError,
    NitroEnclave,
    SimulatedEnclave,
    make_enclave,
    verify_enclave_signature,
)

NONCE = b"n" * 20


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return create_dev_ca(tmp_path_factory.mktemp("devca"))


@pytest.fixture
def enclave(ca: DevCA, tmp_path: Path) -> SimulatedEnclave:
    return SimulatedEnclave(ca, tmp_path / "keys" / "data.key")


def pinned_pcrs(enclave: Enclave) -> dict[int, bytes]:
    return {i: enclave.pcrs[i] for i in (0, 1, 2)}


def test_simulated_enclave_satisfies_the_protocol(enclave: SimulatedEnclave) -> None:
    assert isinstance(enclave, Enclave)
    assert len(enclave.public_key) == 32
    assert enclave.pcrs == simulated_pcrs()


def test_sign_and_verify(enclave: SimulatedEnclave, ca: DevCA, tmp_path: Path) -> None:
    message = b"register-worker answer"
    signature = enclave.sign(message)
    assert len(signature) == 64
    assert verify_enclave_signature(enclave.public_key, message, signature)
    assert not verify_enclave_signature(enclave.public_key, message + b"!", signature)
    assert not verify_enclave_signature(enclave.public_key, message, signature[:-1])
    assert not verify_enclave_signature(b"\x00" * 31, message, signature)
    other = SimulatedEnclave(ca, tmp_path / "other.key")
    assert other.public_key != enclave.public_key  # ephemeral: a new key per start
    assert not verify_enclave_signature(other.public_key, message, signature)


def test_attestation_verifies_against_the_dev_root(enclave: SimulatedEnclave, ca: DevCA) -> None:
    document = enclave.attestation(nonce=NONCE)
    result = verify_document(
        document,
        root=ca.root,
        expected_pcrs=pinned_pcrs(enclave),
        expected_nonce=NONCE,
        expected_public_key=enclave.public_key,
    )
    assert result.public_key == enclave.public_key
    assert result.user_data is None
    assert result.module_id == "k3s-daas-simulated"
    with pytest.raises(AttestationError) as info:
        verify_document(
            document,
            root=ca.root,
            expected_pcrs={0: bytes(48)},
            expected_nonce=NONCE,
            expected_public_key=enclave.public_key,
        )
    assert info.value.reason == "pcr_mismatch"


def test_user_data_carries_the_tls_key_binding(ca: DevCA, tmp_path: Path) -> None:
    tls_key = ec.generate_private_key(ec.SECP256R1())
    spki = tls_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    enclave = SimulatedEnclave(ca, tmp_path / "data.key", spki)
    document = enclave.attestation(NONCE)
    result = verify_document(document, root=ca.root, expected_pcrs=None, expected_nonce=NONCE)
    assert result.user_data == hashlib.sha256(spki).digest()
    # What a worker computes from the certificate it saw in the TLS handshake:
    leaf = issue_enclave_leaf(ca)  # any certificate object carrying that key will do
    assert certificate_binding(leaf.certificate) != result.user_data
    cert = _self_signed(tls_key)
    assert certificate_binding(cert) == result.user_data
    # An explicit user_data wins (and then the TLS binding is absent: a worker would refuse it).
    explicit = verify_document(
        enclave.attestation(NONCE, b"other"), root=ca.root, expected_pcrs=None, expected_nonce=None
    )
    assert explicit.user_data == b"other"


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "master")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_leaf_is_renewed_before_it_expires(ca: DevCA, tmp_path: Path) -> None:
    clock = [datetime.now(UTC)]
    enclave = SimulatedEnclave(ca, tmp_path / "k", clock=lambda: clock[0])
    clock[0] += timedelta(days=5)  # past the leaf (3 h) and the intermediate (3 days)
    later = enclave.attestation(NONCE)
    result = verify_document(
        later, root=ca.root, expected_pcrs=None, expected_nonce=NONCE, now=clock[0]
    )
    assert result.timestamp_ms == int(clock[0].timestamp() * 1000)


def test_data_key_file_is_created_0600_and_reused(ca: DevCA, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "data.key"
    first = SimulatedEnclave(ca, path).data_key()
    assert len(first) == DATA_KEY_LENGTH
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes() == first
    assert SimulatedEnclave(ca, path).data_key() == first  # a restart gets the same key
    assert SimulatedEnclave(ca, tmp_path / "other.key").data_key() != first


def test_data_key_file_too_open_or_wrong_size_is_refused(ca: DevCA, tmp_path: Path) -> None:
    path = tmp_path / "data.key"
    path.write_bytes(os.urandom(32))
    path.chmod(0o644)
    with pytest.raises(EnclaveError) as info:
        SimulatedEnclave(ca, path).data_key()
    assert info.value.reason == "bad_data_key"
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(EnclaveError, match="exactly 32"):
        SimulatedEnclave(ca, path).data_key()


def test_make_enclave_by_configuration(ca: DevCA, tmp_path: Path) -> None:
    made = make_enclave("simulated", ca=ca, data_key_path=tmp_path / "k")
    assert isinstance(made, SimulatedEnclave)
    with pytest.raises(EnclaveError) as missing:
        make_enclave("simulated")
    assert missing.value.reason == "bad_config"
    with pytest.raises(EnclaveError) as no_nsm:
        make_enclave("nitro", nsm_device=tmp_path / "nsm")
    assert no_nsm.value.reason == "nsm_unavailable"
    assert "Nitro enclave" in str(no_nsm.value)


def test_nitro_adapter_speaks_the_nsm_request_shape(ca: DevCA) -> None:
    nsm = NsmDouble(ca)
    spki = b"tls-spki-der"
    enclave = NitroEnclave(nsm, tls_public_key_der=spki)
    assert isinstance(enclave, Enclave)
    document = enclave.attestation(nonce=NONCE)
    assert nsm.requests[-1] == {
        "Attestation": {
            "user_data": hashlib.sha256(spki).digest(),
            "nonce": NONCE,
            "public_key": enclave.public_key,
        }
    }
    result = verify_document(
        document,
        root=ca.root,
        expected_pcrs={0: b"\xa0" * 48},
        expected_nonce=NONCE,
        expected_public_key=enclave.public_key,
    )
    assert result.module_id == "i-0abc-enc0def"
    assert enclave.pcrs[2] == b"\xa2" * 48
    assert verify_enclave_signature(enclave.public_key, b"m", enclave.sign(b"m"))
    with pytest.raises(EnclaveError) as info:  # no KMS-wrapped key configured
        enclave.data_key()
    assert info.value.reason == "bad_config"
    assert "wrap-key" in str(info.value)


def test_nitro_adapter_reports_nsm_errors(ca: DevCA) -> None:
    enclave = NitroEnclave(NsmDouble(ca, error="InvalidArgument"))
    with pytest.raises(EnclaveError) as info:
        enclave.attestation(NONCE)
    assert info.value.reason == "nsm_error"
    assert "InvalidArgument" in str(info.value)
    garbage = NitroEnclave(lambda request: b"\xff\xff")
    with pytest.raises(EnclaveError) as bad:
        garbage.attestation(None)
    assert bad.value.reason == "nsm_error"
