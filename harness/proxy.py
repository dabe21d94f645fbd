"""A TCP forwarder a test controls, for partitions: `cut()` severs a server from its clients.

`TcpProxy(target_port)` listens on a free loopback port and forwards every connection to
`target_host:target_port`; it runs its own event loop in a daemon thread
(`harness.loop_thread`), so sync and async tests drive it alike. `cut()` closes every open
connection and then closes each new one at once (the clients see resets, as when a server is
unreachable, while the server itself keeps running); `cut(hang=True)` is a black hole instead:
connections stay open and nothing flows either way (the clients wait for their own timeouts), as
in a network partition. `heal()` forwards again; data held by a black hole is then delivered, as
TCP would after a partition. `stop()` closes the listener and every connection (nothing else:
no process is signalled).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from harness.loop_thread import LoopThreadServer

Mode = Literal["open", "cut", "hang"]


class TcpProxy(LoopThreadServer):
    """One listening port forwarding to one target (see the module docstring); `.address` is
    what clients dial instead of the target."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        super().__init__()
        self.target = (target_host, target_port)
        self.mode: Mode = "open"
        self.accepted = 0  # connections accepted, whatever became of them
        self._connections: set[asyncio.Task[None]] = set()
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def cut(self, *, hang: bool = False) -> None:
        """Sever every connection and refuse new ones; `hang`: hold them all silent instead."""
        self._call(self._set("hang" if hang else "cut"))

    def heal(self) -> None:
        """Forward again (connections `cut` severed stay closed: clients reconnect)."""
        self._call(self._set("open"))

    async def _set(self, mode: Mode) -> None:
        assert self._flowing is not None
        self.mode = mode
        if mode == "open":
            self._flowing.set()
            return
        self._flowing.clear()
        if mode == "cut":
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _shutdown(self) -> None:
        """Close the listener and every connection."""
        if self._server is not None:
            self._server.close()
        await self._set("cut")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        if self.mode == "cut" or task is None:
            writer.close()
            return
        self._connections.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            assert self._flowing is not None
            await self._flowing.wait()  # a black hole holds new connections here
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
            await asyncio.gather(self._pump(reader, upstream), self._pump(upstream_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass  # the target refused, or the test cut the connection
        finally:
            self._connections.discard(task)
            for end in (writer, upstream):
                if end is not None:
                    end.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()  # a black hole holds data here (TCP back-pressure)
                writer.write(data)
                await writer.drain()
        writer.close()
