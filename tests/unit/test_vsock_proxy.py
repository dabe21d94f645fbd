"""The vsock <-> TCP forwarder of an enclave deployment (nautilus/vsock.py), on this machine.

This kernel may offer AF_VSOCK without a loopback transport (then a vsock connect would leave
the machine for the hypervisor, so no test makes one): vsock traffic is tested only where the
`vsock_loopback` module is loaded, the vsock listener is bound wherever AF_VSOCK exists, and
the forwarding itself is tested over Unix sockets and socket pairs, which take the same code
path (a raw socket of another family, the same `Forwarder`, `open_stream` and `pipe`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from k3s_daas.cli import app
from k3s_daas.cli.vsock import register
from k3s_daas.nautilus.vsock import (
    Address,
    Forward,
    Forwarder,
    ForwardError,
    listening_socket,
    parse_address,
    parse_forward,
    pipe,
)

VSOCK = hasattr(socket, "AF_VSOCK")
VSOCK_LOOPBACK = VSOCK and Path("/sys/module/vsock_loopback").exists()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo everything upper-cased, then close after the client's half-close."""
    while data := await reader.read(65536):
        writer.write(data.upper())
        await writer.drain()
    writer.close()


async def round_trip(address: Address, payload: bytes) -> bytes:
    from k3s_daas.nautilus.vsock import open_stream

    reader, writer = await open_stream(address, timeout=5)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()  # half-close: the answer must still come back
    answer = await reader.read()
    writer.close()
    return answer


@pytest.fixture
async def unix_echo(tmp_path: Path) -> AsyncIterator[Address]:
    path = tmp_path / "echo.sock"
    server = await asyncio.start_unix_server(echo, path=str(path))
    yield Address("unix", host=str(path))
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("tcp:0.0.0.0:8443", Address("tcp", host="0.0.0.0", port=8443)),
        ("tcp:[::1]:8443", Address("tcp", host="::1", port=8443)),
        ("vsock:16:8443", Address("vsock", cid=16, port=8443)),
        ("vsock:any:8443", Address("vsock", cid=0xFFFFFFFF, port=8443)),
        ("vsock:parent:9000", Address("vsock", cid=3, port=9000)),
        ("unix:/run/k3s-daas/master.sock", Address("unix", host="/run/k3s-daas/master.sock")),
    ],
)
def test_addresses_parse(spec: str, parsed: Address) -> None:
    assert parse_address(spec) == parsed


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("tcp:8443", "expected tcp:HOST:PORT"),
        ("tcp:h:99999", "at most 65535"),
        ("vsock:enclave:1", "the CID is a number or one of any, local, host, parent"),
        ("vsock:3:x", "the port must be a number"),
        ("udp:h:1", "expected tcp:HOST:PORT"),
        ("tcp:h:1", "expected LISTEN=CONNECT"),
    ],
)
def test_bad_forwards_are_one_line(spec: str, fragment: str) -> None:
    with pytest.raises(ForwardError) as info:
        parse_forward(spec if "=" in spec or spec == "tcp:h:1" else f"{spec}=tcp:h:1")
    assert fragment in info.value.message and "\n" not in info.value.message


async def test_tcp_to_unix_and_back_carries_bytes_both_ways(unix_echo: Address) -> None:
    inbound = Forwarder(Forward(parse_address("tcp:127.0.0.1:0"), unix_echo))
    sock = listening_socket(inbound.forward.listen)
    port = sock.getsockname()[1]
    await inbound.start(sock)
    payload = bytes(range(256)) * 4096  # 1 MiB, several chunks
    try:
        answer = await round_trip(Address("tcp", host="127.0.0.1", port=port), payload)
    finally:
        await inbound.close()
    assert answer == payload.upper() and inbound.served == 1


async def test_unix_listener_to_tcp_as_an_enclave_reaches_out(tmp_path: Path) -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    listen = Address("unix", host=str(tmp_path / "out.sock"))
    outbound = Forwarder(Forward(listen, Address("tcp", host="127.0.0.1", port=port)))
    await outbound.start()
    try:
        assert await round_trip(listen, b"grpc bytes") == b"GRPC BYTES"
        assert await round_trip(listen, b"again") == b"AGAIN"
    finally:
        await outbound.close()
        server.close()
    assert outbound.served == 2


async def test_pipe_over_socket_pairs_keeps_half_closes() -> None:
    left_outer, left_inner = socket.socketpair()
    right_inner, right_outer = socket.socketpair()
    a = await asyncio.open_connection(sock=left_inner)
    b = await asyncio.open_connection(sock=right_inner)
    piping = asyncio.create_task(pipe(a, b))
    loop = asyncio.get_running_loop()
    for s in (left_outer, right_outer):
        s.setblocking(False)
    await loop.sock_sendall(left_outer, b"request")
    left_outer.shutdown(socket.SHUT_WR)
    assert await loop.sock_recv(right_outer, 100) == b"request"
    assert await loop.sock_recv(right_outer, 100) == b""  # the half-close crossed
    await loop.sock_sendall(right_outer, b"answer")  # the other way still flows
    right_outer.close()
    assert await loop.sock_recv(left_outer, 100) == b"answer"
    assert await piping == (7, 6)
    left_outer.close()


async def test_a_failed_connect_closes_that_client_only(tmp_path: Path) -> None:
    later = tmp_path / "later.sock"
    forwarder = Forwarder(Forward(parse_address("tcp:127.0.0.1:0"), Address("unix", host=str(later))),
                          connect_timeout=1)  # fmt: skip
    sock = listening_socket(forwarder.forward.listen)
    address = Address("tcp", host="127.0.0.1", port=sock.getsockname()[1])
    await forwarder.start(sock)
    try:
        # closed at once, nothing forwarded (a reset when the client's bytes were unread)
        with contextlib.suppress(ConnectionResetError):
            assert await round_trip(address, b"x") == b""
        assert forwarder.served == 0
        server = await asyncio.start_unix_server(echo, path=str(later))  # the target comes up
        assert await round_trip(address, b"y") == b"Y"  # and the same listener forwards to it
        server.close()
    finally:
        await forwarder.close()


@pytest.mark.skipif(not VSOCK, reason="this kernel has no AF_VSOCK")
async def test_a_vsock_listener_binds_and_serves() -> None:
    sock = listening_socket(parse_address("vsock:any:any"))
    cid, port = sock.getsockname()
    assert cid == 0xFFFFFFFF and 0 < port < 0xFFFFFFFF  # the kernel picked a port
    forwarder = Forwarder(Forward(Address("vsock", cid=cid, port=port), parse_address("tcp:h:1")))
    await forwarder.start(sock)
    await forwarder.close()


@pytest.mark.skipif(not VSOCK_LOOPBACK, reason="no vsock loopback transport (vsock_loopback)")
async def test_tcp_over_vsock_loopback_and_back() -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    target = Address("tcp", host="127.0.0.1", port=server.sockets[0].getsockname()[1])
    vsock_side = listening_socket(parse_address("vsock:any:any"))
    enclave = Forwarder(Forward(parse_address("vsock:any:any"), target))
    await enclave.start(vsock_side)
    port = vsock_side.getsockname()[1]
    parent = Forwarder(
        Forward(parse_address("tcp:127.0.0.1:0"), Address("vsock", cid=1, port=port))
    )
    tcp_side = listening_socket(parent.forward.listen)
    await parent.start(tcp_side)
    try:
        tcp = Address("tcp", host="127.0.0.1", port=tcp_side.getsockname()[1])
        assert await round_trip(tcp, b"tls bytes") == b"TLS BYTES"
    finally:
        await parent.close()
        await enclave.close()
        server.close()


def test_cli_refuses_a_bad_forward_in_one_line() -> None:
    register(app)
    result = CliRunner().invoke(app, ["vsock-proxy", "--forward", "tcp:1.2.3.4"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "expected LISTEN=CONNECT" in lines[0]
