"""The heartbeat's fast path: the hottest request (10,000 workers) never enters FastAPI.

`MasterApp` sends `POST /api/v1/nodes/heartbeat` down its own chain of the app's middlewares
(the same request metrics, rate limit and body cap, built once) to `HeartbeatRoute`; every other
request goes to FastAPI as it is. The heartbeat skips Starlette's middleware stack, router,
exception middleware, `Request` and `JSONResponse`, with the same signed-request parsing
(`nautilus.signed`, through the service), the same signed answer bytes (`MasterService.sign`)
and the same error shape as every route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from k3s_daas.log import crash_site, get_logger
from k3s_daas.nautilus.context import AppContext
from k3s_daas.nautilus.errors import MasterError
from k3s_daas.nautilus.responses import error
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.protocol import PATHS, HeartbeatRequest, Reason

log = get_logger(__name__)

PATH: Final = PATHS["heartbeat"]
_TOKEN: Final = b"x-seal-token"
_JSON_HEADERS: Final = [(b"content-type", b"application/json")]


class _Route:
    """What `RequestMetrics` reads from `scope["route"]`: the path template."""

    path = PATH


_ROUTE: Final = _Route()


class HeartbeatRoute:
    """`POST /api/v1/nodes/heartbeat` as a bare ASGI endpoint (`MasterApp` routes it here); its
    own error handling, as the app's exception handlers answer every other route."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = _ROUTE
        token = None
        for name, value in scope["headers"]:
            if name == _TOKEN:
                token = value.decode("latin-1")
                break
        body = await _body(receive)
        service = self.ctx.service
        try:
            signed = await service.verify(HeartbeatRequest, token, body)
            content = await service.heartbeat(signed)
        except MasterError as exc:
            await error(exc.status, exc.reason, exc.message)(scope, receive, send)
            return
        except K3sDaasError as exc:
            log.error("request failed", reason=exc.reason, error=exc.message[:200])
            await error(503, exc.reason, "the master cannot answer right now")(scope, receive, send)
            return
        except Exception as exc:
            log.error("unexpected error", error=exc.__class__.__name__, at=crash_site(exc))
            await error(Reason.INTERNAL.status, Reason.INTERNAL, Reason.INTERNAL.message)(
                scope, receive, send
            )
            return
        headers = [*_JSON_HEADERS, (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})


async def _body(receive: Receive) -> bytes:
    """The whole request body (the body cap around us bounds it)."""
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def wrapped(endpoint: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    """`endpoint` inside `middleware` (outermost first), as Starlette stacks an app's."""
    app = endpoint
    for cls, args, kwargs in reversed(middleware):
        app = cls(app, *args, **kwargs)
    return app


class MasterApp(FastAPI):
    """A FastAPI app whose heartbeats go to `heartbeat` inside the app's own `middleware`
    (fresh instances over the same objects), not through FastAPI and Starlette's layers; a
    middleware added later with `add_middleware` would not wrap them."""

    def __init__(
        self, heartbeat: ASGIApp, *, middleware: Sequence[Middleware], **options: Any
    ) -> None:
        super().__init__(middleware=middleware, **options)
        self.fast_path = wrapped(heartbeat, middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            await self.fast_path(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
