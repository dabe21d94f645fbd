"""HTTP client for one attested master: signed requests, verified and typed answers.

Every request body is built from the protocol's request models and signed by the staker's key
over `seal.protocol.signing_bytes`; every answer must carry the attested enclave key's signature
over `seal.protocol.answer_bytes`, or it is treated as coming from an impostor, and must parse
as the protocol's answer for its kind.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from k3s_daas.attestation import verify_enclave_signature
from k3s_daas.chain import SuiKeyPair
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.protocol import (
    PATHS,
    ErrorAnswer,
    HeartbeatAnswer,
    HeartbeatRequest,
    LeaveAnswer,
    LeaveRequest,
    Reason,
    RegisterAnswer,
    RegisterRequest,
    SignedAnswer,
    SignedBody,
    answer_bytes,
    signing_bytes,
)
from k3s_daas.seal.token import token_fingerprint
from k3s_daas.worker.attested import AttestedMaster

AnswerT = TypeVar("AnswerT", bound=SignedAnswer)


class MasterUnavailable(K3sDaasError):
    reason = "master_unavailable"


class MasterRejected(K3sDaasError):
    """The master answered with an error code (a `seal.protocol.Reason` word, e.g.
    `stake_slashed`)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.status = status


class MasterClient:
    """One attested master; heartbeats and leaves get a shorter timeout than registrations (the
    worker moves on to the next master rather than wait)."""

    def __init__(
        self,
        attested: AttestedMaster,
        key: SuiKeyPair,
        *,
        timeout: float = 10.0,
        connect_timeout: float | None = None,
        heartbeat_timeout: float | None = None,
    ) -> None:
        self.attested = attested
        self.key = key
        connect = connect_timeout or timeout
        self.http = httpx.AsyncClient(
            base_url=attested.url,
            verify=attested.ssl_context(),
            timeout=httpx.Timeout(timeout, connect=connect),
        )
        self._heartbeat_timeout = httpx.Timeout(heartbeat_timeout or timeout, connect=connect)

    @property
    def url(self) -> str:
        return self.attested.url

    @property
    def enclave_id(self) -> str:
        return self.attested.enclave_id

    async def close(self) -> None:
        await self.http.aclose()

    def _signed(self, model: type[SignedBody], token: str, **fields: Any) -> SignedBody:
        """A fresh body of `model` (timestamp, nonce), signed for this master and token."""
        body = model(
            timestamp=int(time.time() * 1000), nonce=secrets.token_hex(16), signature="", **fields
        )
        message = signing_bytes(
            model.kind, self.attested.enclave_public_key, token_fingerprint(token), body.unsigned()
        )
        signature = base64.b64encode(self.key.sign_personal_message(message)).decode()
        return body.model_copy(update={"signature": signature})

    async def _call(self, body: SignedBody, token: str, answer: type[AnswerT]) -> AnswerT:
        short = body.kind in ("heartbeat", "leave")  # a leave on SIGTERM must not linger either
        limits = self._heartbeat_timeout if short else httpx.USE_CLIENT_DEFAULT
        try:
            response = await self.http.post(
                PATHS[body.kind], json=body.sent(), headers={"X-Seal-Token": token}, timeout=limits
            )
        except httpx.HTTPError as exc:
            raise MasterUnavailable(f"{self.url}: {exc.__class__.__name__}") from exc
        try:
            data = response.json()
        except ValueError as exc:
            raise MasterUnavailable(
                f"{self.url}: answer is not JSON ({response.status_code})"
            ) from exc
        if not isinstance(data, dict):
            raise MasterUnavailable(f"{self.url}: answer is not an object")
        if response.status_code >= 500 or response.status_code == Reason.RATE_LIMITED.status:
            retry = response.headers.get("retry-after", "")
            raise MasterUnavailable(f"{self.url}: {response.status_code}" + (
                f" (retry after {retry[:8]} s)" if retry else ""
            ))  # fmt: skip
        if response.status_code >= 400:
            raise self._rejected(response.status_code, data)
        self._verify(body, data)
        try:
            return answer.model_validate(data)
        except ValidationError as exc:
            raise MasterUnavailable(
                f"{self.url}: not a {body.kind} answer", reason="bad_answer"
            ) from exc

    @staticmethod
    def _rejected(status: int, data: dict[str, Any]) -> MasterRejected:
        try:
            refusal = ErrorAnswer.model_validate(data)
        except ValidationError:
            return MasterRejected(
                status, str(data.get("error", "rejected")), str(data.get("message", ""))
            )
        return MasterRejected(status, refusal.error, refusal.message)

    def _verify(self, body: SignedBody, data: dict[str, Any]) -> None:
        """The answer as received (not as re-rendered) is signed by the attested enclave."""
        try:
            signature = base64.b64decode(str(data.get("enclave_signature", "")), validate=True)
        except ValueError:
            signature = b""
        if not verify_enclave_signature(
            self.attested.enclave_public_key, answer_bytes(body.kind, body.nonce, data), signature
        ):
            raise MasterUnavailable(
                f"{self.url}: answer not signed by the attested enclave",
                reason="bad_enclave_signature",
            )

    async def register(self, token: str, node_id: str) -> RegisterAnswer:
        body = self._signed(RegisterRequest, token, node_id=node_id)
        return await self._call(body, token, RegisterAnswer)

    async def heartbeat(self, token: str, node_id: str, running_pods: int = 0) -> HeartbeatAnswer:
        body = self._signed(HeartbeatRequest, token, node_id=node_id, running_pods=running_pods)
        return await self._call(body, token, HeartbeatAnswer)

    async def leave(self, token: str, node_id: str) -> LeaveAnswer:
        body = self._signed(LeaveRequest, token, node_id=node_id)
        return await self._call(body, token, LeaveAnswer)
