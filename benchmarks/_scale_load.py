"""The load of `benchmarks/scale.py`, in its own process so it never takes the master's share of
the CPU unnoticed: `python -m benchmarks._scale_load JOB OUT`.

Workers are registered 1,000 at a time (closed loop, `conns` keep-alive connections), and after
each step every registered worker heartbeats once per `interval`, at its own phase (spread evenly
over the interval, as 10,000 independent agents would be), open loop: a heartbeat's latency runs
from its scheduled time, so queueing in front of a slow master counts; like an agent, a worker
sends its next heartbeat only once its last was answered. After the last step, a sustained
window at 10,000 workers, all ready (the steady state). Requests are signed before
each window (the signing is not timed); the master's CPU, RSS and metrics are read around it.
Registrations and the sustained window start once the master's background audit queue is empty
(`quiesce`: the audit entries of the step before are its tail, not part of what is timed).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import re
import secrets
import ssl
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._measure import (
    Conn,
    cpu_seconds,
    http_request,
    lat_ms,
    rss_mb,
    run_load,
    sys_seconds,
)
from k3s_daas.chain import SuiKeyPair
from k3s_daas.seal.protocol import PATHS, Kind, signing_bytes
from k3s_daas.seal.token import token_fingerprint

_METRIC = re.compile(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) ([0-9.eE+-]+|NaN)$")


class Load:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.port: int = job["port"]
        self.pid: int = job["pid"]
        self.master_key = bytes.fromhex(job["master_key"])
        self.keys = [SuiKeyPair.from_suiprivkey(k) for k in job["keys"]]
        self.workers: list[tuple[str, str, int]] = [tuple(w) for w in job["workers"]]
        self.fingerprints = {token: token_fingerprint(token) for _, token, _ in self.workers}
        self.idle: asyncio.Queue[Conn] = asyncio.Queue()

    def signed(self, kind: Kind, worker: tuple[str, str, int], timestamp_ms: int) -> bytes:
        node, token, key = worker
        body: dict[str, Any] = {"node_id": node, "timestamp": timestamp_ms,
                                "nonce": secrets.token_hex(16)}  # fmt: skip
        if kind == "heartbeat":
            body.update(running_pods=0, resource_usage={})
        message = signing_bytes(kind, self.master_key, self.fingerprints[token], body)
        body["signature"] = base64.b64encode(self.keys[key].sign_personal_message(message)).decode()
        return http_request(self.port, "POST", PATHS[kind], json.dumps(body).encode(),
                            {"X-Seal-Token": token})  # fmt: skip

    async def send(self, request: bytes) -> int:
        conn = await self.idle.get()
        try:
            code, _ = await conn.send(request)
        finally:
            self.idle.put_nowait(conn)
        return code

    async def closed_loop(self, requests: list[bytes], conns: int | None = None) -> dict[str, Any]:
        """Every request once, as fast as the connections allow (at most `conns` in flight)."""
        lat: list[float] = []
        codes: dict[int, int] = {}
        slots = asyncio.Semaphore(conns or self.job["conns"])

        async def one(request: bytes) -> None:
            t0 = time.perf_counter()
            async with slots:
                code = await self.send(request)
            lat.append(time.perf_counter() - t0)
            codes[code] = codes.get(code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(r) for r in requests))
        elapsed = time.perf_counter() - t0
        return {"per_s": round(len(requests) / elapsed, 1), **lat_ms(lat),
                "codes": {str(k): v for k, v in codes.items()}}  # fmt: skip

    async def timed_noop(self, seconds: float) -> dict[str, Any]:
        """The baseline: a no-op POST of the same server, same connections, closed loop."""
        request = http_request(self.port, "POST", "/api/v1/noop", b"{}")
        stop = time.perf_counter() + seconds
        lat: list[float] = []
        cpu0, t0 = cpu_seconds(self.pid), time.perf_counter()

        async def loop() -> None:
            while time.perf_counter() < stop:
                t1 = time.perf_counter()
                if await self.send(request) != 200:
                    raise RuntimeError("the no-op endpoint failed")
                lat.append(time.perf_counter() - t1)

        await asyncio.gather(*(loop() for _ in range(self.job["conns"])))
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(self.pid) - cpu0
        return {"per_s": round(len(lat) / elapsed, 1), **lat_ms(lat),
                "cpu_ms_per_request": round(cpu * 1000 / max(1, len(lat)), 4)}  # fmt: skip

    async def metrics(self) -> dict[str, float]:
        code, body = await self.send_raw(http_request(self.port, "GET", "/metrics"))
        out: dict[str, float] = {}
        if code == 200:
            for line in body.decode().splitlines():
                match = _METRIC.match(line)
                if match:
                    out[match.group(1)] = float(match.group(2))
        return out

    async def quiesce(self, limit: float = 120.0) -> float:
        """Wait until the master's background audit queues are empty (the state changes of an
        untimed warm-up, e.g. 1,000 registered -> ready, are written behind their answers):
        a timed window measures the steady state, not the warm-up's tail. Returns the wait."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < limit:
            metrics = await self.metrics()
            if not sum(v for k, v in metrics.items() if k.startswith("nautilus_audit_queued")):
                break
            await asyncio.sleep(0.2)
        return round(time.perf_counter() - t0, 2)

    async def send_raw(self, request: bytes) -> tuple[int, bytes]:
        conn = await self.idle.get()
        try:
            return await conn.send(request)
        finally:
            self.idle.put_nowait(conn)

    async def heartbeats(self, registered: int, passes: int) -> dict[str, Any]:
        """Every registered worker beats `passes` times, once per interval at its own phase."""
        interval: float = self.job["interval"]
        start_wall = time.time()  # signed timestamps: within the skew window, rising per node
        schedule: list[tuple[float, int]] = []
        for i in range(registered):
            phase = (i / registered) * interval
            schedule += [(phase + p * interval, i) for p in range(passes)]
        schedule.sort()
        requests = [
            self.signed("heartbeat", self.workers[i], int((start_wall + at) * 1000))
            for at, i in schedule
        ]
        loop = asyncio.get_running_loop()
        lat: list[float] = []
        codes: dict[int, int] = {}
        before, cpu0, sys0 = await self.metrics(), cpu_seconds(self.pid), sys_seconds(self.pid)
        own0 = cpu_seconds(os.getpid())
        # The load's own collector pauses (its 40,000 signed requests and their tasks) would
        # count as the master's latency: none during the window (bounded, so no growth).
        gc.collect()
        gc.disable()
        start = loop.time() + 0.05  # the schedule starts once everything is signed
        pending: set[asyncio.Task[None]] = set()

        last: dict[int, asyncio.Task[None]] = {}  # each worker's previous heartbeat

        async def one(due: float, request: bytes, previous: asyncio.Task[None] | None) -> None:
            if previous is not None and not previous.done():
                await previous  # an agent sends its next heartbeat once the last was answered
            code = await self.send(request)
            lat.append(loop.time() - due)
            codes[code] = codes.get(code, 0) + 1

        for n, ((at, worker), request) in enumerate(zip(schedule, requests, strict=True)):
            due = start + at
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            elif n % 16 == 0:  # behind schedule: still let answers in
                await asyncio.sleep(0)
            task = asyncio.ensure_future(one(due, request, last.get(worker)))
            last[worker] = task
            pending.add(task)
            task.add_done_callback(pending.discard)
        try:
            await asyncio.gather(*pending)
        finally:
            gc.enable()
        elapsed = loop.time() - start
        cpu, system = cpu_seconds(self.pid) - cpu0, sys_seconds(self.pid) - sys0
        own = cpu_seconds(os.getpid()) - own0
        after = await self.metrics()
        ok = codes.get(200, 0)

        def delta(name: str) -> float:
            return after.get(name, 0.0) - before.get(name, 0.0)

        return {
            "registered": registered, "sent": len(requests), "ok": ok,
            "codes": {str(k): v for k, v in codes.items()},
            "per_s": round(ok / elapsed, 1), "offered_per_s": round(registered / interval, 1),
            **lat_ms(lat),
            "cpu_ms_per_heartbeat": round(cpu * 1000 / max(1, ok), 4),
            "sys_ms_per_heartbeat": round(system * 1000 / max(1, ok), 4),
            "load_cpu_ms_per_heartbeat": round(own * 1000 / max(1, ok), 4),  # this process
            "rss_mb": round(rss_mb(self.pid), 1),
            "objects_read": delta("nautilus_chain_batch_size_sum"),
            "object_reads_per_heartbeat": round(
                delta("nautilus_chain_batch_size_sum") / max(1, ok), 5),
            "batches": delta("nautilus_chain_batch_size_count"),
            "admitted_hits": delta('nautilus_cache_total{outcome="admitted"}'),
            # a miss is a token (and its stake) read from the chain: what "0 per heartbeat" means
            "token_reads": delta('nautilus_cache_total{outcome="miss"}'),
            "token_reads_per_heartbeat": round(
                delta('nautilus_cache_total{outcome="miss"}') / max(1, ok), 5),
        }  # fmt: skip

    async def run(self) -> dict[str, Any]:
        ctx = ssl.create_default_context(cafile=self.job["ca"])
        conns = await asyncio.gather(*(Conn.open(self.port, ctx) for _ in range(self.job["conns"])))
        for conn in conns:
            self.idle.put_nowait(conn)
        out: dict[str, Any] = {"rss_empty_mb": round(rss_mb(self.pid), 1), "steps": []}
        out["noop_before"] = await self.timed_noop(3.0)
        cold = self.job.get("cold_tokens", [])
        if cold:  # tokens never seen: each a chain read through the master, 32 connections
            out["cold_validation"] = await self.closed_loop([
                http_request(self.port, "POST", "/api/v1/validate",
                             json.dumps({"token": t}).encode())
                for t in cold
            ], conns=self.job["cold_conns"])  # fmt: skip
        per, steps = self.job["per_step"], self.job["steps"]
        for step in range(steps):
            batch = self.workers[step * per : (step + 1) * per]
            quiet = await self.quiesce()
            now_ms = int(time.time() * 1000)
            cpu0 = cpu_seconds(self.pid)
            reg = await self.closed_loop([self.signed("register", w, now_ms) for w in batch])
            reg["cpu_ms_per_registration"] = round(
                (cpu_seconds(self.pid) - cpu0) * 1000 / len(batch), 3)  # fmt: skip
            reg["quiesced_s"] = quiet
            beats = await self.heartbeats((step + 1) * per, self.job["window_passes"])
            out["steps"].append({"registered": (step + 1) * per, "registration": reg,
                                 "heartbeats": beats})  # fmt: skip
            print(json.dumps({"step": step + 1, "registration_per_s": reg["per_s"],
                              **{k: beats[k] for k in ("per_s", "p99_ms", "rss_mb",
                                 "cpu_ms_per_heartbeat", "object_reads_per_heartbeat")}}),
                  flush=True)  # fmt: skip
        # Steady state: every worker registered and ready, none beating for the first time
        # (a step's first pass also holds its 1,000 new nodes' registered -> ready writes).
        quiet = await self.quiesce()
        out["sustained"] = await self.heartbeats(per * steps, self.job["sustained_passes"])
        out["sustained"]["quiesced_s"] = quiet
        print(json.dumps({"sustained": {k: out["sustained"][k] for k in (
            "per_s", "p99_ms", "rss_mb", "cpu_ms_per_heartbeat")}}), flush=True)  # fmt: skip
        out["noop_after"] = await self.timed_noop(3.0)
        await asyncio.gather(*(c.close() for c in conns))
        return out


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    result = run_load(Load(job).run())
    Path(argv[1]).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
