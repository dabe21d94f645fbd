"""Every error of the standalone API and the webhooks leaves as a Kubernetes `Status`: kubectl
prints FastAPI's `{"detail": ...}` as "unknown", so the route class converts each exception."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from k3s_daas.kube.models import Status, StatusDetails
from k3s_daas.kube.types import BadRequest, KubeError
from k3s_daas.log import crash_site, get_logger
from k3s_daas.seal import K3sDaasError

log = get_logger("k3s_daas.kube")

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class StatusError(KubeError):
    """An error that becomes a Status response with HTTP `code`."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: StatusDetails | None = None,
    ) -> None:
        super().__init__(message, reason=reason or _REASONS.get(code, "BadRequest"))
        self.code = code
        self.details = details


def status_object(
    code: int, message: str, reason: str | None = None, details: StatusDetails | None = None
) -> Status:
    return Status(
        code=code, message=message, reason=reason or _REASONS.get(code, "Unknown"), details=details
    )


def json_response(
    body: dict[str, Any], code: int = 200, content_type: str | None = None
) -> Response:
    """Compact JSON with an exact Content-Type (discovery and Tables depend on it)."""
    return Response(
        content=json.dumps(body, separators=(",", ":")),
        status_code=code,
        media_type=content_type or "application/json",
    )


def model_response(model: BaseModel, code: int = 200, content_type: str | None = None) -> Response:
    return json_response(
        model.model_dump(mode="json", by_alias=True, exclude_none=True), code, content_type
    )


def status_response(
    code: int, message: str, reason: str | None = None, details: StatusDetails | None = None
) -> Response:
    resp = model_response(status_object(code, message, reason, details), code)
    if code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="k3s-daas"'
    return resp


def as_status(
    handler: Callable[[Request], Coroutine[Any, Any, Response]],
) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """`handler` with every exception converted into a Status (never a traceback)."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except StatusError as exc:
            return status_response(exc.code, exc.message, exc.reason, exc.details)
        except BadRequest as exc:
            return status_response(400, exc.message)
        except RequestValidationError as exc:
            return status_response(400, _validation_message(exc.errors()))
        except ValidationError as exc:
            return status_response(400, _validation_message(exc.errors()))
        except K3sDaasError as exc:
            log.warning("kube_request_failed", path=request.url.path, reason=exc.reason)
            return status_response(503, f"service unavailable ({exc.reason})")
        except Exception as exc:  # a bug: never a traceback to the client
            log.error("kube_internal_error", path=request.url.path,
                      error=type(exc).__name__, at=crash_site(exc))  # fmt: skip
            return status_response(500, "internal error")

    return wrapped


class KubeRoute(APIRoute):
    """Route class converting every exception into a Status (routers cannot own handlers)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return as_status(super().get_route_handler())


def _validation_message(errors: Any) -> str:
    parts = []
    for err in list(errors)[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg")))
    return "invalid request: " + "; ".join(parts)
