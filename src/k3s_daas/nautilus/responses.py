"""The master's JSON answers: a signed answer's bytes, a protocol model as it is, or the one
error shape."""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from k3s_daas.seal.protocol import ErrorAnswer


def reply_signed(body: bytes) -> Response:
    """A 200 with a signed answer's JSON, the bytes `MasterService.sign` made."""
    return Response(body, media_type="application/json")


def reply_json(answer: BaseModel) -> Response:
    """`reply` for answers without floats (validation results): the same bytes, written by
    pydantic in one call instead of a dict and `json.dumps` (the validate route's hot path)."""
    return Response(answer.model_dump_json().encode(), media_type="application/json")


def error(status: int, reason: str, message: str) -> JSONResponse:
    """`{"error": reason, "message": ...}` with `status`: every refusal looks like this."""
    return JSONResponse(ErrorAnswer(error=reason, message=message).model_dump(), status_code=status)
