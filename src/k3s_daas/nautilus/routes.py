"""The master's own routes, on module-level routers: signed worker requests, the API (validate,
the admin view) and operations (health, attestation, metrics). Each gets its context and its
authentication from dependencies (`nautilus.context`, `nautilus.auth`)."""

from __future__ import annotations

import re
from typing import Any, Final

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from k3s_daas.nautilus.auth import Admin, Leaving, Registering, ValidateBody
from k3s_daas.nautilus.context import AppContext, Context
from k3s_daas.nautilus.errors import MasterError, TokenRejected
from k3s_daas.nautilus.health import CheckResult, report
from k3s_daas.nautilus.metrics import CONTENT_TYPE_LATEST
from k3s_daas.nautilus.responses import reply_json, reply_signed
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.protocol import (
    PATHS,
    VALIDATE_PATH,
    Reason,
    TokenAccepted,
    TokenRefused,
    ValidateBatch,
    ValidateResult,
)
from k3s_daas.seal.token import SealToken

MAX_NONCE_HEX: Final = 128  # 64 bytes
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")

#: Signed requests of workers (register, heartbeat, leave), verified by their dependency.
worker_router = APIRouter()
#: Token validation for API clients and the admin's view of the registry.
api_router = APIRouter()
#: Health, attestation and metrics.
ops_router = APIRouter()


# -- signed worker requests --------------------------------------------------------------------
@worker_router.post(PATHS["register"])
async def register(request: Registering, ctx: Context) -> Response:
    return reply_signed(await ctx.service.register(request))


@worker_router.post(PATHS["leave"])
async def leave(request: Leaving, ctx: Context) -> Response:
    return reply_signed(await ctx.service.leave(request))


# -- API ---------------------------------------------------------------------------------------
@api_router.post(VALIDATE_PATH)
async def validate(body: ValidateBody, ctx: Context) -> Response:
    if body.token is not None:
        return reply_json((await validate_tokens(ctx, [body.token]))[0])
    tokens = body.tokens or []
    if len(tokens) > ctx.settings.max_validate_batch:
        raise MasterError(f"at most {ctx.settings.max_validate_batch} tokens per batch",
                          reason=Reason.BATCH_TOO_LARGE)  # fmt: skip
    return reply_json(ValidateBatch(results=await validate_tokens(ctx, tokens)))


async def validate_tokens(ctx: AppContext, tokens: list[str]) -> list[ValidateResult]:
    """Each token parsed once and validated (misses share batches). Refusals are audited as
    per-minute counts (the caller proved nothing) and charged to the client's rate limit; valid
    ones are counted in metrics, like webhook decisions."""
    parsed: list[SealToken | TokenRejected] = []
    for token in tokens:
        try:
            parsed.append(ctx.validator.parse(token))
        except TokenRejected as exc:
            parsed.append(exc)
    checked = iter(
        await ctx.validator.validate_many([p for p in parsed if isinstance(p, SealToken)])
    )
    results: list[ValidateResult] = []
    for one in parsed:
        outcome: Claims | TokenRejected = one if isinstance(one, TokenRejected) else next(checked)
        if isinstance(outcome, Claims):
            results.append(TokenAccepted.of(outcome))
            continue
        ctx.service.refusals.count("validate", outcome.reason)
        results.append(TokenRefused(reason=outcome.reason, message=outcome.message))
    return results


@api_router.get("/api/v1/workers", dependencies=[Admin])
async def workers(ctx: Context) -> Response:
    registry = ctx.registry
    return JSONResponse(
        {
            "workers": [r.public() for r in registry.all()],
            "revision": registry.revision,
            "counts": registry.counts(),
        }
    )


@api_router.api_route("/api/v1/noop", methods=["GET", "POST"], include_in_schema=False)
async def noop() -> Response:
    return Response(b"{}", media_type="application/json")


# -- operations --------------------------------------------------------------------------------
@ops_router.get("/health_check")
async def health_check(ctx: Context) -> Response:
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


@ops_router.get("/livez")
async def livez(verbose: str | None = None) -> Response:
    """The process serves (nothing else: restarting it would not fix a dependency)."""
    status, text = report("livez", [CheckResult("ping", None)], verbose is not None)
    return PlainTextResponse(text, status_code=status)


@ops_router.get("/readyz")
async def readyz(ctx: Context, verbose: str | None = None) -> Response:
    """Chain, watcher, store and enclave checks (nautilus.health); 503 when any fails."""
    if ctx.readiness is None:
        results = [CheckResult("started", "the master is not serving yet")]
    else:
        results = await ctx.readiness.run()
    status, text = report("readyz", results, verbose is not None)
    return PlainTextResponse(text, status_code=status, headers={"cache-control": "no-store"})


@ops_router.get("/get_attestation")
async def get_attestation(
    ctx: Context, nonce: str = Query(default="", max_length=MAX_NONCE_HEX)
) -> Response:
    if nonce and not _HEX.fullmatch(nonce):
        raise MasterError(reason=Reason.INVALID_NONCE)
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


@ops_router.get("/metrics")
async def metrics(ctx: Context) -> Response:
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
