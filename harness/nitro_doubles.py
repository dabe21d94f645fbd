"""TEST DOUBLES for what only AWS has: the Nitro Security Module and KMS's Recipient handling,
and `running_moto`, a real moto KMS server process they sit beside.

`NsmDouble` stands for /dev/nsm: it answers the CBOR `Attestation` request the way the NSM does,
but signs with a dev-CA leaf (the real NSM signs with AWS's PKI) and reports fixed PCRs.

`RecipientKmsDouble` stands for the part of AWS KMS that moto does not implement: `Decrypt` with
a `Recipient`. It is a small HTTP server in front of a real moto KMS server. Every request is
passed to moto unchanged (moto does not check SigV4 signatures), except a `TrentService.Decrypt`
carrying `Recipient`, which it handles as KMS does: check `KeyEncryptionAlgorithm`, verify the
attestation document (against the dev root instead of AWS's, and the key-policy condition
`kms:RecipientAttestation:PCR0` when one is set), ask moto for the plaintext, and answer
`{"KeyId", "EncryptionAlgorithm", "CiphertextForRecipient"}` with no `Plaintext`, the data wrapped
in a CMS EnvelopedData (BER, indefinite lengths, chunked content) to the document's RSA key with
RSAES-OAEP-SHA-256 and AES-256-CBC.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cbor2
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_der_public_key

from harness.processes import free_port, port_open, stop_process, wait_for
from k3s_daas.attestation import (
    AttestationDocument,
    AttestationError,
    DevCA,
    issue_enclave_leaf,
    sign_document,
    verify_document,
)

NSM_PCRS = {i: bytes([0xA0 + i]) * 48 for i in range(16)}


class NsmDouble:
    """TEST DOUBLE of the /dev/nsm transport (see the module docstring)."""

    def __init__(self, ca: DevCA, *, error: str | None = None) -> None:
        self.leaf = issue_enclave_leaf(ca, module_id="i-0abc-enc0def")
        self.requests: list[Any] = []
        self.error = error

    def __call__(self, request: bytes) -> bytes:
        decoded = cbor2.loads(request)
        self.requests.append(decoded)
        if self.error:
            return bytes(cbor2.dumps({"Error": self.error}))
        body = decoded["Attestation"]
        assert set(body) == {"user_data", "nonce", "public_key"}
        document = AttestationDocument(
            module_id="i-0abc-enc0def",
            timestamp_ms=int(datetime.now(UTC).timestamp() * 1000),
            pcrs=NSM_PCRS,
            certificate=self.leaf.certificate_der,
            cabundle=self.leaf.cabundle,
            public_key=body["public_key"],
            user_data=body["user_data"],
            nonce=body["nonce"],
        )
        return bytes(
            cbor2.dumps({"Attestation": {"document": sign_document(document, self.leaf.key)}})
        )


# -- CMS EnvelopedData, as KMS builds it ----------------------------------------------------------
def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _ber(tag: int, *children: bytes) -> bytes:
    """A constructed element in the indefinite-length form KMS uses."""
    return bytes([tag, 0x80]) + b"".join(children) + b"\x00\x00"


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def _sha256_id() -> bytes:
    return _der(0x30, _oid("2.16.840.1.101.3.4.2.1"))


def envelope_for(
    public_key: rsa.RSAPublicKey, plaintext: bytes, *, chunk: int = 16, ber: bool = True
) -> bytes:
    """A ContentInfo(EnvelopedData) of `plaintext` for `public_key`, shaped like KMS's answer."""
    content_key, iv = os.urandom(32), os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(content_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    wrapped = public_key.encrypt(
        content_key, OAEP(mgf=MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    oaep = _der(
        0x30,
        _oid("1.2.840.113549.1.1.7")
        + _der(
            0x30,
            _der(0xA0, _sha256_id())
            + _der(0xA1, _der(0x30, _oid("1.2.840.113549.1.1.8") + _sha256_id())),
        ),
    )
    recipient = _der(
        0x30,
        _der(0x02, b"\x02") + _der(0x80, os.urandom(20)) + oaep + _der(0x04, wrapped),
    )
    algorithm = _der(0x30, _oid("2.16.840.1.101.3.4.1.42") + _der(0x04, iv))
    if ber:
        chunks = [_der(0x04, ciphertext[i : i + chunk]) for i in range(0, len(ciphertext), chunk)]
        content = _ber(0xA0, *chunks)
        encrypted = _ber(0x30, _oid("1.2.840.113549.1.7.1"), algorithm, content)
        enveloped = _ber(0x30, _der(0x02, b"\x02"), _der(0x31, recipient), encrypted)
        return _ber(0x30, _oid("1.2.840.113549.1.7.3"), _ber(0xA0, enveloped))
    encrypted = _der(0x30, _oid("1.2.840.113549.1.7.1") + algorithm + _der(0x80, ciphertext))
    enveloped = _der(0x30, _der(0x02, b"\x02") + _der(0x31, recipient) + encrypted)
    return _der(0x30, _oid("1.2.840.113549.1.7.3") + _der(0xA0, enveloped))


# -- KMS ------------------------------------------------------------------------------------------
@dataclass
class RecipientKmsDouble:
    """TEST DOUBLE of KMS's Recipient handling in front of moto (see the module docstring)."""

    moto_url: str
    root: x509.Certificate
    pcr0: bytes | None = None  # the key policy's kms:RecipientAttestation:PCR0, when set
    url: str = ""
    decrypts: list[dict[str, Any]] = field(default_factory=list)  # Decrypt bodies with Recipient

    def _error(self, code: str, message: str, status: int = 400) -> tuple[int, dict[str, Any]]:
        return status, {"__type": code, "message": message}

    def recipient_decrypt(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        recipient = body.pop("Recipient")
        self.decrypts.append({**body, "Recipient": recipient})
        if recipient.get("KeyEncryptionAlgorithm") != "RSAES_OAEP_SHA_256":
            return self._error("ValidationException", "KeyEncryptionAlgorithm")
        document = base64.b64decode(recipient.get("AttestationDocument", ""))
        try:
            payload = verify_document(
                document,
                root=self.root,
                expected_pcrs=None if self.pcr0 is None else {0: self.pcr0},
                expected_nonce=None,
            )
        except AttestationError as exc:
            if exc.reason == "pcr_mismatch":  # the key policy's condition does not hold
                return self._error("AccessDeniedException", "not authorized by the key policy")
            return self._error("ValidationException", "invalid attestation document")
        try:
            public_key = load_der_public_key(payload.public_key or b"")
        except ValueError:
            public_key = None
        if not isinstance(public_key, rsa.RSAPublicKey):
            return self._error("ValidationException", "the document's public key is not RSA")
        answer = httpx.post(self.moto_url, content=json.dumps(body), headers=headers, timeout=10)
        if answer.status_code != 200:
            return answer.status_code, answer.json()
        plain = base64.b64decode(answer.json()["Plaintext"])
        sealed = envelope_for(public_key, plain)
        return 200, {
            "KeyId": answer.json()["KeyId"],
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "CiphertextForRecipient": base64.b64encode(sealed).decode(),
        }


@contextmanager
def running_kms_double(
    moto_url: str, root: x509.Certificate, *, pcr0: bytes | None = None
) -> Iterator[RecipientKmsDouble]:
    """Serve a RecipientKmsDouble on a free loopback port until the block ends."""
    double = RecipientKmsDouble(moto_url, root, pcr0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            forward = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
            }
            body = json.loads(raw) if raw else {}
            if self.headers.get("x-amz-target") == "TrentService.Decrypt" and "Recipient" in body:
                status, answer = double.recipient_decrypt(body, forward)
                data = json.dumps(answer).encode()
            else:
                passed = httpx.post(moto_url, content=raw, headers=forward, timeout=10)
                status, data = passed.status_code, passed.content
            self.send_response(status)
            self.send_header("content-type", "application/x-amz-json-1.1")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    double.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running_moto(log_path: Path) -> Iterator[str]:
    """A real `moto_server` process (moto's AWS API server) on a free loopback port; its URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_for(lambda: port_open(port) or proc.poll() is not None, timeout=60)
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: see {log_path}")
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(proc)
