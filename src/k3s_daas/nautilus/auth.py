"""Authentication of the master's API as FastAPI dependencies: a signed worker request is
verified once (`verified(RegisterRequest)` yields a `SignedRequest`), the admin view needs the
admin bearer token, and the validate body is parsed once."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from pydantic import ValidationError

from k3s_daas.nautilus.context import Context
from k3s_daas.nautilus.errors import MasterError, invalid_request
from k3s_daas.nautilus.signed import BodyT, SignedRequest
from k3s_daas.seal.encoding import check_json_depth
from k3s_daas.seal.protocol import (
    LeaveRequest,
    Reason,
    RegisterRequest,
    ValidateRequest,
)

TOKEN_HEADER = "x-seal-token"  # noqa: S105 - a header name, not a secret


def verified(model: type[BodyT]) -> Callable[[Request, Context], Awaitable[SignedRequest[BodyT]]]:
    """A dependency yielding the verified signed request of `model`'s kind (or refusing it)."""

    async def dependency(request: Request, ctx: Context) -> SignedRequest[BodyT]:
        token = request.headers.get(TOKEN_HEADER)
        return await ctx.service.verify(model, token, await request.body())

    return dependency


Registering = Annotated[SignedRequest[RegisterRequest], Depends(verified(RegisterRequest))]
Leaving = Annotated[SignedRequest[LeaveRequest], Depends(verified(LeaveRequest))]


async def require_admin(request: Request, ctx: Context) -> None:
    """The admin bearer token (constant-time compare). Every attempt is audited: a refusal as a
    per-minute count (the caller proved nothing), an allowed read in the background (it never
    waits on the store)."""
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    allowed = scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode("utf-8", "replace"), ctx.admin_token.encode()
    )
    if not allowed:
        ctx.service.refusals.count("list_workers", Reason.UNAUTHORIZED)
        raise MasterError(reason=Reason.UNAUTHORIZED)
    if ctx.read_audit is not None:
        ctx.read_audit.record(
            actor="admin", action="list_workers", subject="workers", decision="allowed"
        )


Admin = Depends(require_admin)


async def validate_body(request: Request) -> ValidateRequest:
    """`POST /api/v1/validate`'s body, parsed strictly (one line about the first problem)."""
    raw = await request.body()
    try:
        check_json_depth(raw)
        return ValidateRequest.model_validate_json(raw)
    except (ValidationError, ValueError) as exc:
        raise invalid_request(exc) from None


ValidateBody = Annotated[ValidateRequest, Depends(validate_body)]
