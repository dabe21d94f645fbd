"""Supervision of `k3s agent`: start with the join token, restart with jittered backoff
(`k3s_daas.retry`), stop on slash, then stop the node's containers (`stop_node_containers`).

The join token goes to the child in the `K3S_TOKEN` environment variable, never on the command
line (argv is world-readable in /proc). No K3s binary can be installed here: tests drive this
with a fake `k3s` executable that records its arguments (a documented test double).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from collections.abc import Awaitable, Callable, Sequence

from k3s_daas.log import get_logger
from k3s_daas.retry import Backoff, Retry

log = get_logger("k3s_daas.worker.k3s")


class K3sAgent:
    """Keeps one `k3s agent` process running until `stop()`."""

    def __init__(
        self,
        binary: str,
        server_url: str,
        node_name: str,
        *,
        extra_args: Sequence[str] = (),
        min_backoff: float = 1.0,
        max_backoff: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.binary = binary
        self.server_url = server_url
        self.node_name = node_name
        self.extra_args = list(extra_args)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.restarts = 0
        self._token: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        #: Waits out a restart backoff; by default until then or until `stop()`, whichever first.
        self._sleep = sleep or self._until_stopped
        self._rng = rng

    @property
    def argv(self) -> list[str]:
        return [
            self.binary,
            "agent",
            "--server",
            self.server_url,
            "--node-name",
            self.node_name,
            *self.extra_args,
        ]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, join_token: str) -> None:
        self._token = join_token
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="k3s-agent")

    async def _run(self) -> None:
        retry = Retry(Backoff(self.min_backoff, self.max_backoff), rng=self._rng)
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            env = {**os.environ, "K3S_TOKEN": self._token or ""}
            try:
                self._proc = await asyncio.create_subprocess_exec(*self.argv, env=env)
            except OSError as exc:
                log.error("k3s_agent_start_failed", error=str(exc), binary=self.binary)
            else:
                log.info("k3s_agent_started", pid=self._proc.pid, node=self.node_name)
                started = loop.time()
                code = await self._proc.wait()
                if self._stopping.is_set():
                    return
                log.warning("k3s_agent_exited", code=code)
                self.restarts += 1
                if loop.time() - started >= self.max_backoff:
                    retry.reset()  # it ran a good while: this exit starts the schedule over
            delay = retry.next_delay()
            log.info("k3s_agent_restarting", restart_in=round(delay, 2))
            await self._sleep(delay)

    async def _until_stopped(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the agent (SIGKILL after `timeout`) and stop restarting it."""
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            await self._task
            self._task = None


async def stop_node_containers(script: str, timeout: float) -> bool:
    """Run K3s's killall script (or the configured replacement) after a revocation: a slashed
    node's pods must not keep running once `k3s agent` is gone. True when it exited 0."""
    try:
        proc = await asyncio.create_subprocess_exec(
            script, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
        )
    except OSError as exc:
        log.error("k3s_killall_failed", script=script, error=exc.strerror or str(exc))
        return False
    try:
        code = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        log.error("k3s_killall_failed", script=script, error=f"still running after {timeout:g}s")
        return False
    if code != 0:
        log.error("k3s_killall_failed", script=script, code=code)
        return False
    log.info("k3s_node_containers_stopped", script=script)
    return True
