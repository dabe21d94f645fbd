"""A loopback server a test drives from any thread: its own event loop in a daemon thread.

The test doubles that sit on the network path (`harness.proxy.TcpProxy`, the lying full node
`harness.lying_node.LyingNode`) are used alike by sync tests, async tests and master
subprocesses, so they cannot run on the caller's loop. Subclasses implement `_listen` (bind
`self.port`) and `_shutdown` (close what `_listen` opened), run on the server's own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

from harness.processes import free_port

T = TypeVar("T")


class LoopThreadServer:
    """Start, call into and stop a server whose event loop runs in its own thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT`, what clients dial."""
        return f"127.0.0.1:{self.port}"

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the server's loop and wait for its result (at most 10 s)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        raise NotImplementedError

    async def _shutdown(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Close the server (`_shutdown`), then end its thread; nothing else is signalled."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
