"""The master's HTTP app: its routers (nautilus.routes), one JSON error shape, capped bodies.

Every error is `{"error": reason, "message": text}` with a 4xx (503 when the chain or store is
down); bodies are capped before they are parsed; unknown fields are rejected; client input never
produces a 500 or a traceback; a client that keeps failing is answered 429 (`rate_limit`; not on
the mTLS webhook listener). Kubernetes routes (kube's standalone and webhook routers) are
mounted over adapters of the registry and the validator.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from k3s_daas.kube.install import install as install_kube
from k3s_daas.kube.types import AuthenticationFailed
from k3s_daas.kube.webhooks import TOKENREVIEW_PATH, token_review
from k3s_daas.log import crash_site, get_logger
from k3s_daas.nautilus.body_limit import BodyLimit
from k3s_daas.nautilus.context import AppContext
from k3s_daas.nautilus.errors import MasterError, TokenRejected
from k3s_daas.nautilus.fast_route import HeartbeatRoute, MasterApp
from k3s_daas.nautilus.rate_limit import RateLimit, RateLimiter, accepted_credential
from k3s_daas.nautilus.refusal_counts import RefusalCounts
from k3s_daas.nautilus.request_metrics import RequestMetrics
from k3s_daas.nautilus.responses import error
from k3s_daas.nautilus.routes import api_router, ops_router, worker_router
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.encoding import first_error_line
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.protocol import PATHS, Reason

log = get_logger(__name__)

#: Cheap, read-only operations endpoints a monitor must reach even from a flooding address.
UNLIMITED_PATHS: Final = frozenset({"/health_check", "/livez", "/readyz", "/metrics"})

#: The word of an HTTP-level refusal (no route, wrong method, ...) by its status.
_HTTP_REASONS = {
    404: Reason.NOT_FOUND,
    405: Reason.METHOD_NOT_ALLOWED,
    401: Reason.UNAUTHORIZED,
}


class ValidatorAuthenticator:
    """kube's Authenticator over the validator (any refusal -> AuthenticationFailed(reason),
    counted in the audit's per-minute refusals)."""

    def __init__(self, validator: Validator, refusals: RefusalCounts | None = None) -> None:
        self.validator = validator
        self.refusals = refusals

    async def authenticate(self, token: str) -> Claims:
        try:
            return await self.validator.validate(token)
        except TokenRejected as exc:
            if self.refusals is not None:
                self.refusals.count("authenticate", exc.reason)
            raise AuthenticationFailed(exc.message, reason=exc.reason) from None


# -- error shape -------------------------------------------------------------------------------
async def _master_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, MasterError)
    return error(exc.status, exc.reason, exc.message)


async def _product_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, K3sDaasError)
    log.error("request failed", reason=exc.reason, error=exc.message[:200])
    return error(503, exc.reason, "the master cannot answer right now")


async def _bad_request(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    message = first_error_line(exc.errors(), "request")[:300]
    return error(Reason.INVALID_REQUEST.status, Reason.INVALID_REQUEST, message)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    reason = _HTTP_REASONS.get(exc.status_code, Reason.HTTP_ERROR)
    return error(exc.status_code, reason, str(exc.detail)[:200])


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.error("unexpected error", error=exc.__class__.__name__, at=crash_site(exc))
    return error(Reason.INTERNAL.status, Reason.INTERNAL, Reason.INTERNAL.message)


def _error_shape(app: FastAPI) -> None:
    """Every refusal as `{"error", "message"}` (the most specific handler wins)."""
    app.add_exception_handler(MasterError, _master_error)
    app.add_exception_handler(K3sDaasError, _product_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


# -- apps --------------------------------------------------------------------------------------
def _mount_kube(app: FastAPI, ctx: AppContext, *, webhooks: bool) -> None:
    """The webhooks (more specific paths, so first) and the standalone Kubernetes API."""
    auth = ValidatorAuthenticator(ctx.validator, ctx.service.refusals)
    install_kube(app, auth=auth, nodes=ctx.registry, webhooks=webhooks)


def _rate_limit(ctx: AppContext) -> list[Middleware]:
    """A client over its budget of refusals costs one dictionary lookup (none when disabled)."""
    s = ctx.settings
    limiter = RateLimiter(s.rate_limit, s.rate_limit_burst, s.rate_limit_clients)
    if not limiter.enabled:
        return []
    cache = ctx.validator.cache

    def limited() -> None:
        ctx.metrics.rate_limited.inc()
        ctx.service.refusals.count("rate_limit", Reason.RATE_LIMITED)

    credential = accepted_credential(lambda fp: cache.get(fp) is not None, ctx.admin_token)
    return [Middleware(RateLimit, limiter=limiter, credential=credential, on_limited=limited,
                       exempt=UNLIMITED_PATHS)]  # fmt: skip


def _middleware(ctx: AppContext) -> list[Middleware]:
    """The main listener's middlewares, outermost first: request metrics (they see every answer),
    the rate limit, the body cap; one list for FastAPI's stack and the heartbeat's."""
    return [
        Middleware(RequestMetrics, metrics=ctx.metrics),
        *_rate_limit(ctx),
        Middleware(BodyLimit, limit=ctx.settings.max_body_bytes),
    ]


def create_webhook_app(ctx: AppContext) -> FastAPI:
    """Only the kube-apiserver webhooks, for the mTLS listener (`webhook_port`): never rate
    limited (its one client, kube-apiserver, proved itself with its certificate)."""
    app = FastAPI(title="k3s-daas webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    auth = ValidatorAuthenticator(ctx.validator, ctx.service.refusals)
    app.add_route(TOKENREVIEW_PATH, token_review, methods=["POST"], include_in_schema=False)
    install_kube(app, auth=auth, nodes=ctx.registry, api=False)
    app.add_middleware(BodyLimit, limit=ctx.settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=ctx.metrics)
    return app


def create_app(ctx: AppContext, *, mount_kube: bool = True, webhooks: bool = True) -> MasterApp:
    """The FastAPI app of one master (its own metrics registry, no globals), whose heartbeats
    skip FastAPI (`nautilus.fast_route`); `webhooks=False` when they are served on their own mTLS
    listener instead (`create_webhook_app`)."""
    heartbeat = HeartbeatRoute(ctx)
    app = MasterApp(heartbeat, middleware=_middleware(ctx),
                    title="k3s-daas Nautilus master", docs_url=None, redoc_url=None,
                    openapi_url=None)  # fmt: skip
    app.state.ctx = ctx
    _error_shape(app)
    # The same endpoint as a route, so other methods on the path get FastAPI's 405 (a POST never
    # reaches the router: MasterApp answers it).
    app.router.routes.append(Route(PATHS["heartbeat"], heartbeat, methods=["POST"]))
    if mount_kube and webhooks:  # matched before the included routers (each costs a match)
        app.add_route(TOKENREVIEW_PATH, token_review, methods=["POST"], include_in_schema=False)
    for router in (worker_router, api_router, ops_router):
        app.include_router(router)
    if mount_kube:
        _mount_kube(app, ctx, webhooks=webhooks)
    return app
