"""The partition proxy the fault tests rely on (harness/proxy.py): it forwards, `cut` severs and
refuses, `cut(hang=True)` holds data until `heal`, on real loopback sockets."""

from __future__ import annotations

import asyncio

import pytest

from harness.proxy import TcpProxy


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(100):
        writer.write(data)
        await writer.drain()
    writer.close()


async def roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        return await asyncio.wait_for(reader.read(len(payload)), 2)
    except ConnectionResetError:
        return b""  # closed by the proxy with our bytes unread: a reset
    finally:
        writer.close()


async def test_forwards_cuts_and_heals() -> None:
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    target = int(server.sockets[0].getsockname()[1])
    try:
        with TcpProxy(target) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.read(4), 2) == b"ping"

            await asyncio.to_thread(proxy.cut)
            assert await asyncio.wait_for(reader.read(4), 2) == b""  # severed
            assert await roundtrip(proxy.port, b"lost") == b""  # new ones closed at once
            writer.close()

            await asyncio.to_thread(proxy.heal)
            assert await roundtrip(proxy.port, b"back") == b"back"

            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"a")
            assert await asyncio.wait_for(reader.read(1), 2) == b"a"
            await asyncio.to_thread(proxy.cut, hang=True)
            writer.write(b"held")
            with pytest.raises(TimeoutError):  # a black hole: no answer, no reset
                await asyncio.wait_for(reader.read(4), 0.3)
            await asyncio.to_thread(proxy.heal)
            assert await asyncio.wait_for(reader.readexactly(4), 2) == b"held"
            writer.close()
            assert proxy.accepted == 4
    finally:
        server.close()
        await server.wait_closed()
