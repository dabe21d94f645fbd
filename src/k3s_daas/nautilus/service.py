"""The worker-facing operations (register, heartbeat, leave) and their enclave-signed answers.

Kept apart from HTTP so the same logic serves the app, the benchmarks and unit tests. Requests
arrive verified (`nautilus.signed`); answers are the protocol's typed answers, signed by the
enclave key over `seal.protocol.answer_bytes`, so a worker can tell this master from an
impostor. Every decision is counted and audited (tokens only as fingerprints): a request that
fails verification as a per-minute count (`nautilus.refusal_counts`), the others one by one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from k3s_daas.chain import RemoteVerifier
from k3s_daas.log import get_logger
from k3s_daas.nautilus.cluster import Cluster
from k3s_daas.nautilus.enclave import Enclave
from k3s_daas.nautilus.errors import MasterError
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.read_audit import ReadAudit
from k3s_daas.nautilus.refusal_counts import RefusalCounts
from k3s_daas.nautilus.registry import AuditSink, KeyValueStore, Registry
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.nautilus.signed import BodyT, RequestVerifier, SignedRequest, decode
from k3s_daas.nautilus.validator import Validator
from k3s_daas.nautilus.worker_record import WorkerRecord
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.protocol import (
    HeartbeatAnswer,
    HeartbeatRequest,
    Kind,
    LeaveAnswer,
    LeaveRequest,
    NodeStatus,
    Reason,
    RegisterAnswer,
    RegisterRequest,
    SignedAnswer,
    answer_signing_input,
    signed_answer_json,
)

log = get_logger(__name__)


class MasterService:
    """The worker-facing operations of one master."""

    def __init__(
        self,
        *,
        settings: NautilusSettings,
        validator: Validator,
        registry: Registry,
        store: KeyValueStore,
        enclave: Enclave,
        metrics: Metrics,
        cluster: Cluster,
        enclave_id: str = "",
        audit: AuditSink | None = None,
        clock: Callable[[], float] = time.time,
        signatures: RemoteVerifier | None = None,
        refusals: RefusalCounts | None = None,
        liveness: ReadAudit | None = None,
    ) -> None:
        self.validator = validator
        self.registry = registry
        self.enclave = enclave
        self.metrics = metrics
        self.cluster = cluster
        self.enclave_id = enclave_id
        self.audit = audit
        #: Unauthenticated refusals of every endpoint, audited per minute and reason.
        self.refusals = refusals if refusals is not None else RefusalCounts(audit)
        #: Where a heartbeat's state change (registered/not_ready -> ready) is audited without
        #: waiting: 10,000 workers' first heartbeats would otherwise queue on the audit chain.
        self.liveness = liveness
        self.heartbeat_interval = settings.heartbeat_interval
        self._heartbeats_ok = metrics.heartbeats.labels("ok")  # once, not per heartbeat
        self._clock = clock
        self.verifier = RequestVerifier(
            validator=validator,
            registry=registry,
            store=store,
            enclave_public_key=enclave.public_key,
            skew_seconds=settings.skew_seconds,
            nonce_ttl=settings.nonce_ttl,
            clock=clock,
            signatures=signatures,
            chain_timeout=settings.chain_timeout,
            future_seconds=settings.future_skew_seconds,
        )

    # -- verification -------------------------------------------------------------------------
    async def verify(
        self, model: type[BodyT], token: str | None, raw: bytes
    ) -> SignedRequest[BodyT]:
        """Decode the body once and run every check of a signed request of `model`'s kind; a
        refused register or heartbeat is counted in metrics and in the audit's per-minute counts
        here (a refused leave is only answered)."""
        try:
            return await self.verifier.verify(model, decode(token, raw))
        except MasterError as exc:
            if model.kind != "leave":
                self._count(model.kind, exc.reason)
                self.refusals.count(model.kind, exc.reason)
            raise

    def _count(self, kind: Kind, result: str) -> None:
        counter = self.metrics.registrations if kind == "register" else self.metrics.heartbeats
        counter.labels(result).inc()

    async def _denied(self, kind: Kind, fingerprint: str | None, node: str, reason: str) -> None:
        """An authenticated request refused: counted, and audited on its own."""
        self._count(kind, reason)
        await self._record(kind, fingerprint, node, "denied", reason)

    async def _record(
        self, action: str, fingerprint: str | None, subject: str, decision: str, reason: str | None
    ) -> None:
        """One audit entry per decision: the token only as its fingerprint, never raw."""
        if self.audit is None:
            return
        await self.audit.append(
            actor="worker", action=action, subject=subject[:63], decision=decision,
            reason=reason, token_fingerprint=fingerprint[:16] if fingerprint else None,
        )  # fmt: skip

    # -- answers ----------------------------------------------------------------------------------
    def sign(self, kind: Kind, nonce: str, answer: SignedAnswer) -> bytes:
        """The answer's JSON as sent, with the enclave's signature over it (bound to the
        request's nonce): the typed answer is encoded once, canonically, and signed as is."""
        canonical = canonical_json(answer.unsigned())
        signature = self.enclave.sign(answer_signing_input(kind, nonce, canonical))
        return signed_answer_json(canonical, signature)

    def _stake_answer(self, record: WorkerRecord, claims: Claims) -> dict[str, Any]:
        return {
            "node_id": record.node_id,
            "state": record.status,
            "owner": claims.owner,
            "stake": claims.stake_amount,
            "tier": claims.tier.label,
            "permissions": list(claims.permissions),
            "expires_at_epoch": claims.expires_at_epoch,
            "enclave_id": self.enclave_id,
            "heartbeat_interval": self.heartbeat_interval,
            "master_time_ms": int(self._clock() * 1000),
        }

    # -- operations -------------------------------------------------------------------------------
    async def register(self, request: SignedRequest[RegisterRequest]) -> bytes:
        claims = request.claims
        try:
            record = await self.registry.register(claims, request.fingerprint)
            join = await self.cluster.admit(record.node_id)
        except MasterError as exc:
            await self._denied("register", request.fingerprint, claims.node_id, exc.reason)
            raise
        await self._record("register", request.fingerprint, record.node_id, "accepted", None)
        self.metrics.registrations.labels("ok").inc()
        log.info("worker registered", node=record.node_id, token=request.fingerprint[:16])
        answer = RegisterAnswer(
            **self._stake_answer(record, claims),
            cluster=self.cluster.mode,
            join_token=join.token if join is not None else None,
            k3s_server=join.server if join is not None else None,
        )
        return self.sign("register", request.body.nonce, answer)

    async def heartbeat(self, request: SignedRequest[HeartbeatRequest]) -> bytes:
        claims, body = request.claims, request.body
        try:
            before = self.registry.get(claims.node_id)
            record = await self.registry.heartbeat(
                claims,
                request.fingerprint,
                running_pods=body.running_pods,
                resource_usage=body.resource_usage,
                timestamp=body.timestamp,
            )
        except MasterError as exc:
            await self._denied("heartbeat", request.fingerprint, claims.node_id, exc.reason)
            raise
        self._heartbeats_ok.inc()
        if before is None or before.status != record.status:
            # Only heartbeats that change a node's state are audited (routine ones are counted
            # in metrics and the registry): the log stays a record of decisions, not a firehose.
            if self.liveness is None:
                await self._record("heartbeat", request.fingerprint, record.node_id, "accepted",
                                   None)  # fmt: skip
            else:
                self.liveness.record(
                    actor="worker", action="heartbeat", subject=record.node_id[:63],
                    decision="accepted", reason=None, token_fingerprint=request.fingerprint[:16],
                )  # fmt: skip
        answer = HeartbeatAnswer(
            **self._stake_answer(record, claims),
            epoch=await self.validator.epoch(),
            next_heartbeat_s=self.heartbeat_interval,
        )
        return self.sign("heartbeat", body.nonce, answer)

    async def leave(self, request: SignedRequest[LeaveRequest]) -> bytes:
        claims = request.claims
        record = self.registry.get(claims.node_id)
        if record is None or record.owner != claims.owner:
            raise MasterError(f"node {claims.node_id} is not registered with this master",
                              reason=Reason.NOT_REGISTERED)  # fmt: skip
        await self.registry.set_status(claims.node_id, NodeStatus.LEFT, Reason.GRACEFUL_LEAVE)
        log.info("worker left", node=claims.node_id)
        return self.sign("leave", request.body.nonce, LeaveAnswer(node_id=claims.node_id))
