"""Request bodies of the standalone API and the webhooks: capped while they stream (a client cannot
make us buffer more than the limit) and parsed as one JSON object."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request

from k3s_daas.kube.status import StatusError
from k3s_daas.kube.types import BadRequest
from k3s_daas.seal.encoding import parse_json

MAX_BODY: Final = 64 * 1024


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with 413 beyond `limit` bytes (checked while streaming)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise StatusError(400, "invalid Content-Length")
        if int(declared) > limit:
            raise StatusError(413, f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise StatusError(413, f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """One JSON object, its nesting bounded before it is parsed (a 400 otherwise)."""
    try:
        data = parse_json(body)
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data
