"""The master's HTTP API (DESIGN §5): FastAPI routes over MasterService, one JSON error shape.

Every error is `{"error": code, "message": text}` with a 4xx (503 when the chain or store is
down); bodies are capped before they are parsed; unknown fields are rejected; client input never
produces a 500 or a traceback. Kubernetes routes (kube's standalone and webhook routers) are
mounted when kube/ provides them, over adapters of the registry and the validator.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from k3s_daas.kube.install import install as install_kube
from k3s_daas.kube.types import AuthenticationFailed
from k3s_daas.log import crash_site, get_logger
from k3s_daas.nautilus.enclave import Enclave
from k3s_daas.nautilus.errors import MasterError, TokenRejected
from k3s_daas.nautilus.metrics import CONTENT_TYPE_LATEST, Metrics
from k3s_daas.nautilus.registry import Registry
from k3s_daas.nautilus.service import MasterService, invalid_request
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.token import token_fingerprint

log = get_logger(__name__)

MAX_NONCE_HEX: Final = 128  # 64 bytes
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_STATUS_CODES: Final = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


@dataclass
class AppContext:
    """What the routes need; built by nautilus.master (or a test/benchmark)."""

    service: MasterService
    validator: Validator
    registry: Registry
    metrics: Metrics
    enclave: Enclave
    admin_token: str
    tls_binding: bytes | None = None
    max_body_bytes: int = 64 * 1024
    max_validate_batch: int = 100
    health: Callable[[], dict[str, Any]] | None = None


def error(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"error": reason, "message": message}, status_code=status)


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware: refuse bodies over `limit` bytes (header or counted) with 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._refuse(send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = error(413, "body_too_large", f"request bodies are capped at {self.limit} bytes")
        await response({"type": "http"}, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


class ValidateRequest(BaseModel):
    """`POST /api/v1/validate`: one token or a batch (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str | None = Field(default=None, max_length=256)
    tokens: list[str] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> ValidateRequest:
        if (self.token is None) == (self.tokens is None):
            raise ValueError("give exactly one of 'token' or 'tokens'")
        if self.tokens is not None and any(len(t) > 256 for t in self.tokens):
            raise ValueError("tokens are at most 256 characters")
        return self


def _result(outcome: Claims | TokenRejected) -> dict[str, Any]:
    if isinstance(outcome, TokenRejected):
        return {"valid": False, "reason": outcome.reason, "message": outcome.message}
    claims = outcome.model_dump(mode="json")
    return {"valid": True, "username": outcome.username, "groups": outcome.groups, "claims": claims}


class ValidatorAuthenticator:
    """kube's Authenticator over the validator (any refusal -> AuthenticationFailed(reason))."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator

    async def authenticate(self, token: str) -> Claims:
        try:
            return await self.validator.validate(token)
        except TokenRejected as exc:
            raise AuthenticationFailed(exc.message, reason=exc.reason) from None


def _mount_kube(app: FastAPI, ctx: AppContext, *, webhooks: bool) -> None:
    """The webhooks (more specific paths, so first) and the standalone Kubernetes API."""
    auth = ValidatorAuthenticator(ctx.validator)
    install_kube(app, auth=auth, nodes=ctx.registry, webhooks=webhooks)


def create_webhook_app(ctx: AppContext) -> FastAPI:
    """Only the kube-apiserver webhooks, for the mTLS listener (`webhook_port`)."""
    app = FastAPI(title="k3s-daas webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    auth = ValidatorAuthenticator(ctx.validator)
    install_kube(app, auth=auth, nodes=ctx.registry, api=False)
    app.add_middleware(BodyLimit, limit=ctx.max_body_bytes)
    return app


def create_app(ctx: AppContext, *, mount_kube: bool = True, webhooks: bool = True) -> FastAPI:
    """The FastAPI app of one master (its own metrics registry, no globals); `webhooks=False`
    when they are served on their own mTLS listener instead (`create_webhook_app`)."""
    app = FastAPI(title="k3s-daas Nautilus master", docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.ctx = ctx

    @app.exception_handler(MasterError)
    async def _master_error(_: Request, exc: MasterError) -> Response:
        return error(exc.status, exc.reason, exc.message)

    @app.exception_handler(K3sDaasError)
    async def _product_error(_: Request, exc: K3sDaasError) -> Response:
        log.error("request failed", reason=exc.reason, error=exc.message[:200])
        return error(503, exc.reason, "the master cannot answer right now")

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "request"
        return error(400, "invalid_request", f"{where}: {first.get('msg', 'invalid')}"[:300])

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        reason = _STATUS_CODES.get(exc.status_code, "http_error")
        return error(exc.status_code, reason, str(exc.detail)[:200])

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected error", error=exc.__class__.__name__, at=crash_site(exc))
        return error(500, "internal", "internal error")

    def signed(
        op: Callable[[str | None, bytes], Awaitable[dict[str, Any]]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def route(request: Request) -> Response:
            raw = await request.body()
            return JSONResponse(await op(request.headers.get("x-seal-token"), raw))

        return route

    svc = ctx.service
    app.add_api_route("/api/v1/register-worker", signed(svc.register), methods=["POST"])
    app.add_api_route("/api/v1/nodes/heartbeat", signed(svc.heartbeat), methods=["POST"])
    app.add_api_route("/api/v1/nodes/leave", signed(svc.leave), methods=["POST"])

    async def audit(token: str, outcome: Claims | TokenRejected) -> None:
        """Denied validations asked for through the API are audited (fingerprints only); valid
        ones are counted in metrics, like webhook decisions (docs/storage.md, what is audited)."""
        sink = ctx.service.audit
        if sink is None or not isinstance(outcome, TokenRejected):
            return
        await sink.append(
            actor="api", action="validate", subject="token", decision="denied",
            reason=outcome.reason, token_fingerprint=token_fingerprint(token)[:16],
        )  # fmt: skip

    @app.post("/api/v1/validate")
    async def validate(request: Request) -> Response:
        try:
            body = ValidateRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise invalid_request(exc) from None
        if body.token is not None:
            outcome: Claims | TokenRejected
            try:
                outcome = await ctx.validator.validate(body.token)
            except TokenRejected as exc:
                outcome = exc
            await audit(body.token, outcome)
            return JSONResponse(_result(outcome))
        tokens = body.tokens or []
        if len(tokens) > ctx.max_validate_batch:
            raise MasterError(f"at most {ctx.max_validate_batch} tokens per batch",
                              reason="batch_too_large")  # fmt: skip
        outcomes = await ctx.validator.validate_many(tokens)
        for token, outcome in zip(tokens, outcomes, strict=True):
            await audit(token, outcome)
        return JSONResponse({"results": [_result(o) for o in outcomes]})

    @app.get("/api/v1/workers")
    async def workers(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        allowed = scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode("utf-8", "replace"), ctx.admin_token.encode()
        )
        if ctx.service.audit is not None:
            await ctx.service.audit.append(
                actor="admin", action="list_workers", subject="workers",
                decision="allowed" if allowed else "denied",
                reason=None if allowed else "unauthorized",
            )  # fmt: skip
        if not allowed:
            raise MasterError("admin bearer token required", reason="unauthorized", status=401)
        return JSONResponse(
            {
                "workers": [r.public() for r in ctx.registry.all()],
                "revision": ctx.registry.revision,
                "counts": ctx.registry.counts(),
            }
        )

    @app.get("/health_check")
    async def health_check() -> Response:
        info: dict[str, Any] = {
            "status": "ok",
            "public_key": ctx.enclave.public_key.hex(),
            "enclave_id": ctx.service.enclave_id,
            "workers": len(ctx.registry.all()),
            "cache_entries": ctx.validator.cache_size,
        }
        if ctx.health is not None:
            info.update(ctx.health())
        return JSONResponse(info)

    @app.get("/get_attestation")
    async def get_attestation(nonce: str = Query(default="", max_length=MAX_NONCE_HEX)) -> Response:
        if nonce and not _HEX.fullmatch(nonce):
            raise MasterError("nonce must be hex (at most 64 bytes)", reason="invalid_nonce")
        document = ctx.enclave.attestation(
            nonce=bytes.fromhex(nonce) if nonce else None, user_data=ctx.tls_binding
        )
        return JSONResponse(
            {
                "document": document.hex(),
                "public_key": ctx.enclave.public_key.hex(),
                "enclave_id": ctx.service.enclave_id,
            }
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/noop", include_in_schema=False)
    async def noop() -> Response:
        return Response(b"{}", media_type="application/json")

    if mount_kube:
        _mount_kube(app, ctx, webhooks=webhooks)
    app.add_middleware(BodyLimit, limit=ctx.max_body_bytes)
    return app
