"""The chain hangs (devnet SIGSTOP) or dies (kill -9), then comes back, under validations.

While it is out (master timings from harness.master.TEST_ENV: `staleness` 4 s, `chain_timeout`
2 s, `cache_ttl` 1 s):
- a token the master confirmed on chain before is answered valid only while that confirmation
  is within `staleness` (its last confirmation is at or before the outage), then refused
  `chain_unavailable`: validations fail closed;
- a token never seen is refused `chain_unavailable`;
- no answer takes longer than `chain_timeout` (one deadline per request).
After it: every token is valid again and the watcher has caught up: a slash made after the
outage revokes its worker's record, which only the watcher does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import TEST_ENV, MasterProcess, Staker, chain
from harness.processes import free_port
from tests.faults.load import cancel, mint

STALENESS = float(TEST_ENV["K3S_DAAS_NAUTILUS_STALENESS"])
CHAIN_TIMEOUT = float(TEST_ENV["K3S_DAAS_NAUTILUS_CHAIN_TIMEOUT"])
#: HTTPS round trip and scheduling on a shared two-core machine.
SLACK = 1.0
#: Longest answer while the chain is out: one `chain_timeout` per request, whatever it reads.
ANSWER_BOUND = CHAIN_TIMEOUT + SLACK
#: How long after the outage began a cached positive may still be answered: `staleness` from its
#: last chain confirmation (at or before the outage) when the answer is sent.
VALID_UNTIL = STALENESS + SLACK
#: From the chain's return to the first valid answer and to the watcher's revocation.
CATCH_UP_BOUND = 15.0


@dataclass(frozen=True)
class Answer:
    started: float
    ended: float
    valid: bool
    reason: str | None


async def validate(http: httpx.AsyncClient, token: str) -> Answer:
    started = time.monotonic()
    body: dict[str, Any] = (await http.post("/api/v1/validate", json={"token": token})).json()
    return Answer(started, time.monotonic(), bool(body["valid"]), body.get("reason"))


async def keep_validating(http: httpx.AsyncClient, token: str, into: list[Answer]) -> None:
    while True:
        into.append(await validate(http, token))
        await asyncio.sleep(0.1)


async def register(http: httpx.AsyncClient, master: MasterProcess, staker: Staker) -> None:
    answer = await staker.send(http, "register", master.public_key)
    assert answer.status_code == 200, answer.text


async def until(check: Callable[[], Any], timeout: float) -> float:
    """Seconds until `await check()` is true (fails after `timeout`)."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < timeout, "condition not met in time"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def outage(
    http: httpx.AsyncClient, master: MasterProcess, devnet: DevnetProcess, how: str,
    seen: Staker, unseen: list[Staker], victim: Staker,
) -> dict[str, float]:  # fmt: skip
    """One outage (`how`: "hang" or "kill") and the return; asserts and returns its figures."""
    assert (await validate(http, seen.token)).valid  # confirmed on chain now
    answers: list[Answer] = []
    loop = asyncio.create_task(keep_validating(http, seen.token, answers))
    await asyncio.sleep(0.5)
    if how == "hang":
        os.kill(devnet.proc.pid, signal.SIGSTOP)
    else:
        devnet.kill9()
    down = time.monotonic()
    try:
        never_seen = [await validate(http, s.token) for s in unseen]
        await asyncio.sleep(max(0.0, down + VALID_UNTIL + 2.0 - time.monotonic()))
        await cancel([loop])
    finally:
        if how == "hang":
            os.kill(devnet.proc.pid, signal.SIGCONT)
        else:
            await asyncio.to_thread(devnet.restart)
    back = time.monotonic()
    during = [a for a in answers if a.started >= down]
    late_valid = [a.ended - down for a in during if a.valid]
    slowest = max(a.ended - a.started for a in during + never_seen)
    assert during and during[-1].reason == "chain_unavailable", during[-1:]  # failed closed
    assert not late_valid or max(late_valid) <= VALID_UNTIL, max(late_valid)
    assert {a.reason for a in during if not a.valid} == {"chain_unavailable"}
    assert all(not a.valid and a.reason == "chain_unavailable" for a in never_seen), never_seen
    assert slowest <= ANSWER_BOUND, slowest

    async def valid_again() -> bool:
        return (await validate(http, seen.token)).valid

    catch_up = await until(valid_again, CATCH_UP_BOUND)
    assert all([(await validate(http, s.token)).valid for s in unseen])
    await register(http, master, victim)  # live now (a silent worker is evicted in time)
    client, package = chain(devnet)
    try:
        await package.slash(devnet.admin_key, victim.minted.stake_record_id)
    finally:
        await client.close()
    slashed = time.monotonic()

    async def revoked() -> bool:
        return bool(master.workers()[victim.node_id]["status"] == "revoked")

    await until(revoked, CATCH_UP_BOUND)
    return {
        "valid_after_outage_s": max(late_valid, default=0.0),
        "fail_closed_latency_s": max(a.ended - a.started for a in never_seen),
        "slowest_answer_s": slowest,
        "valid_again_s": catch_up,
        "revoked_after_slash_s": time.monotonic() - slashed,
        "outage_s": back - down,
    }


@pytest.mark.parametrize(
    "rounds",
    [
        pytest.param(1, id="short", marks=pytest.mark.timeout(300)),
        pytest.param(3, id="long", marks=[pytest.mark.faults, pytest.mark.timeout(900)]),
    ],
)
async def test_chain_hang_and_kill_fail_closed_then_catch_up(
    devnet_factory: Callable[[], DevnetProcess], tmp_path: Path, rounds: int
) -> None:
    devnet = devnet_factory()
    master = MasterProcess(devnet, tmp_path / "master", free_port())
    master.start()
    try:
        stakers = await mint(devnet, "c", 1 + rounds * 2 * 3)
        seen, rest = stakers[0], stakers[1:]
        tls = ssl.create_default_context(cafile=master.ca_path)
        async with httpx.AsyncClient(base_url=master.url, verify=tls, timeout=60) as http:
            figures = []
            for index, how in enumerate(["hang", "kill"] * rounds):
                group = rest[index * 3 : index * 3 + 3]
                figures.append(
                    (how, await outage(http, master, devnet, how, seen, group[:2], group[2]))
                )
        for how, numbers in figures:
            print(f"\nchain {how}: " + ", ".join(f"{k} {v:.2f}" for k, v in numbers.items()))
        assert master.proc.poll() is None
    finally:
        master.stop()
