"""The devnet's small HTTP side: Sui-shaped faucet (`POST /v2/gas`) and devnet admin helpers.

Loopback only (bound to 127.0.0.1 and every request's peer checked). Faucet grants are recorded
ledger transactions (kind "faucet", see docs/devnet.md), bounded per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from k3s_daas import __version__
from k3s_daas.chain import Deployment
from k3s_daas.devnet.errors import BadRequest
from k3s_daas.devnet.ids import FAUCET_DEFAULT_MIST, FAUCET_MAX_MIST
from k3s_daas.devnet.node import DevnetNode
from k3s_daas.seal.encoding import check_json_depth, first_error
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.sui import normalize_address

MAX_BODY = 4096
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class FixedAmountRequest(BaseModel):
    """Sui's faucet body; `amount` is a devnet extension (bounded)."""

    model_config = ConfigDict(extra="forbid")
    recipient: str = Field(max_length=80)
    amount: int | None = Field(default=None, gt=0, le=FAUCET_MAX_MIST)


class GasRequest(BaseModel):
    """`POST /v2/gas`'s body."""

    model_config = ConfigDict(extra="forbid")
    FixedAmountRequest: FixedAmountRequest


async def gas_request(request: Request) -> GasRequest:
    """The body parsed once; a bad one is `invalid_request` with its first problem as one line."""
    raw = await request.body()
    try:
        check_json_depth(raw)
        return GasRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise BadRequest(first_error(exc), reason="invalid_request") from None
    except ValueError as exc:
        raise BadRequest(f"body: {exc}", reason="invalid_request") from None


def _failure(status: int, reason: str, message: str) -> JSONResponse:
    """Sui's failure shape plus our reason code."""
    return JSONResponse(
        {"status": {"Failure": {"Internal": message}}, "coins_sent": None, "reason": reason},
        status_code=status,
    )


def create_app(node: DevnetNode, deployment: Deployment | None = None) -> FastAPI:
    """The faucet + admin app for one running node."""
    app = FastAPI(
        title="k3s-daas devnet faucet",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.deployment = deployment

    @app.middleware("http")
    async def loopback_and_size(request: Request, call_next: Any) -> Any:
        host = request.client.host if request.client else ""
        if host not in _LOOPBACK:
            return _failure(403, "not_loopback", "the devnet faucet answers loopback only")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return _failure(413, "body_too_large", f"body over {MAX_BODY} bytes")
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _failure(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(K3sDaasError)
    async def product_error(_: Request, exc: K3sDaasError) -> JSONResponse:
        return _failure(400, exc.reason, exc.message)

    @app.post("/v2/gas")
    async def gas(body: Annotated[GasRequest, Depends(gas_request)]) -> dict[str, Any]:
        try:
            recipient = normalize_address(body.FixedAmountRequest.recipient)
        except ValueError as exc:
            raise BadRequest(str(exc), reason="invalid_address") from None
        amount = body.FixedAmountRequest.amount or FAUCET_DEFAULT_MIST
        coin, record = await node.faucet(recipient, amount)
        return {
            "status": "Success",
            "coins_sent": [
                {"amount": amount, "id": coin.object_id, "transferTxDigest": record.digest}
            ],
        }

    @app.post("/devnet/epoch")
    async def epoch(rotate: int | None = None) -> dict[str, Any]:
        """`?rotate=I` gives validator I a new key in the next committee (hand-over tests)."""
        number, checkpoint = await node.advance_epoch(rotate)
        return {"epoch": number, "checkpoint": checkpoint.seq}

    @app.get("/devnet/info")
    async def info() -> dict[str, Any]:
        latest = node.ledger.latest_checkpoint()
        dep: Deployment | None = app.state.deployment
        return {
            "chain_id": node.chain_id,
            "epoch": node.ledger.epoch(),
            "checkpoint": latest.seq if latest else None,
            "timestamp_ms": latest.timestamp_ms if latest else None,
            "counts": node.ledger.counts(),
            "deployment": dep.model_dump() if dep else None,
        }

    return app
