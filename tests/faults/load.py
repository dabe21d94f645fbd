"""Worker load for the fault tests, with every acknowledgement counted on the client side.

`drive` sends a staker's register (until one is acknowledged) and then heartbeats in a loop;
`Acks` records what the master acknowledged (a 200) and every answer's status and timing, then
`Acks.lost(records)` lists each acknowledged registration missing from a registry and each node
whose acknowledged first heartbeat (registered -> ready, a durable state change) is missing;
`Acks.behind(records, bound)` each node whose kept liveness lags the last acknowledged heartbeat
by more than `bound` seconds (routine heartbeats are flushed in batches: nautilus.liveness).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, Staker, chain, new_staker
from k3s_daas.nautilus.registry import PREFIX
from k3s_daas.nautilus.store import open_store
from k3s_daas.nautilus.worker_record import WorkerRecord
from k3s_daas.seal.protocol import Kind


@dataclass(frozen=True)
class Answer:
    """One answered (or failed) request: monotonic start and end, status (0: no answer)."""

    kind: str
    started: float
    ended: float
    status: int


@dataclass
class Acks:
    """Acknowledged writes per node, and every answer."""

    registered: set[str] = field(default_factory=set)
    beats: Counter[str] = field(default_factory=Counter)
    last_beat_ms: dict[str, int] = field(default_factory=dict)
    #: The last acknowledged heartbeat body of each node (what an eavesdropper would replay).
    last_body: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)

    def note(self, kind: str, node: str, timestamp_ms: int, answer: Answer,
             body: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.answers.append(answer)
        if answer.status != 200:
            return
        if kind == "register":
            self.registered.add(node)
        elif kind == "heartbeat":
            self.beats[node] += 1
            if timestamp_ms >= self.last_beat_ms.get(node, 0) and body is not None:
                self.last_body[node] = body
            self.last_beat_ms[node] = max(self.last_beat_ms.get(node, 0), timestamp_ms)

    @property
    def acked(self) -> int:
        return len(self.registered) + sum(self.beats.values())

    def statuses(self, since: float = float("-inf"), until: float = float("inf")) -> Counter[int]:
        """Statuses of the requests started in [since, until) (0 = no answer)."""
        return Counter(a.status for a in self.answers if since <= a.started < until)

    def first_ack_after(self, moment: float) -> float | None:
        """Seconds from `moment` to the end of the first acknowledged request started after it."""
        ends = [a.ended for a in self.answers if a.status == 200 and a.started >= moment]
        return min(ends) - moment if ends else None

    def slowest(self, since: float, until: float = float("inf")) -> float:
        return max((a.ended - a.started for a in self.answers if since <= a.started < until),
                   default=0.0)  # fmt: skip

    def lost(self, records: Mapping[str, WorkerRecord]) -> list[str]:
        """Every acknowledged write the registry does not reflect (empty: nothing lost)."""
        problems = [f"{node}: registration acknowledged, no record"
                    for node in sorted(self.registered - set(records))]  # fmt: skip
        for node, count in sorted(self.beats.items()):
            record = records.get(node)
            if record is not None and (record.heartbeats < 1 or record.last_heartbeat is None):
                problems.append(f"{node}: {count} heartbeats acknowledged, the record has none")
        return problems

    def behind(self, records: Mapping[str, WorkerRecord], bound: float) -> list[str]:
        """Nodes whose kept last heartbeat is more than `bound` s older than the last acked."""
        problems = []
        for node in sorted(self.beats):
            record = records.get(node)
            last = record.last_heartbeat if record is not None else None
            acked = datetime.fromtimestamp(self.last_beat_ms[node] / 1000, UTC)
            if last is None or (acked - last).total_seconds() > bound:
                problems.append(f"{node}: heartbeat of {acked} acknowledged, record has {last}")
        return problems


async def drive(http: httpx.AsyncClient, staker: Staker, master_key: Callable[[], bytes],
                acks: Acks, *, pause: float = 0.05) -> None:  # fmt: skip
    """Register until acknowledged, then heartbeat, forever (cancel the task to stop)."""
    while True:
        kind: Kind = "heartbeat" if staker.node_id in acks.registered else "register"
        key = master_key()
        body = staker.body(kind, key)
        started = time.monotonic()
        try:
            response = await staker.send(http, kind, key, body=body)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        acks.note(kind, staker.node_id, body["timestamp"],
                  Answer(kind, started, time.monotonic(), status), body)  # fmt: skip
        await asyncio.sleep(pause)


async def mint(devnet: DevnetProcess, prefix: str, count: int) -> list[Staker]:
    """`count` fresh stakers (stake + token), minted a few at a time."""
    client, package = chain(devnet)
    stakers: list[Staker] = []
    try:
        for start in range(0, count, 8):
            batch = range(start, min(count, start + 8))
            stakers += await asyncio.gather(
                *(new_staker(package, devnet, f"{prefix}-{i}") for i in batch)
            )
    finally:
        await client.close()
    return stakers


def parse_records(rows: Iterable[bytes]) -> dict[str, WorkerRecord]:
    records = (WorkerRecord.from_json(row) for row in rows)
    return {r.node_id: r for r in records}


def admin_records(master: MasterProcess) -> dict[str, WorkerRecord]:
    """The registry as the master's admin view shows it."""
    return {node: WorkerRecord.from_public(row) for node, row in master.workers().items()}


async def stored_records(store_url: str, data_key: bytes) -> dict[str, WorkerRecord]:
    """The registry as the store holds it (opened with the master's data key)."""
    store = open_store(store_url, data_key=data_key)
    try:
        return parse_records(entry.value for _, entry in await store.range(PREFIX))
    finally:
        await store.close()


async def cancel(tasks: Iterable[asyncio.Task[None]]) -> None:
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
