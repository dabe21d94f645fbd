"""The Nitro data key through AWS KMS: wrapped by `nautilus wrap-key`, released by KMS `Decrypt`
with a Recipient attestation document, opened with the enclave's ephemeral RSA key.

KMS is a real moto server process (CreateKey, GenerateDataKeyWithoutPlaintext, Encrypt, Decrypt).
moto ignores `Recipient` and answers the plaintext, so the Recipient part runs through
`RecipientKmsDouble` (harness/nitro_doubles.py, a TEST DOUBLE that follows KMS's wire format) in
front of it; the NSM is `NsmDouble`. botocore is the real client throughout.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.nitro_doubles import NSM_PCRS, NsmDouble, running_kms_double, running_moto
from harness.processes import CLI
from k3s_daas.attestation import DevCA, create_dev_ca, parse_document
from k3s_daas.chain import Deployment
from k3s_daas.nautilus.enclave import DATA_KEY_LENGTH, EnclaveError, NitroEnclave
from k3s_daas.nautilus.kms import ENCRYPTION_CONTEXT, KmsDataKey, kms_client, kms_data_key

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts any credentials
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        with running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as url:
            yield url


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return create_dev_ca(tmp_path_factory.mktemp("devca"))


@pytest.fixture(scope="module")
def key_id(moto_url: str) -> str:
    answer = kms_client("us-east-1", moto_url).create_key(Description="k3s-daas data key")
    return str(answer["KeyMetadata"]["KeyId"])


def wrap_with_cli(
    moto_url: str, key_id: str, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K3S_DAAS_")}
    return subprocess.run(
        [CLI, "nautilus", "wrap-key", "--kms-key-id", key_id, "--kms-region", "us-east-1",
         "--kms-endpoint-url", moto_url, "-o", str(out), *extra],
        capture_output=True, text=True, timeout=60, env={**env, **AWS_ENV},
    )  # fmt: skip


def plaintext_of(moto_url: str, blob: bytes) -> bytes:
    """What KMS would release (asked of moto directly, without a Recipient)."""
    answer = kms_client("us-east-1", moto_url).decrypt(
        CiphertextBlob=blob, EncryptionContext=dict(ENCRYPTION_CONTEXT)
    )
    return bytes(answer["Plaintext"])


def test_wrap_key_writes_a_kms_ciphertext_once(moto_url: str, key_id: str, tmp_path: Path) -> None:
    out = tmp_path / "nautilus" / "data.key.kms"
    done = wrap_with_cli(moto_url, key_id, out, "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info == {"path": str(out), "kms_key_id": key_id, "bytes": out.stat().st_size}
    assert out.stat().st_mode & 0o777 == 0o600
    assert len(plaintext_of(moto_url, out.read_bytes())) == DATA_KEY_LENGTH
    again = wrap_with_cli(moto_url, key_id, out)  # never replaces a key a store is sealed with
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    unknown = wrap_with_cli(moto_url, "no-such-key", tmp_path / "other.kms")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert "NotFoundException" in unknown.stderr and "(kms_error)" in unknown.stderr


@pytest.fixture
def wrapped(moto_url: str, key_id: str, tmp_path: Path) -> Path:
    out = tmp_path / "data.key.kms"
    assert wrap_with_cli(moto_url, key_id, out).returncode == 0
    return out


def test_the_attested_enclave_gets_the_data_key(
    moto_url: str, key_id: str, ca: DevCA, wrapped: Path
) -> None:
    nsm = NsmDouble(ca)
    with running_kms_double(moto_url, ca.root, pcr0=NSM_PCRS[0]) as kms:
        enclave = NitroEnclave(
            nsm,
            data_key=lambda: kms_data_key(
                wrapped, key_id=key_id, region="us-east-1", endpoint_url=kms.url
            ),
        )
        key = enclave.data_key()
        assert key == plaintext_of(moto_url, wrapped.read_bytes())
        assert enclave.data_key() is key  # unwrapped once
        [request] = kms.decrypts
    assert request["KeyId"] == key_id
    assert request["EncryptionContext"] == dict(ENCRYPTION_CONTEXT)
    assert request["Recipient"]["KeyEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    document = parse_document(base64.b64decode(request["Recipient"]["AttestationDocument"]))
    # the document KMS saw carries the ephemeral RSA key, not the Ed25519 identity
    assert document.public_key is not None and document.public_key != enclave.public_key
    assert document.public_key.startswith(bytes.fromhex("30820122300d06092a864886f70d010101"))
    assert nsm.requests[-1]["Attestation"]["public_key"] == document.public_key


def test_a_key_policy_that_does_not_match_the_pcrs_refuses(
    moto_url: str, key_id: str, ca: DevCA, wrapped: Path
) -> None:
    with running_kms_double(moto_url, ca.root, pcr0=b"\x00" * 48) as kms:
        source = kms_data_key(wrapped, key_id=key_id, region="us-east-1", endpoint_url=kms.url)
        enclave = NitroEnclave(NsmDouble(ca), data_key=source)
        with pytest.raises(EnclaveError) as info:
            enclave.data_key()
    assert info.value.reason == "kms_error"
    assert "AccessDeniedException" in info.value.message and "\n" not in info.value.message


def test_a_kms_that_answers_plaintext_is_not_trusted(
    moto_url: str, key_id: str, ca: DevCA, wrapped: Path
) -> None:
    """moto itself ignores Recipient and answers Plaintext: exactly what a real KMS never does."""
    source = kms_data_key(wrapped, key_id=key_id, region="us-east-1", endpoint_url=moto_url)
    with pytest.raises(EnclaveError, match="plaintext instead of CiphertextForRecipient"):
        NitroEnclave(NsmDouble(ca), data_key=source).data_key()


def test_a_ciphertext_made_for_something_else_does_not_unwrap(
    moto_url: str, key_id: str, ca: DevCA, tmp_path: Path
) -> None:
    client = kms_client("us-east-1", moto_url)
    other = client.encrypt(KeyId=key_id, Plaintext=os.urandom(32))["CiphertextBlob"]  # no context
    with running_kms_double(moto_url, ca.root) as kms:
        source = KmsDataKey(other, kms_client("us-east-1", kms.url), key_id)
        with pytest.raises(EnclaveError) as info:
            NitroEnclave(NsmDouble(ca), data_key=source).data_key()
    assert info.value.reason == "kms_error" and "Decrypt" in info.value.message


def test_a_missing_wrapped_key_names_wrap_key(tmp_path: Path) -> None:
    with pytest.raises(EnclaveError) as info:
        kms_data_key(tmp_path / "absent.kms", region="us-east-1")
    assert info.value.reason == "bad_data_key" and "wrap-key" in info.value.message


def test_the_nsm_double_answers_kms_documents(ca: DevCA) -> None:
    """The Recipient document goes through the same NSM request as the master's own."""
    nsm = NsmDouble(ca)
    seen: list[Any] = []

    class Recorder:
        def unwrap(self, attest: Any) -> bytes:
            seen.append(attest(b"rsa-spki"))
            return b"k" * 32

    assert NitroEnclave(nsm, data_key=Recorder()).data_key() == b"k" * 32
    assert nsm.requests[-1] == {
        "Attestation": {"user_data": None, "nonce": None, "public_key": b"rsa-spki"}
    }
    assert parse_document(seen[0]).public_key == b"rsa-spki"


def test_nitro_master_without_dev_nsm_fails_in_one_line(tmp_path: Path) -> None:
    """`enclave_kind=nitro` on a host that is not a Nitro enclave: one line, before any KMS call."""
    object_id = "0x" + "ab" * 32
    Deployment.model_validate(
        {
            "chain_id": "test",
            "grpc_endpoints": ["127.0.0.1:9"],
            "package_id": object_id,
            "pool_id": object_id,
            "enclave_config_id": object_id,
        }
    ).save(tmp_path / "devnet" / "devnet.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("K3S_DAAS_")}
    done = subprocess.run(
        [CLI, "nautilus", "start", "--home", str(tmp_path), "--port", "0"],
        capture_output=True, text=True, timeout=60,
        env={**env, "K3S_DAAS_NAUTILUS_ENCLAVE_KIND": "nitro"},
    )  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "/dev/nsm is not available" in lines[0] and "(nsm_unavailable)" in lines[0]
