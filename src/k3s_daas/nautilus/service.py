"""Signed worker requests (register, heartbeat, leave): the checks and the enclave-signed answers.

Kept apart from HTTP so the same logic serves the app, the benchmarks and unit tests. A request
passes when: its body parses strictly; its timestamp is within the skew window; its token
validates (DESIGN §4) and is a node token; the Sui personal-message signature over
`seal.messages.signing_bytes` (which binds this master's enclave key and the token fingerprint)
is the token owner's; its node_id is the stake's; and its nonce was never seen (replay cache in
the Store, compare-and-set with a TTL). Answers are signed by the enclave key over
`seal.messages.answer_bytes`, so a worker can tell this master from an impostor.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Callable
from typing import Any, Final

from pydantic import ValidationError

from k3s_daas.chain.keys import SignatureError, decode_signature, recover_personal_message_signer
from k3s_daas.log import get_logger
from k3s_daas.nautilus.cluster import Cluster, StandaloneCluster
from k3s_daas.nautilus.enclave import Enclave
from k3s_daas.nautilus.errors import MasterError, TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import AuditSink, KeyValueStore, Registry, WorkerRecord
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.messages import (
    HeartbeatRequest,
    Kind,
    LeaveRequest,
    RegisterRequest,
    SignedBody,
    answer_bytes,
    signing_bytes,
)
from k3s_daas.seal.token import parse_token, token_fingerprint

log = get_logger(__name__)

NONCE_PREFIX: Final = "/nonces/"
#: Validation reasons that come from chain state (reached only after the secret matched).
STAKE_REASONS: Final = frozenset(
    {"stake_slashed", "stake_withdrawing", "stake_too_low", "expired", "owner_mismatch"}
)


def invalid_request(exc: ValidationError) -> MasterError:
    """One line about the first problem, never echoing the input value."""
    errors = exc.errors(include_url=False, include_input=False)
    if not errors:
        return MasterError("invalid body", reason="invalid_request")
    where = ".".join(str(p) for p in errors[0]["loc"]) or "body"
    return MasterError(f"{where}: {errors[0]['msg']}"[:300], reason="invalid_request")


class MasterService:
    """The worker-facing operations of one master."""

    def __init__(
        self,
        *,
        validator: Validator,
        registry: Registry,
        store: KeyValueStore,
        enclave: Enclave,
        metrics: Metrics,
        enclave_id: str = "",
        heartbeat_interval: float = 10.0,
        skew_seconds: float = 60.0,
        nonce_ttl: float = 600.0,
        clock: Callable[[], float] = time.time,
        audit: AuditSink | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.audit = audit
        self.cluster: Cluster = cluster or StandaloneCluster()
        self.validator = validator
        self.registry = registry
        self.store = store
        self.enclave = enclave
        self.metrics = metrics
        self.enclave_id = enclave_id
        self.heartbeat_interval = heartbeat_interval
        self.skew_ms = int(skew_seconds * 1000)
        self.nonce_ttl = max(nonce_ttl, 2 * skew_seconds)
        self._clock = clock

    # -- checks -----------------------------------------------------------------------------------
    async def authenticate(
        self, kind: Kind, token: str | None, raw: bytes
    ) -> tuple[Claims, SignedBody, str]:
        """Run every check of a signed request; returns (claims, body, token fingerprint)."""
        model: dict[str, type[SignedBody]] = {
            "register": RegisterRequest,
            "heartbeat": HeartbeatRequest,
            "leave": LeaveRequest,
        }
        try:
            body = model[kind].model_validate_json(raw)
        except ValidationError as exc:
            raise invalid_request(exc) from None
        if not token:
            raise MasterError("the X-Seal-Token header is required", reason="missing_token",
                              status=401)  # fmt: skip
        now_ms = int(self._clock() * 1000)
        if abs(now_ms - body.timestamp) > self.skew_ms:
            raise MasterError(
                f"timestamp is more than {self.skew_ms // 1000}s away from the master's clock",
                reason="stale_request",
            )
        try:
            claims = await self.validator.validate(token)
        except TokenRejected as exc:
            if exc.reason in STAKE_REASONS:
                await self._revoke_for(token, exc.reason)
            raise
        if not claims.is_node:
            raise MasterError("a user token cannot register a node", reason="not_node_token",
                              status=403)  # fmt: skip
        fingerprint = token_fingerprint(token)
        # The signature covers the fields exactly as sent (ints stay ints, absent stays absent).
        unsigned = {k: v for k, v in json.loads(raw).items() if k != "signature"}
        message = signing_bytes(kind, self.enclave.public_key, fingerprint, unsigned)
        try:
            signer = recover_personal_message_signer(message, decode_signature(body.signature))
        except SignatureError:
            raise MasterError(
                "the signature does not verify over this request for this master",
                reason="bad_signature",
                status=401,
            ) from None
        if not hmac.compare_digest(signer, claims.owner):
            raise MasterError("the request is not signed by the token's owner",
                              reason="signer_mismatch", status=403)  # fmt: skip
        if body.node_id != claims.node_id:
            raise MasterError(f"the stake is for node {claims.node_id!r}, not {body.node_id!r}",
                              reason="node_mismatch", status=403)  # fmt: skip
        fresh = await self.store.compare_and_set(
            NONCE_PREFIX + body.nonce, None, b"1", ttl=self.nonce_ttl
        )
        if not fresh:
            raise MasterError("this nonce was already used", reason="replayed", status=409)
        return claims, body, fingerprint

    async def _revoke_for(self, token: str, reason: str) -> None:
        """The chain says this token's stake is gone: revoke its worker now, not at the event."""
        token_id = parse_token(token).object_id
        await self.registry.revoke_where(token_id=token_id, reason=reason)

    def sign(self, kind: Kind, nonce: str, answer: dict[str, Any]) -> dict[str, Any]:
        signature = self.enclave.sign(answer_bytes(kind, nonce, answer))
        return {**answer, "enclave_signature": base64.b64encode(signature).decode()}

    def _stake_answer(self, record: WorkerRecord, claims: Claims) -> dict[str, Any]:
        return {
            "node_id": record.node_id,
            "state": record.status,
            "owner": claims.owner,
            "stake": claims.stake_amount,
            "stake_status": "active",
            "tier": claims.tier.label,
            "permissions": list(claims.permissions),
            "expires_at_epoch": claims.expires_at_epoch,
            "enclave_id": self.enclave_id,
            "heartbeat_interval": self.heartbeat_interval,
            "master_time_ms": int(self._clock() * 1000),
        }

    async def _record(
        self, action: str, token: str | None, subject: str, decision: str, reason: str | None
    ) -> None:
        """One audit entry per decision: the token only as its fingerprint, never raw."""
        if self.audit is None:
            return
        fingerprint = token_fingerprint(token)[:16] if token else None
        await self.audit.append(
            actor="worker", action=action, subject=subject[:63], decision=decision,
            reason=reason, token_fingerprint=fingerprint,
        )  # fmt: skip

    @staticmethod
    def _node_of(raw: bytes) -> str:
        try:
            node = json.loads(raw).get("node_id")
        except (ValueError, AttributeError):
            return "?"
        return node if isinstance(node, str) else "?"

    # -- operations -------------------------------------------------------------------------------
    async def register(self, token: str | None, raw: bytes) -> dict[str, Any]:
        try:
            claims, body, fingerprint = await self.authenticate("register", token, raw)
            record = await self.registry.register(claims, fingerprint)
            join = await self.cluster.admit(record.node_id)
        except MasterError as exc:
            self.metrics.registrations.labels(exc.reason).inc()
            await self._record("register", token, self._node_of(raw), "denied", exc.reason)
            raise
        await self._record("register", token, record.node_id, "accepted", None)
        self.metrics.registrations.labels("ok").inc()
        log.info("worker registered", node=record.node_id, token=fingerprint[:16])
        answer = {
            "status": "registered",
            **self._stake_answer(record, claims),
            "cluster": self.cluster.mode,
            "join_token": join.token if join is not None else None,
            "k3s_server": join.server if join is not None else None,
        }
        return self.sign("register", body.nonce, answer)

    async def heartbeat(self, token: str | None, raw: bytes) -> dict[str, Any]:
        try:
            claims, body, fingerprint = await self.authenticate("heartbeat", token, raw)
            assert isinstance(body, HeartbeatRequest)
            before = self.registry.get(claims.node_id)
            record = await self.registry.heartbeat(
                claims,
                fingerprint,
                running_pods=body.running_pods,
                resource_usage=body.resource_usage,
            )
        except MasterError as exc:
            self.metrics.heartbeats.labels(exc.reason).inc()
            await self._record("heartbeat", token, self._node_of(raw), "denied", exc.reason)
            raise
        self.metrics.heartbeats.labels("ok").inc()
        if before is None or before.status != record.status:
            # Only heartbeats that change a node's state are audited (routine ones are counted
            # in metrics and the registry): the log stays a record of decisions, not a firehose.
            await self._record("heartbeat", token, record.node_id, "accepted", None)
        answer = {
            "status": "acknowledged",
            **self._stake_answer(record, claims),
            "epoch": await self.validator.epoch(),
            "next_heartbeat_s": self.heartbeat_interval,
        }
        return self.sign("heartbeat", body.nonce, answer)

    async def leave(self, token: str | None, raw: bytes) -> dict[str, Any]:
        claims, body, _ = await self.authenticate("leave", token, raw)
        record = self.registry.get(claims.node_id)
        if record is None or record.owner != claims.owner:
            raise MasterError(f"node {claims.node_id} is not registered with this master",
                              reason="not_registered", status=404)  # fmt: skip
        await self.registry.set_status(claims.node_id, "left", "graceful_leave")
        log.info("worker left", node=claims.node_id)
        return self.sign("leave", body.nonce, {"status": "left", "node_id": claims.node_id})
