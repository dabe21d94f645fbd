"""Measurement helpers for the benchmark modules: percentiles, result rows, process CPU time and
a lean HTTPS keep-alive load generator. Launching processes is `harness`'s job."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def row(rate: float, lat: list[float]) -> dict[str, float]:
    return {"per_s": round(rate, 1), "p50_ms": round(pct(lat, 0.5) * 1000, 3),
            "p99_ms": round(pct(lat, 0.99) * 1000, 3)}  # fmt: skip


def lat_ms(values: list[float]) -> dict[str, float]:
    """p50 / p99 / max in ms (p99 of 20 samples is the largest)."""
    return {
        "p50_ms": round(pct(values, 0.5) * 1000, 3),
        "p99_ms": round(pct(values, 0.99) * 1000, 3),
        "max_ms": round(max(values) * 1000, 3) if values else 0.0,
    }


def run_load(coro: Coroutine[Any, Any, T]) -> T:
    """Run a load generator on uvloop (as the master runs): its TLS and sockets cost a fraction
    of asyncio's, and the load shares the machine's two cores with what it measures."""
    return uvloop.run(coro)


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sys_seconds(pid: int) -> float:
    """System CPU seconds of `pid` (fsync, TLS socket I/O): the part the kernel spends."""
    return int(_stat(pid)[12]) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MB (VmRSS), 0 if the process is gone."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def busy_cores() -> float:
    """CPU seconds the whole machine has been busy (every core, every process): over a window,
    how many of the cores the run used, the load and whatever else runs here included."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class _Answers(asyncio.Protocol):
    """The connection's receiving side: bytes in, one complete answer out per request."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end])
        length = _content_length(head)
        if length is None:
            waiter.set_exception(RuntimeError(f"response without Content-Length: {head[:200]!r}"))
            return
        total = end + 4 + length
        if len(self.buffer) >= total:
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self.waiter = None
            waiter.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("the server closed the connection"))
        if not self.closed.done():
            self.closed.set_result(None)


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


class Conn:
    """One HTTP/1.1 keep-alive connection over TLS, one request at a time.

    Deliberately lean: httpx spends 3-8 ms of client CPU per request here (more with 32 pooled
    connections), several times what the master spends, so with it both endpoints measure the
    client and their ratio says nothing about the server. A bare protocol rather than asyncio
    streams (no reader, buffer copies or extra wakeups per answer): the load shares two cores
    with what it measures. Responses must carry Content-Length (uvicorn + Starlette `Response`
    always do).
    """

    def __init__(self, transport: asyncio.Transport, answers: _Answers) -> None:
        self.transport = transport
        self.answers = answers

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext) -> Conn:
        loop = asyncio.get_running_loop()
        transport, answers = await loop.create_connection(_Answers, "127.0.0.1", port, ssl=ctx)
        return cls(transport, answers)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.answers.waiter = waiter
        self.transport.write(request)
        if self.answers.buffer:  # bytes that came before the request (a sane server sends none)
            self.answers.data_received(b"")
        return await waiter

    async def close(self) -> None:
        self.transport.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.answers.closed), 2)


def http_request(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """One pre-encoded HTTP/1.1 request for `Conn.send`."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def constant(request: bytes) -> Callable[[int], bytes]:
    """A `keepalive_load` builder that sends the same request every time."""
    return lambda i: request


async def keepalive_load(
    port: int, ca_path: str, build: Callable[[int], bytes], *, seconds: float, concurrency: int
) -> dict[str, float]:
    """`concurrency` warmed keep-alive connections sending `build(i)` for `seconds`; every answer
    must be 200. Returns req/s and latency percentiles (a `row`)."""
    ctx = ssl.create_default_context(cafile=ca_path)
    conns = list(await asyncio.gather(*(Conn.open(port, ctx) for _ in range(concurrency))))
    lat: list[float] = []

    async def one(conn: Conn, i: int) -> None:
        code, answer = await conn.send(build(i))
        if code != 200:
            raise RuntimeError(f"answered {code}: {answer[:300]!r}")

    try:
        await asyncio.gather(*(one(c, i) for i, c in enumerate(conns)))  # handshakes untimed
        stop = time.perf_counter() + seconds

        async def loop(w: int) -> None:
            i = w
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                await one(conns[w], i)
                lat.append(time.perf_counter() - t0)
                i += concurrency

        t0 = time.perf_counter()
        await asyncio.gather(*(loop(w) for w in range(concurrency)))
        return row(len(lat) / (time.perf_counter() - t0), lat)
    finally:
        await asyncio.gather(*(c.close() for c in conns))
