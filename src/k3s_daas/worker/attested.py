"""Attested TLS to a master: verify its Nitro document against the chain, then pin its cert.

The worker trusts no public CA and no DNS. It fetches `/get_attestation?nonce=` over a TLS
connection it does not yet trust, verifies the document (chain to the pinned root, signature,
freshness, PCRs equal to the on-chain EnclaveConfig, our nonce), checks that the document's
public key is a registered Enclave on chain and that its `user_data` is the SHA-256 of the very
TLS key that served it. From then on it talks to that master only over a TLS context that
trusts exactly that certificate.
"""

from __future__ import annotations

import hmac
import secrets
import ssl
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509

from k3s_daas.attestation import AttestationError, certificate_binding, verify_document
from k3s_daas.seal.errors import K3sDaasError

MAX_DOCUMENT = 64 * 1024


class MasterNotTrusted(K3sDaasError):
    """The master failed attestation: the worker sends it nothing secret."""

    reason = "master_not_attested"


class MasterUnreachable(MasterNotTrusted):
    """The master could not be asked for its attestation at all (down, or not answering)."""

    reason = "master_unreachable"


@dataclass(frozen=True)
class RegisteredEnclave:
    """An Enclave object read from the chain (what the document must match)."""

    enclave_id: str
    public_key: bytes
    pcrs: dict[int, bytes]


@dataclass(frozen=True)
class AttestedMaster:
    url: str
    enclave_id: str
    enclave_public_key: bytes
    certificate_der: bytes

    def ssl_context(self) -> ssl.SSLContext:
        """Trust exactly the attested certificate (a leaf used as the only trust anchor)."""
        ctx = ssl.create_default_context(cadata=_pem(self.certificate_der))
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return ctx


def _pem(der: bytes) -> str:
    return ssl.DER_cert_to_PEM_cert(der)


def _peer_certificate(response: httpx.Response) -> bytes:
    stream: Any = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise MasterNotTrusted("could not read the master's TLS certificate")
    return bytes(der)


async def attest_master(
    url: str,
    *,
    root: x509.Certificate,
    expected_pcrs: dict[int, bytes],
    enclaves: list[RegisteredEnclave],
    timeout: float = 10.0,
    connect_timeout: float | None = None,
) -> AttestedMaster:
    """Fetch and verify the master's attestation; raise MasterNotTrusted with the reason."""
    nonce = secrets.token_bytes(32)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # nothing secret is sent on this connection
    try:
        limits = httpx.Timeout(timeout, connect=connect_timeout or timeout)
        async with httpx.AsyncClient(verify=insecure, timeout=limits) as client:
            response = await client.get(f"{url}/get_attestation", params={"nonce": nonce.hex()})
            certificate = _peer_certificate(response)
    except httpx.HTTPError as exc:
        raise MasterUnreachable(f"{url}: unreachable ({exc.__class__.__name__})") from exc
    if response.status_code != 200:
        raise MasterNotTrusted(f"{url}: /get_attestation answered {response.status_code}")
    try:
        body = response.json()
        document = bytes.fromhex(body["document"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MasterNotTrusted(f"{url}: malformed attestation answer") from exc
    if len(document) > MAX_DOCUMENT:
        raise MasterNotTrusted(f"{url}: attestation document too large")
    try:
        doc = verify_document(
            document, root=root, expected_pcrs=expected_pcrs, expected_nonce=nonce
        )
    except AttestationError as exc:
        raise MasterNotTrusted(f"{url}: {exc.message}", reason=f"attestation_{exc.reason}") from exc
    if doc.public_key is None:
        raise MasterNotTrusted(f"{url}: attestation carries no enclave key")
    match = next((e for e in enclaves if hmac.compare_digest(e.public_key, doc.public_key)), None)
    if match is None:
        raise MasterNotTrusted(
            f"{url}: enclave key is not registered on chain", reason="enclave_not_registered"
        )
    binding = certificate_binding(x509.load_der_x509_certificate(certificate))
    if doc.user_data is None or not hmac.compare_digest(doc.user_data, binding):
        raise MasterNotTrusted(
            f"{url}: TLS certificate is not the attested one", reason="tls_not_attested"
        )
    return AttestedMaster(url, match.enclave_id, doc.public_key, certificate)
