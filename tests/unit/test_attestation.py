"""Attestation: the document codec, the one verifier, the dev CA, the AWS root pin, simulated PCRs.

Every rejection test changes exactly one thing in an otherwise valid document and asserts the
verifier's reason code, so a verifier that skipped that check would fail the test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k3s_daas.attestation import (
    AWS_NITRO_ROOT_SHA256,
    AttestationDocument,
    AttestationError,
    DevCA,
    EnclaveLeaf,
    create_dev_ca,
    der_sha256,
    encode_cose_sign1,
    encode_document,
    issue_enclave_leaf,
    load_aws_root,
    load_or_create_dev_ca,
    load_root,
    parse_cose,
    parse_document,
    root_from_pem,
    sign_document,
    simulated_pcrs,
    verify_document,
)
from k3s_daas.attestation.devca import ROOT_CERT_FILE, ROOT_KEY_FILE, _build, _name
from k3s_daas.attestation.document import MAX_DOCUMENT_BYTES, PROTECTED_HEADER, sig_structure
from k3s_daas.attestation.errors import REASONS
from k3s_daas.attestation.pcrs import PACKAGE_ROOT
from k3s_daas.seal.errors import K3sDaasError

SHARED_AWS_ROOT = Path("/work/shared/data/aws-nitro-root-g1.pem")
NONCE = b"worker-nonce-0123456789abcdef"
ENCLAVE_KEY = bytes(range(32))
PCRS = {i: (bytes([i + 1]) * 48 if i < 3 else bytes(48)) for i in range(16)}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    # Made a day ago (root and intermediate), so documents from the recent past can chain.
    return create_dev_ca(
        tmp_path_factory.mktemp("devca"), now=datetime.now(UTC) - timedelta(days=1)
    )


@pytest.fixture(scope="module")
def foreign_ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return create_dev_ca(tmp_path_factory.mktemp("foreign"))


@pytest.fixture(scope="module")
def leaf(ca: DevCA) -> EnclaveLeaf:
    return issue_enclave_leaf(ca)


def payload(
    leaf: EnclaveLeaf, *, at: datetime | None = None, **changes: Any
) -> AttestationDocument:
    at = at or datetime.now(UTC)
    doc = AttestationDocument(
        module_id="i-0123-enc0123",
        timestamp_ms=int(at.timestamp() * 1000),
        pcrs=PCRS,
        certificate=leaf.certificate_der,
        cabundle=leaf.cabundle,
        public_key=ENCLAVE_KEY,
        user_data=b"\x01" * 32,
        nonce=NONCE,
    )
    return replace(doc, **changes)


def verify(document: bytes, ca: DevCA, **overrides: Any) -> AttestationDocument:
    kwargs: dict[str, Any] = {
        "root": ca.root,
        "expected_pcrs": {0: PCRS[0], 1: PCRS[1], 2: PCRS[2]},
        "expected_nonce": NONCE,
        "expected_public_key": ENCLAVE_KEY,
    }
    kwargs.update(overrides)
    return verify_document(document, **kwargs)


def rejected(document: bytes, ca: DevCA, **overrides: object) -> str:
    with pytest.raises(AttestationError) as info:
        verify(document, ca, **overrides)
    assert info.value.reason in REASONS
    return info.value.reason


def der_signed(doc: AttestationDocument, key: ec.EllipticCurvePrivateKey) -> bytes:
    body = encode_document(doc)
    der = key.sign(sig_structure(PROTECTED_HEADER, body), ec.ECDSA(hashes.SHA384()))
    return encode_cose_sign1(PROTECTED_HEADER, body, der)


# ---- format -------------------------------------------------------------------------------------


def test_round_trip_in_the_exact_aws_shape(ca: DevCA, leaf: EnclaveLeaf) -> None:
    document = sign_document(payload(leaf), leaf.key)
    assert document[0] == 0xD2  # CBOR tag 18
    tagged = cbor2.loads(document)
    protected, unprotected, body, signature = tagged.value
    assert cbor2.loads(protected) == {1: -35}
    assert unprotected == {}
    assert len(signature) == 96
    fields = cbor2.loads(body)
    assert set(fields) == {
        "module_id",
        "digest",
        "timestamp",
        "pcrs",
        "certificate",
        "cabundle",
        "public_key",
        "user_data",
        "nonce",
    }
    assert fields["digest"] == "SHA384"
    assert fields["cabundle"][0] == ca.root_der  # root first
    result = verify(document, ca)
    assert result == payload(leaf, timestamp_ms=result.timestamp_ms)
    assert parse_document(document) == result


def test_untagged_cose_is_accepted(ca: DevCA, leaf: EnclaveLeaf) -> None:
    cose = parse_cose(sign_document(payload(leaf), leaf.key))
    untagged = encode_cose_sign1(cose.protected, cose.payload, cose.signature, tagged=False)
    assert untagged[0] == 0x84
    assert verify(untagged, ca).nonce == NONCE


def test_absent_optionals_are_null_and_parse_as_none(ca: DevCA, leaf: EnclaveLeaf) -> None:
    doc = payload(leaf, public_key=None, user_data=None, nonce=None)
    body = cbor2.loads(parse_cose(sign_document(doc, leaf.key)).payload)
    assert body["nonce"] is None and body["user_data"] is None and body["public_key"] is None
    result = verify(sign_document(doc, leaf.key), ca, expected_nonce=None, expected_public_key=None)
    assert result.nonce is None


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda d: b"", id="empty"),
        pytest.param(lambda d: d[:-1], id="truncated"),
        pytest.param(lambda d: d + b"\x00", id="trailing-byte"),
        pytest.param(lambda d: b"\xff" * 40, id="garbage"),
        pytest.param(lambda d: b"\x00" * (MAX_DOCUMENT_BYTES + 1), id="too-large"),
        pytest.param(lambda d: cbor2.dumps(cbor2.CBORTag(17, cbor2.loads(d).value)), id="tag-17"),
        pytest.param(lambda d: cbor2.dumps(list(cbor2.loads(d).value)[:3]), id="3-items"),
        pytest.param(lambda d: cbor2.dumps({"a": 1}), id="map"),
    ],
)
def test_malformed_envelopes_are_bad_format(
    ca: DevCA, leaf: EnclaveLeaf, mangle: Callable[[bytes], bytes]
) -> None:
    document = sign_document(payload(leaf), leaf.key)
    bad = mangle(document)
    with pytest.raises(AttestationError) as info:
        parse_document(bad)
    assert info.value.reason == "bad_format"
    assert isinstance(info.value, K3sDaasError)
    assert rejected(bad, ca) == "bad_format"


def _with_payload_field(document: bytes, key: str, value: object) -> bytes:
    cose = parse_cose(document)
    body = cbor2.loads(cose.payload)
    body[key] = value
    return encode_cose_sign1(cose.protected, cbor2.dumps(body), cose.signature)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("digest", "SHA256"),
        ("pcrs", {0: b"\x00" * 32}),
        ("pcrs", {99: b"\x00" * 48}),
        ("pcrs", {}),
        ("cabundle", []),
        ("cabundle", [b"\x00" * 2000]),
        ("certificate", None),
        ("timestamp", -1),
        ("timestamp", "now"),
        ("module_id", ""),
        ("nonce", b"\x00" * 513),
        ("public_key", b""),
    ],
)
def test_payloads_outside_aws_rules_are_bad_format(
    leaf: EnclaveLeaf, key: str, value: object
) -> None:
    bad = _with_payload_field(sign_document(payload(leaf), leaf.key), key, value)
    with pytest.raises(AttestationError) as info:
        parse_document(bad)
    assert info.value.reason == "bad_format"


def test_protected_header_must_be_es384(leaf: EnclaveLeaf) -> None:
    cose = parse_cose(sign_document(payload(leaf), leaf.key))
    es256 = encode_cose_sign1(cbor2.dumps({1: -7}), cose.payload, cose.signature)
    with pytest.raises(AttestationError, match="ES384"):
        parse_cose(es256)


def test_every_truncation_is_rejected_cleanly(leaf: EnclaveLeaf) -> None:
    document = sign_document(payload(leaf), leaf.key)
    for end in range(0, len(document), 7):
        with pytest.raises(AttestationError):
            parse_document(document[:end])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_parse_document_on_arbitrary_bytes_returns_or_raises_attestation_error(data: bytes) -> None:
    try:
        parse_document(data)
    except AttestationError as exc:
        assert exc.reason == "bad_format"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_bit_flip_is_rejected_with_a_reason(
    ca: DevCA, leaf: EnclaveLeaf, position: int, bit: int
) -> None:
    document = bytearray(sign_document(payload(leaf), leaf.key))
    document[position % len(document)] ^= 1 << bit
    with pytest.raises(AttestationError) as info:
        verify(bytes(document), ca)
    assert info.value.reason in REASONS


# ---- verifier rejections -------------------------------------------------------------------------


def test_changed_pcr_breaks_the_signature(ca: DevCA, leaf: EnclaveLeaf) -> None:
    document = sign_document(payload(leaf), leaf.key)
    tampered = _with_payload_field(document, "pcrs", {**PCRS, 0: b"\xee" * 48})
    assert parse_document(tampered).pcrs[0] == b"\xee" * 48
    assert rejected(tampered, ca) == "bad_signature"


def test_wrong_expected_pcr(ca: DevCA, leaf: EnclaveLeaf) -> None:
    document = sign_document(payload(leaf), leaf.key)
    assert rejected(document, ca, expected_pcrs={2: b"\x00" * 48}) == "pcr_mismatch"
    assert rejected(document, ca, expected_pcrs={20: b"\x00" * 48}) == "pcr_mismatch"
    assert verify(document, ca, expected_pcrs={5: bytes(48)}).pcrs[5] == bytes(48)


def test_wrong_nonce(ca: DevCA, leaf: EnclaveLeaf) -> None:
    document = sign_document(payload(leaf), leaf.key)
    assert rejected(document, ca, expected_nonce=b"another nonce") == "nonce_mismatch"
    no_nonce = sign_document(payload(leaf, nonce=None), leaf.key)
    assert rejected(no_nonce, ca) == "nonce_mismatch"


def test_wrong_key(ca: DevCA, leaf: EnclaveLeaf) -> None:
    document = sign_document(payload(leaf), leaf.key)
    assert rejected(document, ca, expected_public_key=b"\x07" * 32) == "key_mismatch"
    keyless = sign_document(payload(leaf, public_key=None), leaf.key)
    assert rejected(keyless, ca) == "key_mismatch"


def test_der_signature_is_rejected(ca: DevCA, leaf: EnclaveLeaf) -> None:
    document = der_signed(payload(leaf), leaf.key)
    assert rejected(document, ca) == "bad_signature"


def test_bad_signature_bytes(ca: DevCA, leaf: EnclaveLeaf) -> None:
    cose = parse_cose(sign_document(payload(leaf), leaf.key))
    flipped = bytes([cose.signature[0] ^ 1]) + cose.signature[1:]
    assert rejected(encode_cose_sign1(cose.protected, cose.payload, flipped), ca) == "bad_signature"
    zero = bytes(96)
    assert rejected(encode_cose_sign1(cose.protected, cose.payload, zero), ca) == "bad_signature"
    short = cose.signature[:95]
    assert rejected(encode_cose_sign1(cose.protected, cose.payload, short), ca) == "bad_signature"


def test_signature_by_another_key_than_the_leaf(ca: DevCA, leaf: EnclaveLeaf) -> None:
    other = issue_enclave_leaf(ca)
    assert rejected(sign_document(payload(leaf), other.key), ca) == "bad_signature"


def test_foreign_root(ca: DevCA, foreign_ca: DevCA) -> None:
    foreign_leaf = issue_enclave_leaf(foreign_ca)
    document = sign_document(payload(foreign_leaf), foreign_leaf.key)
    assert verify(document, foreign_ca).module_id  # valid for its own root
    assert rejected(document, ca) == "untrusted_root"
    assert rejected(document, ca, root=load_aws_root()) == "untrusted_root"


def test_pinned_root_with_a_foreign_intermediate(ca: DevCA, foreign_ca: DevCA) -> None:
    foreign_leaf = issue_enclave_leaf(foreign_ca)
    bundle = (ca.root_der, foreign_leaf.cabundle[1])
    document = sign_document(payload(foreign_leaf, cabundle=bundle), foreign_leaf.key)
    assert rejected(document, ca) == "bad_chain"


def test_leaf_from_a_foreign_intermediate_under_the_real_one(
    ca: DevCA, foreign_ca: DevCA, leaf: EnclaveLeaf
) -> None:
    foreign_leaf = issue_enclave_leaf(foreign_ca)
    doc = payload(foreign_leaf, cabundle=leaf.cabundle)  # genuine bundle, leaf not issued by it
    assert rejected(sign_document(doc, foreign_leaf.key), ca) == "bad_chain"


def test_reversed_cabundle(ca: DevCA, leaf: EnclaveLeaf) -> None:
    doc = payload(leaf, cabundle=tuple(reversed(leaf.cabundle)))
    assert rejected(sign_document(doc, leaf.key), ca) == "untrusted_root"


def test_path_length_is_enforced(ca: DevCA) -> None:
    # The intermediate has path length 0: a CA below it must not be accepted.
    now = datetime.now(UTC)
    sub_key = ec.generate_private_key(ec.SECP384R1())
    sub = _build(
        subject=_name("sub-ca"),
        public_key=sub_key.public_key(),
        issuer=ca.intermediate.subject,
        issuer_key=ca.intermediate_key,
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(hours=1),
        path_length=None,
        ca=True,
    )
    leaf_key = ec.generate_private_key(ec.SECP384R1())
    leaf_cert = _build(
        subject=_name("leaf"),
        public_key=leaf_key.public_key(),
        issuer=sub.subject,
        issuer_key=sub_key,
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(hours=1),
        path_length=None,
        ca=False,
    )
    der = Encoding.DER
    deep = EnclaveLeaf(
        leaf_cert, leaf_key, (ca.root_der, ca.intermediate.public_bytes(der), sub.public_bytes(der))
    )
    assert rejected(sign_document(payload(deep), leaf_key), ca) == "bad_chain"


def test_a_non_ca_certificate_cannot_issue(ca: DevCA, leaf: EnclaveLeaf) -> None:
    now = datetime.now(UTC)
    child_key = ec.generate_private_key(ec.SECP384R1())
    child = _build(
        subject=_name("child"),
        public_key=child_key.public_key(),
        issuer=leaf.certificate.subject,
        issuer_key=leaf.key,
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(hours=1),
        path_length=None,
        ca=False,
    )
    chained = EnclaveLeaf(child, child_key, (*leaf.cabundle, leaf.certificate_der))
    assert rejected(sign_document(payload(chained), child_key), ca) == "bad_chain"


def test_expired_leaf(ca: DevCA) -> None:
    old = issue_enclave_leaf(ca, now=datetime.now(UTC) - timedelta(days=1))
    assert rejected(sign_document(payload(old), old.key), ca) == "cert_expired"


def test_leaf_not_yet_valid_at_the_document_time(ca: DevCA) -> None:
    # Checked at "now" AND at the document's timestamp: a leaf made after the document is refused.
    now = datetime.now(UTC)
    young = issue_enclave_leaf(ca, now=now)
    doc = payload(young, at=now - timedelta(minutes=10))
    assert rejected(sign_document(doc, young.key), ca, max_age=timedelta(hours=1)) == "cert_expired"


def test_stale_timestamp(ca: DevCA) -> None:
    now = datetime.now(UTC)
    older_leaf = issue_enclave_leaf(ca, now=now - timedelta(hours=1))
    document = sign_document(payload(older_leaf, at=now - timedelta(minutes=10)), older_leaf.key)
    assert rejected(document, ca) == "stale"
    assert verify(document, ca, max_age=timedelta(minutes=15)).module_id
    future = sign_document(payload(older_leaf, at=now + timedelta(minutes=10)), older_leaf.key)
    assert rejected(future, ca) == "stale"


def test_devnet_mode_checks_chain_signature_and_time_only(ca: DevCA) -> None:
    now = datetime.now(UTC)
    older_leaf = issue_enclave_leaf(ca, now=now - timedelta(hours=1))
    doc = payload(older_leaf, at=now - timedelta(minutes=30), nonce=None)
    result = verify_document(
        sign_document(doc, older_leaf.key),
        root=ca.root,
        expected_pcrs=None,
        expected_nonce=None,
        max_age=None,
        now=now,
    )
    assert result.pcrs == PCRS
    assert result.public_key == ENCLAVE_KEY


def test_naive_now_is_a_programming_error(ca: DevCA, leaf: EnclaveLeaf) -> None:
    with pytest.raises(ValueError, match="timezone"):
        verify(sign_document(payload(leaf), leaf.key), ca, now=datetime.now())


# ---- roots ---------------------------------------------------------------------------------------


def test_aws_root_ships_with_the_package_and_matches_its_pin() -> None:
    root = load_aws_root()
    assert der_sha256(root) == AWS_NITRO_ROOT_SHA256
    assert root.subject.rfc4514_string() == "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US"
    assert root.not_valid_after_utc.year == 2049
    packaged = PACKAGE_ROOT / "attestation" / "aws-nitro-root-g1.pem"
    if SHARED_AWS_ROOT.exists():
        assert packaged.read_bytes() == SHARED_AWS_ROOT.read_bytes()
    assert load_root(packaged, sha256=AWS_NITRO_ROOT_SHA256) == root


def test_a_root_that_does_not_match_the_pin_is_refused(ca: DevCA, tmp_path: Path) -> None:
    with pytest.raises(AttestationError) as info:
        root_from_pem(ca.root_pem, sha256=AWS_NITRO_ROOT_SHA256)
    assert info.value.reason == "bad_root"
    with pytest.raises(AttestationError, match="cannot read"):
        load_root(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("not a cert")
    with pytest.raises(AttestationError) as junk:
        load_root(tmp_path / "junk.pem")
    assert junk.value.reason == "bad_root"


# ---- dev CA --------------------------------------------------------------------------------------


def test_dev_ca_files_modes_and_reload(tmp_path: Path) -> None:
    made = create_dev_ca(tmp_path / "ca")
    key_mode = stat.S_IMODE(os.stat(tmp_path / "ca" / ROOT_KEY_FILE).st_mode)
    assert key_mode == 0o600
    loaded = DevCA.load(tmp_path / "ca")
    assert loaded.root == made.root
    assert loaded.intermediate != made.intermediate  # per-process intermediate, same root
    leaf = issue_enclave_leaf(loaded)
    assert verify(sign_document(payload(leaf), leaf.key), made).module_id
    assert load_or_create_dev_ca(tmp_path / "ca").root == made.root
    with pytest.raises(AttestationError) as again:
        create_dev_ca(tmp_path / "ca")
    assert again.value.reason == "bad_ca"


def test_dev_ca_shape_matches_aws(ca: DevCA, leaf: EnclaveLeaf) -> None:
    from cryptography import x509

    for cert, path_length in ((ca.root, 1), (ca.intermediate, 0)):
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca
        assert constraints.value.path_length == path_length
        public_key = cert.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert public_key.curve.name == "secp384r1"
    assert leaf.cabundle == (ca.root_der, ca.intermediate.public_bytes(Encoding.DER))
    lifetime = leaf.certificate.not_valid_after_utc - leaf.certificate.not_valid_before_utc
    assert lifetime < timedelta(hours=4)


def test_dev_ca_with_mismatched_key_is_refused(tmp_path: Path, foreign_ca: DevCA) -> None:
    create_dev_ca(tmp_path / "a")
    create_dev_ca(tmp_path / "b")
    with pytest.raises(AttestationError) as info:
        DevCA.load_files(tmp_path / "a" / ROOT_CERT_FILE, tmp_path / "b" / ROOT_KEY_FILE)
    assert info.value.reason == "bad_ca"
    with pytest.raises(AttestationError) as missing:
        DevCA.load(tmp_path / "nowhere")
    assert missing.value.reason == "bad_ca"


# ---- simulated PCRs ------------------------------------------------------------------------------


def test_simulated_pcrs_are_stable_and_shaped_like_nitro() -> None:
    first = simulated_pcrs()
    assert first == simulated_pcrs()
    assert sorted(first) == list(range(16))
    assert all(len(v) == 48 for v in first.values())
    assert len({first[0], first[1], first[2]}) == 3
    assert all(first[i] == bytes(48) for i in range(3, 16))
    assert simulated_pcrs(PACKAGE_ROOT) == first


def test_simulated_pcrs_change_when_a_source_byte_changes(tmp_path: Path) -> None:
    copy = tmp_path / "k3s_daas"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = simulated_pcrs(copy)
    assert before == simulated_pcrs(PACKAGE_ROOT)  # a faithful copy measures the same

    seal_file = copy / "seal" / "constants.py"
    seal_file.write_bytes(seal_file.read_bytes() + b" ")
    outside = simulated_pcrs(copy)
    assert outside[0] != before[0]
    assert outside[1] == before[1]  # seal/ is not part of the enclave subpackages
    assert outside[2] == before[2]

    verifier = copy / "attestation" / "verify.py"
    verifier.write_bytes(verifier.read_bytes().replace(b"stale", b"STALE", 1))
    inside = simulated_pcrs(copy)
    assert inside[0] != outside[0]
    assert inside[1] != before[1]

    (copy / "nautilus" / "new_module.py").write_text("x = 1\n")
    assert simulated_pcrs(copy)[1] != inside[1]


def test_pcr_digest_is_over_path_and_content_not_content_alone(tmp_path: Path) -> None:
    for name in ("a", "b"):
        pkg = tmp_path / name / "k3s_daas"
        (pkg / "attestation").mkdir(parents=True)
        (pkg / "attestation" / f"{name}.py").write_text("same = True\n")
    a = simulated_pcrs(tmp_path / "a" / "k3s_daas")
    b = simulated_pcrs(tmp_path / "b" / "k3s_daas")
    assert a[0] != b[0]
    assert hashlib.sha384(b"").digest() not in (a[0], a[1])
