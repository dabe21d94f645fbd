"""The master's enclave: an ephemeral Ed25519 identity, attestation documents, and the data key.

`Enclave` is the boundary the rest of the master codes against (rationale: docs/design.md, "Enclave
and attestation"). `SimulatedEnclave` runs anywhere: it signs AWS-format documents with a leaf from
the devnet's dev CA and reports PCRs measured from the installed code. `NitroEnclave` is the
production adapter over `/dev/nsm`; it cannot run on this machine (no Nitro hypervisor), so it is
documented and tested only through a named transport double (docs/attestation.md, "Nitro adapter").
Its data key comes from AWS KMS, released only to an attested enclave (nautilus/kms.py).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import secrets
import stat
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, Protocol, runtime_checkable

import cbor2
from nacl.bindings import crypto_sign, crypto_sign_keypair

from k3s_daas.attestation import (
    AttestationDocument,
    DevCA,
    EnclaveLeaf,
    issue_enclave_leaf,
    parse_document,
    sign_document,
    simulated_pcrs,
    tls_key_binding,
    verify_enclave_signature,
)
from k3s_daas.seal.errors import K3sDaasError

__all__ = [
    "DATA_KEY_LENGTH",
    "NSM_DEVICE",
    "DataKeySource",
    "DevNsmTransport",
    "Enclave",
    "EnclaveError",
    "NitroEnclave",
    "NsmTransport",
    "SimulatedEnclave",
    "make_enclave",
    "verify_enclave_signature",
]

DATA_KEY_LENGTH: Final = 32  # AES-256-GCM key for sealing store values
SIMULATED_MODULE_ID: Final = "k3s-daas-simulated"
LEAF_RENEW_MARGIN: Final = timedelta(minutes=30)  # re-issue the leaf this long before it expires

NSM_DEVICE: Final = Path("/dev/nsm")
# _IOWR(0x0A, 0, struct nsm_message { struct iovec request; struct iovec response; })
# = (3 << 30) | (sizeof(nsm_message) = 32 << 16) | (0x0A << 8) | 0, for 64-bit Linux.
NSM_IOCTL_REQUEST: Final = 0xC0200A00
NSM_REQUEST_MAX: Final = 0x1000
NSM_RESPONSE_MAX: Final = 0x3000


class EnclaveError(K3sDaasError):
    """The enclave could not do what was asked (device absent, NSM error, bad key file...)."""

    reason = "enclave_error"


@runtime_checkable
class Enclave(Protocol):
    """What the master needs from its TEE; the HTTP layer and the store depend only on this."""

    @property
    def public_key(self) -> bytes:
        """The ephemeral Ed25519 public key (32 bytes), made at start, attested in documents."""
        ...

    @property
    def pcrs(self) -> Mapping[int, bytes]:
        """The PCRs this enclave's documents carry (PCR0..2 are what the chain pins)."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (64 bytes) of `message` by the ephemeral key."""
        ...

    def attestation(self, nonce: bytes | None = None, user_data: bytes | None = None) -> bytes:
        """A COSE_Sign1 attestation document binding `public_key`, `nonce` and `user_data`."""
        ...

    def data_key(self) -> bytes:
        """The 32-byte AES key that seals the master's store; only the enclave can obtain it."""
        ...


class DataKeySource(Protocol):
    """Where the Nitro enclave's data key comes from: given a way to attest a public key (DER),
    return the 32-byte key (nautilus/kms.py: KMS Decrypt with a Recipient)."""

    def unwrap(self, attest: Callable[[bytes], bytes]) -> bytes: ...


class _EphemeralIdentity:
    """The Ed25519 key both implementations make at start; it never leaves the process."""

    def __init__(self, tls_public_key_der: bytes | None) -> None:
        # libsodium (PyNaCl): every answer is signed, and it signs in ~60% of OpenSSL's time here.
        self._public_key, self._secret_key = crypto_sign_keypair()
        self._tls_binding = (
            tls_key_binding(tls_public_key_der) if tls_public_key_der is not None else None
        )

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        signed: bytes = crypto_sign(message, self._secret_key)  # signature || message
        return signed[:64]

    def _user_data(self, user_data: bytes | None) -> bytes | None:
        """Explicit user_data wins; otherwise the attested-TLS binding (SHA-256 of the TLS SPKI)."""
        return user_data if user_data is not None else self._tls_binding


class SimulatedEnclave(_EphemeralIdentity):
    """A dev enclave: real AWS-format documents signed by a leaf of the devnet's dev CA."""

    def __init__(
        self,
        ca: DevCA,
        data_key_path: Path,
        tls_public_key_der: bytes | None = None,
        *,
        module_id: str = SIMULATED_MODULE_ID,
        pcrs: Mapping[int, bytes] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(tls_public_key_der)
        self._ca = ca
        self._data_key_path = Path(data_key_path)
        self._module_id = module_id
        self._pcrs = dict(pcrs) if pcrs is not None else simulated_pcrs()
        self._clock = clock
        self._lock = threading.Lock()
        self._leaf: EnclaveLeaf = issue_enclave_leaf(ca, module_id=module_id, now=clock())
        self._data_key: bytes | None = None

    @property
    def pcrs(self) -> Mapping[int, bytes]:
        return dict(self._pcrs)

    def _current_leaf(self, now: datetime) -> EnclaveLeaf:
        """The leaf, re-issued (with a fresh intermediate if needed) before either expires."""
        with self._lock:
            if self._ca.intermediate.not_valid_after_utc - now < LEAF_RENEW_MARGIN:
                self._ca = DevCA.from_root(self._ca.root, self._ca.root_key, now=now)
            if self._leaf.certificate.not_valid_after_utc - now < LEAF_RENEW_MARGIN:
                self._leaf = issue_enclave_leaf(self._ca, module_id=self._module_id, now=now)
            return self._leaf

    def attestation(self, nonce: bytes | None = None, user_data: bytes | None = None) -> bytes:
        now = self._clock()
        leaf = self._current_leaf(now)
        document = AttestationDocument(
            module_id=self._module_id,
            timestamp_ms=int(now.timestamp() * 1000),
            pcrs=self._pcrs,
            certificate=leaf.certificate_der,
            cabundle=leaf.cabundle,
            public_key=self.public_key,
            user_data=self._user_data(user_data),
            nonce=nonce,
        )
        return sign_document(document, leaf.key)

    def data_key(self) -> bytes:
        """Read the 0600 key file, or create it (O_EXCL, mode 0600) with 32 random bytes."""
        if self._data_key is None:
            self._data_key = _read_or_create_key_file(self._data_key_path)
        return self._data_key


def _read_key_file(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise EnclaveError(f"data key {path} is not a regular file", reason="bad_data_key")
        if info.st_mode & 0o077:
            raise EnclaveError(
                f"data key {path} is readable by others (mode {stat.S_IMODE(info.st_mode):o});"
                " chmod 600 it",
                reason="bad_data_key",
            )
        key = handle.read(DATA_KEY_LENGTH + 1)
    if len(key) != DATA_KEY_LENGTH:
        raise EnclaveError(
            f"data key {path} must hold exactly {DATA_KEY_LENGTH} bytes", reason="bad_data_key"
        )
    return key


def _read_or_create_key_file(path: Path) -> bytes:
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise EnclaveError(
            f"cannot read data key {path}: {exc.strerror}", reason="bad_data_key"
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(DATA_KEY_LENGTH)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _read_key_file(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key


# ---- Nitro -------------------------------------------------------------------------------------

NsmTransport = Callable[[bytes], bytes]
"""One NSM round trip: CBOR request bytes in, CBOR response bytes out."""


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _NsmMessage(ctypes.Structure):
    _fields_ = (("request", _IoVec), ("response", _IoVec))


class DevNsmTransport:
    """The real NSM transport: one ioctl on /dev/nsm per request (only inside a Nitro enclave).

    Mirrors aws-nitro-enclaves-nsm-api's driver: `struct nsm_message` holds two iovecs (request,
    response); the kernel fills the response buffer and updates its length.
    """

    def __init__(self, device: Path = NSM_DEVICE) -> None:
        try:
            self._fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise EnclaveError(
                f"{device} is not available ({exc.strerror}): the Nitro enclave kind only runs"
                " inside an AWS Nitro enclave; use the simulated enclave elsewhere",
                reason="nsm_unavailable",
            ) from None
        self._lock = threading.Lock()

    def __call__(self, request: bytes) -> bytes:
        if len(request) > NSM_REQUEST_MAX:
            raise EnclaveError("NSM request too large", reason="nsm_error")
        request_buf = ctypes.create_string_buffer(request, len(request))
        response_buf = ctypes.create_string_buffer(NSM_RESPONSE_MAX)
        message = _NsmMessage(
            _IoVec(ctypes.addressof(request_buf), len(request)),
            _IoVec(ctypes.addressof(response_buf), NSM_RESPONSE_MAX),
        )
        with self._lock:
            try:
                fcntl.ioctl(self._fd, NSM_IOCTL_REQUEST, message, True)
            except OSError as exc:
                raise EnclaveError(
                    f"NSM ioctl failed: {exc.strerror}", reason="nsm_error"
                ) from None
        return response_buf.raw[: min(message.response.iov_len, NSM_RESPONSE_MAX)]

    def close(self) -> None:
        os.close(self._fd)


class NitroEnclave(_EphemeralIdentity):
    """Production enclave over the Nitro Security Module (cannot run here: no /dev/nsm).

    Request/response CBOR, as in aws-nitro-enclaves-nsm-api:
      request  `{"Attestation": {"user_data": bytes|null, "nonce": bytes|null,
                 "public_key": bytes|null}}`
      response `{"Attestation": {"document": bytes}}` or `{"Error": "<ErrorCode>"}`
    The NSM signs the document with AWS's PKI and fills PCRs from the hypervisor's measurements.
    """

    def __init__(
        self,
        transport: NsmTransport | None = None,
        tls_public_key_der: bytes | None = None,
        *,
        device: Path = NSM_DEVICE,
        data_key: DataKeySource | Callable[[], DataKeySource] | None = None,
    ) -> None:
        super().__init__(tls_public_key_der)
        self._transport: NsmTransport = (
            transport if transport is not None else DevNsmTransport(device)
        )
        self._pcrs: dict[int, bytes] | None = None
        # A factory is called only once the NSM answers to this process (so a host without
        # /dev/nsm hears about that first, not about KMS settings).
        self._data_key_source = data_key() if callable(data_key) else data_key

    def _call(self, name: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        raw = self._transport(bytes(cbor2.dumps({name: dict(body)})))
        try:
            response = cbor2.loads(raw)
        except Exception:
            raise EnclaveError("NSM answered with invalid CBOR", reason="nsm_error") from None
        if isinstance(response, Mapping) and "Error" in response:
            raise EnclaveError(f"NSM error: {response['Error']}", reason="nsm_error")
        inner = response.get(name) if isinstance(response, Mapping) else None
        if not isinstance(inner, Mapping):
            raise EnclaveError(f"NSM answer has no {name!r} body", reason="nsm_error")
        return inner

    def attestation(self, nonce: bytes | None = None, user_data: bytes | None = None) -> bytes:
        return self._document(self.public_key, nonce, self._user_data(user_data))

    def _document(self, public_key: bytes, nonce: bytes | None, user_data: bytes | None) -> bytes:
        answer = self._call(
            "Attestation", {"user_data": user_data, "nonce": nonce, "public_key": public_key}
        )
        document = answer.get("document")
        if not isinstance(document, bytes):
            raise EnclaveError("NSM attestation answer has no document", reason="nsm_error")
        return document

    @property
    def pcrs(self) -> Mapping[int, bytes]:
        """Read once from a document the NSM made (exactly what workers will see)."""
        if self._pcrs is None:
            self._pcrs = dict(parse_document(self.attestation()).pcrs)
        return dict(self._pcrs)

    def _attest_recipient(self, public_key_der: bytes) -> bytes:
        """A document whose `public_key` is KMS's recipient key (not the Ed25519 identity)."""
        return self._document(public_key_der, None, None)

    def data_key(self) -> bytes:
        """Unwrapped by KMS for this attested enclave only (KMS Decrypt with a Recipient)."""
        if self._data_key_source is None:
            raise EnclaveError(
                "the Nitro enclave has no KMS-wrapped data key: make one with `k3s-daas nautilus"
                " wrap-key` and set kms_wrapped_key_file",
                reason="bad_config",
            )
        return self._data_key_source.unwrap(self._attest_recipient)


def make_enclave(
    kind: Literal["simulated", "nitro"],
    *,
    ca: DevCA | None = None,
    data_key_path: Path | None = None,
    tls_public_key_der: bytes | None = None,
    nsm_device: Path = NSM_DEVICE,
    kms: Callable[[], DataKeySource] | None = None,
) -> Enclave:
    """Pick the implementation from configuration (`simulated` needs the dev CA and a key path,
    `nitro` the source of its KMS-wrapped data key, built once /dev/nsm is open)."""
    if kind == "simulated":
        if ca is None or data_key_path is None:
            raise EnclaveError(
                "the simulated enclave needs the dev CA and a data key path", reason="bad_config"
            )
        return SimulatedEnclave(ca, data_key_path, tls_public_key_der)
    if kind == "nitro":
        return NitroEnclave(tls_public_key_der=tls_public_key_der, device=nsm_device, data_key=kms)
    raise EnclaveError(f"unknown enclave kind {kind!r}", reason="bad_config")
