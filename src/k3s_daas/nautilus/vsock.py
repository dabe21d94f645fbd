"""A small vsock <-> TCP forwarder: a Nitro enclave has no network card, only vsock to its parent.

Inbound: the parent listens on TCP 8443 and forwards each connection to the enclave's vsock port
8443, where the enclave forwards it to the master on its loopback. Outbound: the master inside
reaches the chain, etcd and the K3s API at loopback ports whose forwarders cross vsock to the
parent (CID 3), which connects to the real hosts. TLS passes through untouched: the forwarder
sees ciphertext only, so the attested TLS key never leaves the enclave.

A forward is `LISTEN=CONNECT`, each side `tcp:HOST:PORT`, `vsock:CID:PORT` (CID a number or
`any`, `local`, `host`, `parent`; PORT a number or `any`) or `unix:PATH`. Bytes are copied both
ways with half-closes kept; connections are capped (`max_connections`), connects time out, and
one connection's failure never stops the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from typing import Final, Literal

from k3s_daas.log import get_logger
from k3s_daas.seal.errors import K3sDaasError

log = get_logger(__name__)

VMADDR_CID_ANY: Final = 0xFFFFFFFF
VMADDR_PORT_ANY: Final = 0xFFFFFFFF
#: Named CIDs: any (listen on every CID), local (loopback), host (hypervisor), parent (Nitro).
CIDS: Final = {"any": VMADDR_CID_ANY, "local": 1, "host": 2, "parent": 3}
CHUNK: Final = 64 * 1024
Kind = Literal["tcp", "vsock", "unix"]


class ForwardError(K3sDaasError):
    """A forward spec that cannot be used (one line, what is wrong)."""

    reason = "bad_forward"


@dataclass(frozen=True)
class Address:
    kind: Kind
    host: str = ""  # tcp: host; unix: path
    cid: int = 0
    port: int = 0

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.host}"
        if self.kind == "vsock":
            return f"vsock:{self.cid}:{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"

    def family(self) -> socket.AddressFamily:
        if self.kind == "vsock":
            if not hasattr(socket, "AF_VSOCK"):
                raise ForwardError("this system has no AF_VSOCK sockets (Linux with vsock only)")
            return socket.AF_VSOCK
        if self.kind == "unix":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def sockaddr(self) -> str | tuple[str, int] | tuple[int, int]:
        if self.kind == "unix":
            return self.host
        if self.kind == "vsock":
            return (self.cid, self.port)
        return (self.host, self.port)


def _port(text: str, spec: str) -> int:
    if text == "any":  # vsock's VMADDR_PORT_ANY: the kernel picks one (TCP: port 0)
        return VMADDR_PORT_ANY
    if not text.isdigit() or int(text) >= 2**32:
        raise ForwardError(f"{spec!r}: the port must be a number, got {text!r}")
    return int(text)


def parse_address(spec: str) -> Address:
    """`tcp:HOST:PORT`, `vsock:CID:PORT` or `unix:PATH`."""
    kind, _, rest = spec.partition(":")
    if kind == "unix" and rest:
        return Address("unix", host=rest)
    host, _, port = rest.rpartition(":")
    if kind == "tcp" and host:
        host = host.removeprefix("[").removesuffix("]")
        number = _port(port, spec)
        if number > 65535:
            raise ForwardError(f"{spec!r}: a TCP port is at most 65535")
        return Address("tcp", host=host, port=number)
    if kind == "vsock" and host:
        cid = CIDS.get(host.lower())
        if cid is None:
            if not host.isdigit():
                raise ForwardError(f"{spec!r}: the CID is a number or one of {', '.join(CIDS)}")
            cid = int(host)
        return Address("vsock", cid=cid, port=_port(port, spec))
    raise ForwardError(
        f"{spec!r}: expected tcp:HOST:PORT, vsock:CID:PORT or unix:PATH (e.g. vsock:16:8443)"
    )


@dataclass(frozen=True)
class Forward:
    listen: Address
    connect: Address

    def __str__(self) -> str:
        return f"{self.listen}={self.connect}"


def parse_forward(spec: str) -> Forward:
    """`LISTEN=CONNECT`, e.g. `tcp:0.0.0.0:8443=vsock:16:8443`."""
    listen, sep, connect = spec.partition("=")
    if not sep:
        raise ForwardError(
            f"{spec!r}: expected LISTEN=CONNECT, e.g. tcp:0.0.0.0:8443=vsock:16:8443"
        )
    return Forward(parse_address(listen.strip()), parse_address(connect.strip()))


def listening_socket(address: Address, backlog: int = 128) -> socket.socket:
    """A bound, listening, non-blocking socket for `address` (any family)."""
    sock = socket.socket(address.family(), socket.SOCK_STREAM)
    try:
        if address.kind == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address.sockaddr())
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ForwardError(f"cannot listen on {address}: {exc.strerror or exc}") from exc
    return sock


async def open_stream(
    address: Address, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to `address` (any family) within `timeout` seconds."""
    if address.kind == "tcp":
        return await asyncio.wait_for(asyncio.open_connection(address.host, address.port), timeout)
    sock = socket.socket(address.family(), socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, address.sockaddr()),
                               timeout)  # fmt: skip
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Copy until EOF, then half-close the other side; returns the bytes copied."""
    copied = 0
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
            copied += len(chunk)
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
    return copied


async def pipe(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> tuple[int, int]:
    """Copy both ways until both directions ended, or one failed (a reset: the other is
    cancelled); closes both streams. Returns the bytes copied a->b and b->a."""
    tasks = [asyncio.ensure_future(_copy(a[0], b[1])), asyncio.ensure_future(_copy(b[0], a[1]))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in (a[1], b[1]):
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    done = [t.result() if not t.cancelled() and t.exception() is None else 0 for t in tasks]
    return done[0], done[1]


class Forwarder:
    """Serves one forward: every accepted connection is piped to a new one to `connect`."""

    def __init__(self, forward: Forward, *, max_connections: int = 1024,
                 connect_timeout: float = 5.0) -> None:  # fmt: skip
        self.forward = forward
        self.connect_timeout = connect_timeout
        self.active = 0
        self.served = 0
        self._slots = asyncio.Semaphore(max_connections)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen (on `sock` when given: any bound, listening stream socket)."""
        sock = sock if sock is not None else listening_socket(self.forward.listen)
        self._server = await asyncio.start_server(self._handle, sock=sock)
        log.info("vsock_proxy_listening", forward=str(self.forward))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:  # closing: the connection ends with the listener
            writer.close()
        finally:
            self._handlers.discard(task)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._slots.locked():
            log.warning("vsock_proxy_full", forward=str(self.forward))
            writer.close()
            return
        async with self._slots:
            self.active += 1
            try:
                try:
                    upstream = await open_stream(self.forward.connect, self.connect_timeout)
                except (OSError, TimeoutError) as exc:
                    error = getattr(exc, "strerror", None) or type(exc).__name__
                    log.warning("vsock_proxy_connect_failed", to=str(self.forward.connect),
                                error=error)  # fmt: skip
                    writer.close()
                    return
                self.served += 1
                await pipe((reader, writer), upstream)
            finally:
                self.active -= 1

    async def close(self) -> None:
        """Stop listening and end the connections still open."""
        if self._server is not None:
            self._server.close()
            self._server = None
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def run_forwards(forwards: list[Forward], *, max_connections: int = 1024,
                       connect_timeout: float = 5.0) -> None:  # fmt: skip
    """Serve every forward until cancelled (all listeners bound first: one failure, none run)."""
    sockets = []
    try:
        for forward in forwards:
            sockets.append(listening_socket(forward.listen))
    except ForwardError:
        for sock in sockets:
            sock.close()
        raise
    forwarders = [Forwarder(f, max_connections=max_connections, connect_timeout=connect_timeout)
                  for f in forwards]  # fmt: skip
    try:
        for forwarder, sock in zip(forwarders, sockets, strict=True):
            await forwarder.start(sock)
        await asyncio.Event().wait()
    finally:
        for forwarder in forwarders:
            await forwarder.close()


__all__ = [
    "Address",
    "Forward",
    "ForwardError",
    "Forwarder",
    "listening_socket",
    "open_stream",
    "parse_address",
    "parse_forward",
    "pipe",
    "run_forwards",
]
