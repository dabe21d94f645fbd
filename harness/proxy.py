"""A TCP forwarder a test controls, for partitions: `cut()` severs a server from its clients.

`TcpProxy(target_port)` listens on a free loopback port and forwards every connection to
`target_host:target_port`; it runs its own event loop in a daemon thread, so sync and async tests
drive it alike. `cut()` closes every open connection and then closes each new one at once (the
clients see resets, as when a server is unreachable, while the server itself keeps running);
`cut(hang=True)` is a black hole instead: connections stay open and nothing flows either way (the
clients wait for their own timeouts), as in a network partition. `heal()` forwards again; data
held by a black hole is then delivered, as TCP would after a partition. `stop()` closes the
listener and every connection (nothing else: no process is signalled).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

from harness.processes import free_port

T = TypeVar("T")
Mode = Literal["open", "cut", "hang"]


class TcpProxy:
    """One listening port forwarding to one target (see the module docstring)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode: Mode = "open"
        self.accepted = 0  # connections accepted, whatever became of them
        self._connections: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, what clients dial instead of the target."""
        return f"127.0.0.1:{self.port}"

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

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

    def stop(self) -> None:
        """Close the listener and every connection, then end the proxy's thread."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
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

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
