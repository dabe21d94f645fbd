"""The load of `benchmarks/replicas.py`, in its own process: `python -m benchmarks._replicas_load
JOB OUT`.

Every worker registers at replica A; then, closed loop over `conns` HTTPS keep-alive
connections in all, each worker heartbeats `rounds` times — first all at A alone, then half at
A and half at B (a node's first heartbeat at B moves it there: one warm-up round, not timed).
The same workers, the same connections and the same requests per worker in both phases.
Requests are signed before each phase (not timed); each master's CPU is read around it, and
a phase starts once the masters' background audit queues are empty (`Load.quiesce`). In a
phase each worker stays on one connection, and each connection sends its workers' heartbeats
round after round, one request after another (no task per request, no connection waiting for
the others at a round's end): the load's CPU per heartbeat is what a ratio on two cores is most
sensitive to. A phase's rate is counted while every connection is busy (until the first has
sent its share); the whole phase's rate is reported beside it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from benchmarks._measure import Conn, busy_cores, cpu_seconds, lat_ms, run_load
from benchmarks._scale_load import Load


class Replica(Load):
    """One master's connections and signing (the scale load's, reused)."""

    def __init__(self, job: dict[str, Any], master: dict[str, Any]) -> None:
        super().__init__({**job, **master})
        self.conns: list[Conn] = []  # also in `idle` (registration takes them from there)

    async def connect(self, count: int) -> None:
        import ssl

        ctx = ssl.create_default_context(cafile=self.job["ca"])
        self.conns = list(await asyncio.gather(*(Conn.open(self.port, ctx) for _ in range(count))))
        for conn in self.conns:
            self.idle.put_nowait(conn)

    async def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()
        for conn in self.conns:
            await conn.close()
        self.conns = []


async def phase(
    plan: list[tuple[Replica, list[tuple[str, str, int]]]], rounds: int, others: dict[str, int]
) -> dict[str, Any]:
    """Each replica's workers heartbeat `rounds` times, all replicas at once, closed loop; the
    cores each of `others` (both masters, the etcd members, the devnet) and the load kept busy."""
    base = int(time.time() * 1000)
    batches = [
        (r, [r.signed("heartbeat", w, base + i) for i in range(rounds) for w in workers])
        for r, workers in plan
    ]
    cpu0 = {r.pid: cpu_seconds(r.pid) for r, _ in plan}
    others0 = {name: cpu_seconds(pid) for name, pid in others.items()}
    own0, busy0 = cpu_seconds(os.getpid()), busy_cores()
    lat: list[float] = []
    codes: dict[int, int] = {}
    answered: list[float] = []  # when each 200 came back (perf_counter)
    lanes_done: list[float] = []

    async def lane(conn: Conn, requests: list[bytes]) -> None:
        """One connection's workers, round after round, one request after another (no task per
        request: the load shares the machine's cores with the masters it measures)."""
        for request in requests:
            t0 = time.perf_counter()
            code, _ = await conn.send(request)
            t1 = time.perf_counter()
            lat.append(t1 - t0)
            codes[code] = codes.get(code, 0) + 1
            if code == 200:
                answered.append(t1)
        lanes_done.append(time.perf_counter())

    def lanes(
        replica: Replica, requests: list[bytes], per_round: int
    ) -> list[Coroutine[Any, Any, None]]:
        """Each worker stays on one connection (so its rounds never overlap) and each connection
        goes through its workers' rounds at its own pace: no connection waits for the others at
        the end of a round."""
        n = len(replica.conns)
        rounds = [requests[s : s + per_round] for s in range(0, len(requests), per_round)]
        return [lane(c, [q for r in rounds for q in r[i::n]]) for i, c in enumerate(replica.conns)]

    gc.collect()
    gc.disable()  # the load's own collector pauses are not the masters' (bounded phase)
    t0 = time.perf_counter()
    sizes = [len(w) for _, w in plan]
    try:
        await asyncio.gather(*(
            coro for (r, q), n in zip(batches, sizes, strict=True) for coro in lanes(r, q, n)
        ))  # fmt: skip
    finally:
        gc.enable()
    elapsed = time.perf_counter() - t0
    # The rate while every connection is busy: until the first one has sent its share. The tail
    # after it (one replica done while the other still answers, on one core) is a property of a
    # fixed amount of work, not of the masters; both phases are counted the same way.
    until = min(lanes_done)
    steady = sum(1 for t in answered if t <= until)
    ok = codes.get(200, 0)
    cpu = sum(cpu_seconds(pid) - before for pid, before in cpu0.items())
    busy_by = {name: cpu_seconds(others[name]) - s for name, s in others0.items()}
    own, busy = cpu_seconds(os.getpid()) - own0, busy_cores() - busy0
    return {"per_s": round(steady / (until - t0), 1), "per_s_whole": round(ok / elapsed, 1),
            "steady_s": round(until - t0, 2), "whole_s": round(elapsed, 2), "ok": ok, **lat_ms(lat),
            "codes": {str(k): v for k, v in codes.items()},
            "cpu_ms_per_heartbeat": round(cpu * 1000 / max(1, ok), 4),
            "load_cpu_ms_per_heartbeat": round(own * 1000 / max(1, ok), 4),
            "cores_busy": round(busy / elapsed, 2), "cores": os.cpu_count(),
            "cores_by_process": {k: round(v / elapsed, 3) for k, v in busy_by.items()}
            | {"load": round(own / elapsed, 3)}}  # fmt: skip


async def main_async(job: dict[str, Any]) -> dict[str, Any]:
    a, b = (Replica(job, m) for m in job["masters"])
    conns: int = job["conns"]
    workers = a.workers
    half = len(workers) // 2
    out: dict[str, Any] = {"workers": len(workers), "rounds": job["rounds"]}
    others: dict[str, int] = job["others"]
    await a.connect(conns)
    now_ms = int(time.time() * 1000)
    out["registration"] = await a.closed_loop([a.signed("register", w, now_ms) for w in workers])
    await phase([(a, workers)], 1, others)  # registered -> ready: the durable first heartbeats
    out["quiesced_s"] = [await a.quiesce()]  # the audit of the 2,000 registered -> ready
    out["one_replica"] = await phase([(a, workers)], job["rounds"], others)
    await a.close()
    await a.connect(conns // 2)
    await b.connect(conns // 2)
    out["moved"] = await phase([(b, workers[half:])], 1, others)  # the nodes moving to B, not timed
    out["quiesced_s"] += await asyncio.gather(a.quiesce(), b.quiesce())  # the moves' audit
    out["two_replicas"] = await phase(
        [(a, workers[:half]), (b, workers[half:])], job["rounds"], others
    )
    await a.close()
    await b.close()
    return out


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    result = run_load(main_async(job))
    Path(argv[1]).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
