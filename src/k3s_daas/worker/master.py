"""HTTP client for one attested master: signed requests, verified answers.

Every request is signed by the staker's key over `seal.messages.signing_bytes`; every answer
must carry the attested enclave key's signature over `seal.messages.answer_bytes`, or it is
treated as coming from an impostor.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import httpx

from k3s_daas.attestation import verify_enclave_signature
from k3s_daas.chain.keys import SuiKeyPair
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.messages import Kind, answer_bytes, signing_bytes
from k3s_daas.seal.token import token_fingerprint
from k3s_daas.worker.attested import AttestedMaster

PATHS: dict[str, str] = {
    "register": "/api/v1/register-worker",
    "heartbeat": "/api/v1/nodes/heartbeat",
    "leave": "/api/v1/nodes/leave",
}


class MasterUnavailable(K3sDaasError):
    reason = "master_unavailable"


class MasterRejected(K3sDaasError):
    """The master answered with an error code (e.g. `stake_slashed`)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.status = status


class MasterClient:
    def __init__(self, attested: AttestedMaster, key: SuiKeyPair, *, timeout: float = 10.0) -> None:
        self.attested = attested
        self.key = key
        self.http = httpx.AsyncClient(
            base_url=attested.url, verify=attested.ssl_context(), timeout=timeout
        )

    @property
    def url(self) -> str:
        return self.attested.url

    @property
    def enclave_id(self) -> str:
        return self.attested.enclave_id

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, kind: Kind, token: str, node_id: str, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "node_id": node_id,
            "timestamp": int(time.time() * 1000),
            "nonce": secrets.token_hex(16),
            **extra,
        }
        message = signing_bytes(
            kind, self.attested.enclave_public_key, token_fingerprint(token), body
        )
        body["signature"] = base64.b64encode(self.key.sign_personal_message(message)).decode()
        try:
            response = await self.http.post(PATHS[kind], json=body, headers={"X-Seal-Token": token})
        except httpx.HTTPError as exc:
            raise MasterUnavailable(f"{self.url}: {exc.__class__.__name__}") from exc
        try:
            answer = response.json()
        except ValueError as exc:
            raise MasterUnavailable(
                f"{self.url}: answer is not JSON ({response.status_code})"
            ) from exc
        if not isinstance(answer, dict):
            raise MasterUnavailable(f"{self.url}: answer is not an object")
        if response.status_code >= 500:
            raise MasterUnavailable(f"{self.url}: {response.status_code}")
        if response.status_code >= 400:
            raise MasterRejected(
                response.status_code,
                str(answer.get("error", "rejected")),
                str(answer.get("message", "")),
            )
        self._verify(kind, body["nonce"], answer)
        return answer

    def _verify(self, kind: Kind, nonce: str, answer: dict[str, Any]) -> None:
        try:
            signature = base64.b64decode(str(answer.get("enclave_signature", "")), validate=True)
        except ValueError:
            signature = b""
        if not verify_enclave_signature(
            self.attested.enclave_public_key, answer_bytes(kind, nonce, answer), signature
        ):
            raise MasterUnavailable(
                f"{self.url}: answer not signed by the attested enclave",
                reason="bad_enclave_signature",
            )

    async def register(self, token: str, node_id: str) -> dict[str, Any]:
        return await self._call("register", token, node_id)

    async def heartbeat(self, token: str, node_id: str, running_pods: int = 0) -> dict[str, Any]:
        return await self._call("heartbeat", token, node_id, running_pods=running_pods)

    async def leave(self, token: str, node_id: str) -> dict[str, Any]:
        return await self._call("leave", token, node_id)
