"""The Nitro enclave's data key: kept wrapped by AWS KMS, released only to an attested enclave.

The operator wraps a fresh key once (`k3s-daas nautilus wrap-key`: KMS
GenerateDataKeyWithoutPlaintext, so no one outside KMS ever sees it) and gives the master the
ciphertext. At start the enclave makes
an ephemeral RSA-2048 key, asks the NSM for an attestation document carrying its public half, and
calls KMS `Decrypt` with that document as the `Recipient`. KMS checks the document (AWS's PKI, and
the key policy's `kms:RecipientAttestation:*` conditions on the PCRs) and answers
`CiphertextForRecipient` — the key encrypted to the RSA key (nautilus/cms.py) — instead of the
plaintext. Uses botocore (the `nitro` extra); docs/attestation.md walks through the deployment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from k3s_daas.nautilus.cms import CmsError, open_envelope
from k3s_daas.nautilus.enclave import DATA_KEY_LENGTH, EnclaveError
from k3s_daas.seal.errors import MissingExtraError

try:  # the `nitro` extra
    import botocore.config
    import botocore.exceptions
    import botocore.session
except ImportError:
    raise MissingExtraError("nitro", "the Nitro enclave's KMS data key") from None

KEY_ENCRYPTION_ALGORITHM: Final = "RSAES_OAEP_SHA_256"  # the only one KMS offers a Recipient
RSA_BITS: Final = 2048
#: Bound into every wrap and unwrap: a ciphertext made for something else does not decrypt here.
ENCRYPTION_CONTEXT: Final[Mapping[str, str]] = {"k3s-daas": "nautilus-data-key"}
MAX_WRAPPED: Final = 6144  # KMS ciphertexts are far smaller; bigger is not one


def kms_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A botocore KMS client: credentials and region from the usual AWS chain (environment,
    profile), `endpoint_url` for a VPC endpoint or a test server."""
    try:
        session = botocore.session.get_session()
        return session.create_client(
            "kms",
            region_name=region,
            endpoint_url=endpoint_url,
            config=botocore.config.Config(
                connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
            ),
        )
    except botocore.exceptions.BotoCoreError as exc:  # no region, bad endpoint URL
        raise EnclaveError(f"cannot make a KMS client: {exc}", reason="kms_error") from None


def _kms_failure(what: str, exc: Exception) -> EnclaveError:
    """One line from a botocore error: KMS's error code and message, or why there was no answer."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), str(error.get("Message", ""))[:200]
        return EnclaveError(f"AWS KMS refused {what}: {code} {message}".strip(), reason="kms_error")
    return EnclaveError(f"AWS KMS {what} failed: {exc}", reason="kms_error")


def wrap_new_data_key(client: Any, key_id: str) -> bytes:
    """A new data key wrapped by the KMS key `key_id`; its plaintext never leaves KMS."""
    try:
        answer = client.generate_data_key_without_plaintext(
            KeyId=key_id, KeySpec="AES_256", EncryptionContext=dict(ENCRYPTION_CONTEXT)
        )
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _kms_failure("GenerateDataKeyWithoutPlaintext", exc) from None
    blob = answer.get("CiphertextBlob")
    if not isinstance(blob, bytes) or not blob:
        raise EnclaveError("AWS KMS answered without a CiphertextBlob", reason="kms_error")
    return blob


def read_wrapped_key(path: Path) -> bytes:
    """The ciphertext `wrap-key` wrote (not a secret: only an attested enclave can unwrap it)."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise EnclaveError(
            f"cannot read the KMS-wrapped data key {path}: {exc.strerror}; make one with "
            "`k3s-daas nautilus wrap-key --kms-key-id KEY`",
            reason="bad_data_key",
        ) from None
    if not 0 < len(blob) <= MAX_WRAPPED:
        raise EnclaveError(f"{path} is not a KMS ciphertext", reason="bad_data_key")
    return blob


#: Asks the NSM for an attestation document whose `public_key` is the given DER public key.
Attest = Callable[[bytes], bytes]


@dataclass
class KmsDataKey:
    """Unwraps the data key through KMS Decrypt with a Recipient; see the module docstring."""

    wrapped: bytes
    client: Any
    key_id: str | None = None
    _key: bytes | None = field(default=None, init=False, repr=False)

    def unwrap(self, attest: Attest) -> bytes:
        """The 32-byte data key (once; then cached), decrypted inside this process only."""
        if self._key is None:
            self._key = self._unwrap(attest)
        return self._key

    def _unwrap(self, attest: Attest) -> bytes:
        ephemeral = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        public_der = ephemeral.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
        request: dict[str, Any] = {
            "CiphertextBlob": self.wrapped,
            "EncryptionContext": dict(ENCRYPTION_CONTEXT),
            "Recipient": {
                "KeyEncryptionAlgorithm": KEY_ENCRYPTION_ALGORITHM,
                "AttestationDocument": attest(public_der),
            },
        }
        if self.key_id:
            request["KeyId"] = self.key_id
        try:
            answer = self.client.decrypt(**request)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise _kms_failure("Decrypt", exc) from None
        if answer.get("Plaintext"):  # KMS never sends it to a Recipient: not a KMS we trust
            raise EnclaveError(
                "AWS KMS answered Decrypt with a plaintext instead of CiphertextForRecipient",
                reason="kms_error",
            )
        sealed = answer.get("CiphertextForRecipient")
        if not isinstance(sealed, bytes) or not sealed:
            raise EnclaveError(
                "AWS KMS answered without CiphertextForRecipient", reason="kms_error"
            )
        try:
            key = open_envelope(sealed, ephemeral)
        except CmsError as exc:
            message = f"CiphertextForRecipient: {exc.message}"
            raise EnclaveError(message, reason="kms_error") from None
        if len(key) != DATA_KEY_LENGTH:
            raise EnclaveError(
                f"the KMS-wrapped data key is {len(key)} bytes, not {DATA_KEY_LENGTH}",
                reason="bad_data_key",
            )
        return key


def kms_data_key(
    wrapped_path: Path,
    *,
    key_id: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> KmsDataKey:
    """The master's data key source in Nitro mode, from its settings."""
    return KmsDataKey(read_wrapped_key(wrapped_path), kms_client(region, endpoint_url), key_id)
