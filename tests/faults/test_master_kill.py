"""kill -9 of the master under load: registrations and heartbeats in flight, SQLite store.

After each restart every acknowledged registration is in the registry, every node's kept last
heartbeat lags the last acknowledged one by at most `liveness_refresh` + the flush interval
(routine heartbeats are flushed in batches), and the last acknowledged heartbeat of every node, sent
again, is refused: `bad_signature`, since it was signed for the killed process's enclave key
(docs/nautilus.md, "Replay guard"; the stored W, tested in tests/unit/test_nautilus_liveness.py,
would refuse it as `replayed` under a key that outlived the process). Short variant: 6 workers, one kill; long (`make faults`): 24 workers, 3 kills.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import ssl
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, Staker
from k3s_daas.nautilus.settings import NautilusSettings
from tests.faults.load import Acks, admin_records, cancel, drive, mint

#: Seconds a kept last heartbeat may lag the last acknowledged one: a shard waits up to
#: `liveness_refresh`, then the next flush (`Liveness.lag`), plus the flush itself and the
#: kill's timing.
FLUSH_BOUND = sum(NautilusSettings.model_fields[name].default
                  for name in ("liveness_refresh", "liveness_flush_interval")) + 1.5  # fmt: skip


async def replays_refused(master: MasterProcess, stakers: list[Staker], acks: Acks) -> int:
    """Each node's last acknowledged heartbeat, sent again to the restarted master: how many
    were refused (as a replay, or as signed for another enclave key)."""
    tls = ssl.create_default_context(cafile=master.ca_path)
    by_node = {s.node_id: s for s in stakers}
    refused = 0
    async with httpx.AsyncClient(base_url=master.url, verify=tls, timeout=10) as http:
        for node, body in acks.last_body.items():
            staker = by_node[node]
            answer = await staker.send(http, "heartbeat", master.public_key, body=body)
            refused += answer.status_code in (401, 409) and answer.json()["error"] in (
                "replayed", "bad_signature")  # fmt: skip
    return refused


async def after(delay: float, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    await asyncio.sleep(delay)
    await work()


@pytest.mark.parametrize(
    ("workers", "kills"),
    [
        pytest.param(6, 1, id="short", marks=pytest.mark.timeout(300)),
        pytest.param(24, 3, id="long", marks=[pytest.mark.faults, pytest.mark.timeout(900)]),
    ],
)
async def test_kill9_under_load_loses_no_acknowledged_write(
    devnet: DevnetProcess, master_factory: Callable[..., MasterProcess], workers: int, kills: int
) -> None:
    master = master_factory()  # the first master registers the enclave stakes are minted for
    stakers = await mint(devnet, f"k{secrets.token_hex(2)}", workers)
    acks = Acks()
    downtimes: list[float] = []
    for _ in range(kills):
        tls = ssl.create_default_context(cafile=master.ca_path)
        async with httpx.AsyncClient(base_url=master.url, verify=tls, timeout=10) as http:

            def work(s: Staker) -> Callable[[], Coroutine[Any, Any, None]]:
                return lambda: drive(http, s, lambda: master.public_key, acks, pause=0.02)

            # registrations start over the 1-2 s before the kill, so some are in flight at it
            tasks = [asyncio.create_task(after(random.uniform(0, 1.5), work(s))) for s in stakers]
            await asyncio.sleep(random.uniform(1.0, 2.0))
            master.kill9()
            killed = time.monotonic()
            await asyncio.sleep(0.3)  # requests in flight fail (unacknowledged) before we stop
            await cancel(tasks)
        master.start()
        downtimes.append(time.monotonic() - killed)
        records = admin_records(master)
        assert not acks.lost(records)
        assert not acks.behind(records, FLUSH_BOUND)
        assert await replays_refused(master, stakers, acks) == len(acks.last_body)
    unanswered = acks.statuses()[0]  # requests the kill cut
    print(
        f"\nkill -9 x{kills}, {workers} workers: {len(acks.registered)} registrations and "
        f"{sum(acks.beats.values())} heartbeats acknowledged, all present after restart; "
        f"{unanswered} requests cut by the kill; restart took "
        f"{', '.join(f'{d:.1f}' for d in downtimes)} s"
    )
    assert acks.registered and sum(acks.beats.values()) > 0  # the load did reach the master
