"""Bodies are capped before anything reads them: a pure ASGI middleware answering 413."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from k3s_daas.nautilus.responses import error
from k3s_daas.seal.protocol import Reason


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
        response = error(
            Reason.BODY_TOO_LARGE.status,
            Reason.BODY_TOO_LARGE,
            f"request bodies are capped at {self.limit} bytes",
        )
        await response({"type": "http"}, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
