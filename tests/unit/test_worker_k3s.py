"""K3s agent supervision against a fake `k3s` executable (a test double: no K3s can run here).

Restart backoffs go through `Backoffs`, which records them and returns at once: no test waits on
the clock for a backoff to pass.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from k3s_daas.worker.k3s import K3sAgent
from tests.fixtures.k3s import k3s_calls, write_fake_k3s


@pytest.fixture
def fake_k3s(tmp_path: Path) -> tuple[Path, Path]:
    return write_fake_k3s(tmp_path)


calls = k3s_calls


class Backoffs:
    """The agent's `sleep`: records every backoff and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.called = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.called.set()
        await asyncio.sleep(0)


async def wait_calls(log: Path, n: int) -> list[dict[str, object]]:
    for _ in range(600):  # up to 30 s: the fake k3s is a process start each time
        got = calls(log)
        if len(got) >= n:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {n} k3s starts, saw {len(calls(log))}")


async def test_agent_gets_token_in_env_not_argv(fake_k3s: tuple[Path, Path]) -> None:
    exe, log = fake_k3s
    agent = K3sAgent(str(exe), "https://10.0.0.1:6443", "worker-1", extra_args=["--debug"])
    agent.start("K10abc::abcdef.0123456789abcdef")
    first = (await wait_calls(log, 1))[0]
    assert first["argv"] == [
        "agent",
        "--server",
        "https://10.0.0.1:6443",
        "--node-name",
        "worker-1",
        "--debug",
    ]
    assert first["token"] == "K10abc::abcdef.0123456789abcdef"
    assert "K10abc::abcdef.0123456789abcdef" not in json.dumps(first["argv"])
    pid = agent.pid
    await agent.stop()  # returns once the supervising task has ended: nothing can restart it
    assert pid is not None
    assert agent.pid == pid
    assert len(calls(log)) == 1  # stopped: not restarted


async def test_agent_restarts_with_jittered_backoff(
    fake_k3s: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    exe, log = fake_k3s
    monkeypatch.setenv("FAKE_K3S_CRASH", "1")
    backoffs = Backoffs()
    draws = iter([1.0, 0.5, 1.0, 1.0, 0.25] + [1.0] * 100)
    agent = K3sAgent(
        str(exe), "https://s:6443", "n", min_backoff=0.05, max_backoff=0.2, sleep=backoffs,
        rng=lambda: next(draws),
    )  # fmt: skip
    agent.start("K10x::a.b")
    await wait_calls(log, 5)
    await agent.stop()
    assert agent.restarts >= 4
    # the shared schedule (k3s_daas.retry): ceilings 0.05, 0.1, 0.2, 0.2 ... times the draw
    # five starts guarantee four waits between them; a fifth may or may not precede stop()
    assert backoffs.waits[:4] == pytest.approx([0.05, 0.05, 0.2, 0.2])
    assert backoffs.waits[4:5] in ([], pytest.approx([0.05]))
    assert max(backoffs.waits) <= 0.2  # never past the cap
    assert agent._task is None  # stopped for good: no restart after stop()


async def test_missing_binary_does_not_crash_the_agent(tmp_path: Path) -> None:
    backoffs = Backoffs()
    agent = K3sAgent(
        str(tmp_path / "no-such-k3s"), "https://s:6443", "n", min_backoff=0.01, sleep=backoffs,
        rng=lambda: 1.0,
    )  # fmt: skip
    agent.start("t")
    await asyncio.wait_for(backoffs.called.wait(), 10)  # it failed, and waits to retry
    await agent.stop()
    assert agent.pid is None
    assert backoffs.waits[0] == 0.01
