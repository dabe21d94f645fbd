"""k3s_daas.serving without sockets: the request-head limits of the HTTP protocol fed byte by byte
or in one piece, the slow-client timers, and the guard that makes a hang-up mid-body routine."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send
from uvicorn.server import ServerState

from k3s_daas.log import configure_logging
from k3s_daas.seal.protocol import Reason
from k3s_daas.serving import (
    HEADERS_TOO_LARGE,
    MALFORMED,
    REQUEST_TIMEOUT,
    ClientGone,
    ClientGuard,
    HttpLimits,
    LimitedHttpTools,
    OneWritePerTurn,
)

LIMITS = HttpLimits(max_header_bytes=1024, max_headers=10, header_timeout=0.2, body_timeout=0.2)


class Transport(asyncio.Transport):
    """Collects what the protocol writes; closing is recorded, not performed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.writes = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)
        self.writes += 1

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 443)}.get(name)

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def connect(limits: HttpLimits = LIMITS) -> tuple[LimitedHttpTools, Transport]:
    protocol_class = type("Limited", (LimitedHttpTools,), {"limits": limits})
    config = uvicorn.Config(ok_app, http=protocol_class, log_config=None)
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


def request(head_bytes: int, *, headers: int = 1, body: bytes = b"") -> bytes:
    """A POST whose head is exactly `head_bytes` long (padded in its last header)."""
    fixed = [f"h{i}: 1\r\n" for i in range(headers - 2)]
    start = f"POST / HTTP/1.1\r\nContent-Length: {len(body)}\r\n{''.join(fixed)}x-pad: "
    pad = head_bytes - len(start) - len("\r\n\r\n")
    assert pad >= 0
    return (start + "a" * pad + "\r\n\r\n").encode() + body


async def answered(transport: Transport) -> bytes:
    for _ in range(50):
        if transport.written:
            break
        await asyncio.sleep(0.01)
    return transport.written


def test_the_refusals_are_the_protocol_words() -> None:
    for word, status in (HEADERS_TOO_LARGE, REQUEST_TIMEOUT, MALFORMED):
        reason = Reason.parse(word)
        assert reason is not None and reason.status == status, word


@pytest.mark.parametrize("chunk", [1, 7, 100_000])
async def test_a_head_at_the_limit_passes_and_one_byte_more_is_431(chunk: int) -> None:
    for size, status in ((1024, b"200"), (1025, b"431")):
        protocol, transport = connect()
        data = request(size, body=b"x" * 3000)  # the body never counts towards the head
        for i in range(0, len(data), chunk):
            protocol.data_received(data[i : i + chunk])
        assert (await answered(transport)).startswith(b"HTTP/1.1 " + status), (size, chunk)
    body = transport.written.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["error"] == "headers_too_large"
    assert transport.closed is False  # lingers, reading what is still sent, then closes
    protocol.data_received(b"a" * (2 * 1024 * 1024))
    assert transport.closed is True


async def test_more_headers_than_allowed_is_431() -> None:
    for count, status in ((10, b"200"), (11, b"431")):
        protocol, transport = connect()
        protocol.data_received(request(600, headers=count))
        assert (await answered(transport)).startswith(b"HTTP/1.1 " + status), count


async def test_a_malformed_request_is_a_json_400_without_a_warning() -> None:
    protocol, transport = connect()
    protocol.data_received(b"NOT HTTP AT ALL\r\n\r\n")
    assert transport.written.startswith(b"HTTP/1.1 400 ")
    assert b'"error": "invalid_request"' in transport.written


async def test_slow_heads_and_bodies_get_a_408_and_silent_connections_are_closed() -> None:
    protocol, transport = connect()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")
    await asyncio.sleep(0.3)
    assert transport.written.startswith(b"HTTP/1.1 408 ")
    protocol, transport = connect()
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
    await asyncio.sleep(0.3)
    assert transport.written.startswith(b"HTTP/1.1 408 ")
    protocol, transport = connect()
    await asyncio.sleep(0.3)
    assert transport.written == b"" and transport.closed


class CountingLoop:
    """The running loop, counting the timers made through it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.timers: list[float] = []

    def call_later(self, delay: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        self.timers.append(delay)
        return self.loop.call_later(delay, callback, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loop, name)


async def test_a_request_that_arrives_whole_arms_no_read_timer() -> None:
    """The head and body timeouts are armed while a read is parsed and made into timers only if
    the request is still incomplete after it: a whole request costs no timer but the keep-alive
    one, and a request in pieces still gets its 408."""
    protocol, transport = connect()
    counting = CountingLoop(asyncio.get_running_loop())
    protocol.loop = counting  # type: ignore[assignment]
    protocol.data_received(request(200, body=b"12345"))
    assert (await answered(transport)).startswith(b"HTTP/1.1 200")
    assert counting.timers == [protocol.timeout_keep_alive]  # no head or body timer
    protocol, transport = connect()
    counting = CountingLoop(asyncio.get_running_loop())
    protocol.loop = counting  # type: ignore[assignment]
    protocol.data_received(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345")
    assert counting.timers == [LIMITS.body_timeout]  # the body is still due: one timer
    protocol.data_received(b"67890")
    assert (await answered(transport)).startswith(b"HTTP/1.1 200")
    protocol, transport = connect()
    counting = CountingLoop(asyncio.get_running_loop())
    protocol.loop = counting  # type: ignore[assignment]
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    assert counting.timers == []  # the head timer made when the connection opened still runs
    await asyncio.sleep(0.3)
    assert transport.written.startswith(b"HTTP/1.1 408 ")


# -- the guard ------------------------------------------------------------------------------------
@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    out = io.StringIO()
    configure_logging("debug", json=True, stream=out)
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


def receiver(*messages: Message) -> Receive:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    return receive


async def discard(message: Message) -> None:
    pass


SCOPE: Scope = {"type": "http", "method": "POST", "path": "/api/v1/validate", "headers": []}


async def test_a_hang_up_mid_body_is_one_debug_line_even_through_error_handlers(
    debug_log: io.StringIO,
) -> None:
    app = FastAPI()
    handled: list[Exception] = []

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        handled.append(exc)
        return JSONResponse({}, status_code=500)

    app.add_exception_handler(Exception, unexpected)

    @app.post("/api/v1/validate")
    async def validate(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    partial = {"type": "http.request", "body": b'{"to', "more_body": True}
    scope = {**SCOPE, "query_string": b"", "server": ("x", 1), "scheme": "http"}
    await ClientGuard(app)(scope, receiver(partial), discard)
    assert handled == []
    lines = [json.loads(line) for line in debug_log.getvalue().splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [
        ("client hung up mid-request", "debug")
    ]


async def test_a_hang_up_after_the_body_and_other_errors_pass_through() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        seen.append(await receive())

    whole = {"type": "http.request", "body": b"{}", "more_body": False}
    await ClientGuard(app)(SCOPE, receiver(whole), discard)
    assert seen == [whole, {"type": "http.disconnect"}]

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        await ClientGuard(broken)(SCOPE, receiver(), discard)

    async def grouped(scope: Scope, receive: Receive, send: Send) -> None:
        raise ExceptionGroup("task group", [ValueError("x"), RuntimeError("y")])

    with pytest.raises(ExceptionGroup):
        await ClientGuard(grouped)(SCOPE, receiver(), discard)

    async def hung_up(scope: Scope, receive: Receive, send: Send) -> None:
        # what a BaseHTTPMiddleware makes of a hang-up: its own error beside the nested one
        gone = BaseExceptionGroup("task group", [ClientGone()])
        raise BaseExceptionGroup("task group", [RuntimeError("No response returned."), gone])

    await ClientGuard(hung_up)(SCOPE, receiver(), discard)


async def test_a_request_cancelled_by_the_shutdown_ends_quietly(debug_log: io.StringIO) -> None:
    started = asyncio.Event()

    async def stuck(scope: Scope, receive: Receive, send: Send) -> None:
        started.set()
        await asyncio.Event().wait()  # e.g. a chain read that hangs

    task = asyncio.create_task(ClientGuard(stuck)(SCOPE, receiver(), discard))
    await started.wait()
    task.cancel()
    await task  # returns: uvicorn logs no "Exception in ASGI application" with a traceback
    events = [json.loads(line)["event"] for line in debug_log.getvalue().splitlines()]
    assert events == ["request cut short by the shutdown"]


async def test_an_answer_goes_out_in_one_write() -> None:
    protocol, transport = connect()
    protocol.data_received(request(200))
    assert (await answered(transport)).startswith(b"HTTP/1.1 200")
    assert transport.written.endswith(b"\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    assert transport.writes == 1  # head and body: one TLS record, one send


async def test_writes_of_one_turn_are_joined_and_closing_sends_them_first() -> None:
    inner = Transport()
    out = OneWritePerTurn(inner, asyncio.get_running_loop())
    out.write(b"a")
    out.writelines([b"b", b"c"])
    assert inner.written == b"" and out.get_write_buffer_size() == 3
    await asyncio.sleep(0)
    assert (inner.written, inner.writes) == (b"abc", 1)
    out.write(b"d")
    out.close()
    assert (inner.written, inner.closed) == (b"abcd", True)
    await asyncio.sleep(0)
    assert inner.written == b"abcd"  # nothing written twice


async def test_an_aborted_connection_drops_what_was_not_sent() -> None:
    inner = Transport()
    out = OneWritePerTurn(inner, asyncio.get_running_loop())
    out.write(b"a")
    out.abort()
    await asyncio.sleep(0)
    assert (inner.written, inner.closed) == (b"", True)


def test_settle_heap_freezes_what_is_alive_and_collects_young_objects_less_often() -> None:
    """Before serving: what is alive leaves the collector's sight (a full collection no longer
    walks it) and the young generation is collected every YOUNG_THRESHOLD allocations."""
    import gc

    from k3s_daas.serving import YOUNG_THRESHOLD, settle_heap

    before = gc.get_threshold()
    alive = [[i] for i in range(1000)]  # lists: always tracked by the collector
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(alive)
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD > before[0]
        assert gc.get_threshold()[1:] == before[1:]
        assert all(gc.is_tracked(d) for d in alive)  # still tracked: frozen, not untracked
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
