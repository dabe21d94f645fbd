"""How every HTTP listener of ours is served (the master's API, its mTLS webhook listener, the
devnet's faucet): uvicorn over httptools, with limits uvicorn does not have.

- A request head (request line and headers) over `max_header_bytes`, or with more than
  `max_headers` headers, is answered 431 before it is buffered further.
- Slow clients: a head must arrive within `header_timeout` of the connection or of its first
  byte, a body within `body_timeout` of its head (else 408); a response the client does not read
  for `send_timeout` is dropped; an idle keep-alive connection closes after `keep_alive`.
- A client hanging up mid-request is routine: one debug line, no traceback, no 500.
- Shutdown is bounded: in-flight requests get `shutdown_grace` seconds, then their connections
  are dropped and what still runs of them is cancelled (one line each, no traceback).
Refusals made here have the master's error shape, `{"error": reason, "message": text}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import httptools
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from k3s_daas.log import get_logger

log = get_logger("k3s_daas.serving")

#: The refusals made here, as (word, status): the words of `seal.protocol.Reason` (this module
#: is shared by every layer, so it imports none; tests/unit/test_serving.py pins them equal).
HEADERS_TOO_LARGE: Final = ("headers_too_large", 431)
REQUEST_TIMEOUT: Final = ("request_timeout", 408)
MALFORMED: Final = ("invalid_request", 400)
Refusal = tuple[str, int]

#: After a refusal, what a client still sends is read and dropped (up to this much, for at most
#: LINGER_SECONDS) so that it can read the answer instead of a connection reset.
LINGER_BYTES: Final = 1024 * 1024
LINGER_SECONDS: Final = 2.0


@dataclass(frozen=True)
class HttpLimits:
    """The limits of one listener (defaults fit kubectl, kube-apiserver and our workers)."""

    max_header_bytes: int = 16 * 1024  # kubectl sends ~0.5 KiB with a Seal token
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    keep_alive: int = 30
    shutdown_grace: float = 2.0


#: Allocations between young-generation collections (CPython's default is 700): a heartbeat
#: allocates ~100 short-lived containers that reference counting frees, so the default runs a
#: collection every few requests for nothing.
YOUNG_THRESHOLD: Final = 20_000


def settle_heap() -> None:
    """Before serving: collect once, then move every object alive (modules, configuration, the
    loaded state) out of the cyclic collector's sight and collect the young generation less often.

    Reference counting still frees them; only garbage *cycles* among them would stay. Without
    this a full collection walks them all, ~170 ms at 10,000 workers every few seconds: a pause
    every request in flight waits out (the heartbeat p99)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request refused with `reason`."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def refusal(reason: Refusal, message: str) -> bytes:
    """A whole HTTP/1.1 answer in the error shape, closing the connection."""
    word, status = reason
    body = json.dumps({"error": word, "message": message}).encode()
    head = b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
    return STATUS_LINE[status] + head % len(body) + body


class OneWritePerTurn(asyncio.Transport):
    """A connection's transport whose writes within one event-loop turn go out as one: uvicorn
    writes an answer's head and body apart, which over TLS is two records and two sends."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.inner = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self.inner.is_closing():
                self.inner.write(data)

    def close(self) -> None:
        self.flush()
        self.inner.close()

    def abort(self) -> None:
        self._pending.clear()
        self.inner.abort()

    def write_eof(self) -> None:
        self.flush()
        self.inner.write_eof()

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def is_reading(self) -> bool:
        return self.inner.is_reading()

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size() + sum(len(d) for d in self._pending)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.inner.set_write_buffer_limits(high, low)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.inner.get_protocol()


class LimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded heads, read and send timeouts, and one write
    per loop turn (`OneWritePerTurn`)."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = self._out = OneWritePerTurn(transport, self.loop)
        self._in_head = True  # the bytes arriving belong to a request head
        self._head_bytes = 0
        self._header_count = 0
        self._refused = False
        self._linger_left = LINGER_BYTES
        self._timer: asyncio.TimerHandle | None = None
        #: A timeout armed while the bytes of one read are parsed; it becomes a timer only if
        #: it is still wanted once they are (a request that arrives whole arms none: a timer
        #: made and cancelled costs a few µs, twice per request otherwise).
        self._deferred: tuple[float, Callable[[], None]] | None = None
        self._reading = False
        self._send_timer: asyncio.TimerHandle | None = None
        self._arm(self.limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._send_timer is not None:
            self._send_timer.cancel()
        super().connection_lost(exc)

    # -- reading -------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._reading = True
        try:
            self._received(data)
        finally:
            self._reading = False
            if self._deferred is not None:
                seconds, callback = self._deferred
                self._deferred = None
                self._timer = self.loop.call_later(seconds, callback)

    def _received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self._refused:
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self.transport.close()
            return
        room = self.limits.max_header_bytes - self._head_bytes
        if self._in_head and len(data) > room:
            if not self._feed(data[:room]):
                return
            data = data[room:]  # the head ended within the limit: the rest is body or more
        if data:
            self._feed(data)

    def _feed(self, data: bytes) -> bool:
        """Parse `data`; False when the connection was refused meanwhile."""
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no upgrades are served: the request is answered as plain HTTP
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.reason, refused.message)
            else:
                self._refuse(MALFORMED, "the HTTP request is malformed")
            return False
        if self._in_head and self._head_bytes >= self.limits.max_header_bytes:
            self._refuse(HEADERS_TOO_LARGE,
                         f"request line and headers are capped at "
                         f"{self.limits.max_header_bytes} bytes")  # fmt: skip
            return False
        return True

    def _refuse(self, reason: Refusal, message: str) -> None:
        """Answer `reason` and close, reading (and dropping) what the client still sends; only
        close when an earlier (pipelined) answer is half written."""
        log.debug("request refused", reason=reason[0], client=self._peer())
        self._refused = True
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            self.transport.close()
            return
        self.transport.write(refusal(reason, message))
        self._out.flush()  # at once: the caller may be about to stop reading
        self.flow.resume_reading()
        self._arm(LINGER_SECONDS, self.transport.close)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0
        if self._timer is None and self._deferred is None:
            self._arm(self.limits.header_timeout, self._head_timed_out)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            raise _Refused(HEADERS_TOO_LARGE,
                           f"at most {self.limits.max_headers} headers")  # fmt: skip
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self.limits.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

    # -- timeouts ------------------------------------------------------------------------------
    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._disarm()
        if self._reading:  # made when the read is parsed, if still wanted
            self._deferred = (seconds, callback)
        else:
            self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        self._deferred = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._timer = None
        if not self._idle():  # an answer is still being made: judge the next head after it
            self._arm(self.limits.header_timeout, self._head_timed_out)
        elif self._head_bytes:
            self._refuse(REQUEST_TIMEOUT, "the request head did not arrive in time")
        else:  # a connection that never sent anything: close it like an idle keep-alive one
            self.transport.close()

    def _body_timed_out(self) -> None:
        """The app waits for a body that does not come: answer 408 and let it see a hang-up."""
        self._timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not self.pipeline:
            self._refuse(REQUEST_TIMEOUT, "the request body did not arrive in time")
            cycle.disconnected = True
            cycle.message_event.set()
        else:
            self.transport.close()

    # -- writing -------------------------------------------------------------------------------
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.limits.send_timeout, self._unread)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _unread(self) -> None:
        """The client stopped reading its answer: drop the connection (close would wait)."""
        self._send_timer = None
        log.debug("client does not read its answer", client=self._peer())
        self.transport.abort()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "?"


class ClientGone(BaseException):
    """The client hung up before its request body was complete. A BaseException, so that no
    app handler turns it into a 500 and a traceback: the guard logs one debug line."""


def _hung_up(exc: BaseException) -> bool:
    """`exc` is a ClientGone, or a group holding one (what else failed is its consequence: a
    middleware's task group may add "No response returned" to it)."""
    if isinstance(exc, BaseExceptionGroup):
        return any(_hung_up(inner) for inner in exc.exceptions)
    return isinstance(exc, ClientGone)


class ClientGuard:
    """Pure ASGI middleware, outermost on every listener: a hang-up mid-body ends the request
    with one debug line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        complete = False

        async def guarded_receive() -> Message:
            nonlocal complete
            message = await receive()
            if message["type"] == "http.request":
                complete = not message.get("more_body", False)
            elif message["type"] == "http.disconnect" and not complete:
                raise ClientGone
            return message

        try:
            await self.app(scope, guarded_receive, send)
        except (ClientGone, BaseExceptionGroup) as exc:
            if not _hung_up(exc):
                raise
            log.debug("client hung up mid-request", method=scope["method"],
                      path=scope["path"][:100])  # fmt: skip
        except asyncio.CancelledError:  # only a shutdown cancels a request (after its grace)
            log.info("request cut short by the shutdown", method=scope["method"],
                     path=scope["path"][:100])  # fmt: skip


class Server(uvicorn.Server):
    """uvicorn without its own signal capture (the process owns SIGTERM/SIGINT) and with a
    bounded shutdown: connections still open after the grace are dropped."""

    def __init__(self, config: uvicorn.Config, limits: HttpLimits) -> None:
        super().__init__(config)
        self.limits = limits

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def shutdown(self, sockets: Any = None) -> None:
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.limits.shutdown_grace, self._drop_connections)
        try:
            await super().shutdown(sockets)
        finally:
            timer.cancel()

    def _drop_connections(self) -> None:
        connections = list(self.server_state.connections)
        if connections:
            log.info("dropping connections still open after the shutdown grace",
                     connections=len(connections), grace=self.limits.shutdown_grace)  # fmt: skip
        for connection in connections:
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()


def serve_app(app: ASGIApp, host: str, port: int, limits: HttpLimits, **tls: Any) -> Server:
    """A uvicorn server for `app` with `limits` (and uvicorn's TLS keyword arguments)."""
    protocol = type("LimitedHttpTools", (LimitedHttpTools,), {"limits": limits})
    config = uvicorn.Config(
        ClientGuard(app),
        host=host,
        port=port,
        loop="none",
        http=protocol,
        ws="none",
        lifespan="off",
        access_log=False,
        log_config=None,  # its records reach our root handler: one format (k3s_daas.log)
        proxy_headers=False,  # no proxy in front: the peer address is the client's
        timeout_keep_alive=limits.keep_alive,
        # Request tasks still running right after the connections were dropped are cancelled.
        timeout_graceful_shutdown=max(1, math.ceil(limits.shutdown_grace)),
        **tls,
    )
    return Server(config, limits)
