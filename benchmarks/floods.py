"""What a flood of invalid tokens costs a real master (bounded: each phase stops by itself).

REQUESTS (100,000) invalid-token requests per phase over HTTPS keep-alive (the lean `Conn`,
CONCURRENCY connections from 127.0.0.1), round-robin over four kinds: a single-token validate
(twice), a register with the token in `X-Seal-Token` and a well-formed body, and a Kubernetes
API call with the token as bearer. Tokens are random: IDS distinct object ids, each with fresh
secrets (so no fingerprint repeats: only the object-id negative cache can spare chain reads).

Two masters on one devnet, production timings:
1. `unlimited` (rate limiting off): every request reaches the validator; measures store + audit
   growth (rows and bytes of the SQLite store, read directly; the master is stopped first so the
   open minute's refusal counts are written) and chain object reads (the master's
   `nautilus_chain_batch_size` sum) against distinct object ids.
2. `limited` (the defaults: RATE_LIMIT per second, RATE_LIMIT_BURST): the share answered 429.

Pass: growth <= 1 MB and object reads <= distinct ids (+ the pool's refreshes) in both phases.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sqlite3
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks._measure import Conn, http_request, row
from harness.devnet import DevnetProcess
from harness.master import TEST_ENV, MasterProcess
from harness.processes import free_port
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.seal.protocol import PATHS

REQUESTS: Final = int(os.environ.get("BENCH_FLOODS_REQUESTS", "100000"))
IDS: Final = max(1, REQUESTS // 100)
CONCURRENCY: Final = 16
PHASE_TIMEOUT: Final = 300.0  # seconds per phase: the flood stops here whatever is left
GROWTH_LIMIT: Final = 1_000_000
POOL_READS_SLACK: Final = 50  # the StakingPool re-read every pool_ttl, the epoch is not an object
METRICS_SOURCE: Final = "127.0.0.2"  # not the flooding address: /metrics is not rate limited

#: Production timings (harness.master.TEST_ENV shortens the caches).
PRODUCTION_ENV: Final = {
    key: str(NautilusSettings.model_fields[key.removeprefix("K3S_DAAS_NAUTILUS_").lower()].default)
    for key in TEST_ENV
}


def _tokens() -> list[str]:
    ids = [secrets.token_hex(32) for _ in range(IDS)]
    return [f"seal_{ids[i % IDS]}{secrets.token_hex(32)}" for i in range(REQUESTS)]


def _builder(port: int, tokens: list[str]) -> Callable[[int], bytes]:
    def build(i: int) -> bytes:
        token, kind = tokens[i], i % 4
        if kind < 2:
            body = json.dumps({"token": token}).encode()
            return http_request(port, "POST", "/api/v1/validate", body)
        if kind == 2:
            fields = {"node_id": f"flood-{i % 1000}", "timestamp": int(time.time() * 1000),
                      "nonce": secrets.token_hex(16), "signature": "AA=="}  # fmt: skip
            body = json.dumps(fields).encode()
            return http_request(port, "POST", PATHS["register"], body, {"X-Seal-Token": token})
        bearer = {"Authorization": f"Bearer {token}"}
        return http_request(port, "GET", "/api/v1/nodes", headers=bearer)

    return build


async def _flood(master: MasterProcess, tokens: list[str]) -> dict[str, Any]:
    """Every request once, CONCURRENCY connections; stops at PHASE_TIMEOUT."""
    ctx = ssl.create_default_context(cafile=master.ca_path)
    conns = list(await asyncio.gather(*(Conn.open(master.port, ctx) for _ in range(CONCURRENCY))))
    build = _builder(master.port, tokens)
    statuses: Counter[int] = Counter()
    lat: list[float] = []
    deadline = time.perf_counter() + PHASE_TIMEOUT

    async def loop(w: int) -> None:
        for i in range(w, len(tokens), CONCURRENCY):
            if time.perf_counter() > deadline:
                return
            request = build(i)
            t0 = time.perf_counter()
            code, _ = await conns[w].send(request)
            lat.append(time.perf_counter() - t0)
            statuses[code] += 1

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(loop(w) for w in range(CONCURRENCY)))
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    seconds = time.perf_counter() - t0
    sent = sum(statuses.values())
    return {**row(sent / seconds, lat), "requests": sent, "seconds": round(seconds, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}  # fmt: skip


def _metrics(master: MasterProcess) -> dict[str, float]:
    transport = httpx.HTTPTransport(
        local_address=METRICS_SOURCE, verify=ssl.create_default_context(cafile=master.ca_path)
    )
    with httpx.Client(base_url=master.url, transport=transport, timeout=30) as http:
        text = http.get("/metrics").text
    names = (r"nautilus_chain_batch_size_(?:sum|count)|nautilus_rate_limited_total"
             r'|nautilus_cache_total\{outcome="absent_hit"\}')  # fmt: skip
    wanted = re.compile(rf"^({names}) ([0-9.e+]+)$", re.M)
    return {m[1]: float(m[2]) for m in wanted.finditer(text)}


def _store(master: MasterProcess) -> dict[str, int]:
    """Rows and bytes (keys + sealed values) of the master's SQLite store: all, and the audit
    entries; plus the size of its files."""
    path = master.data_dir / "store.db"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        size = "count(*), coalesce(sum(length(key) + length(value)), 0)"
        rows, total = db.execute(f"SELECT {size} FROM kv").fetchone()  # noqa: S608 - constant
        audit_rows, audit_bytes = db.execute(
            f"SELECT {size} FROM kv WHERE key GLOB '/audit/[0-9]*'"  # noqa: S608 - constant
        ).fetchone()
    finally:
        db.close()
    files = sum(p.stat().st_size for p in path.parent.glob("store.db*"))
    return {"rows": rows, "bytes": total, "audit_rows": audit_rows, "audit_bytes": audit_bytes,
            "file_bytes": files}  # fmt: skip


async def _settle(master: MasterProcess) -> None:
    await asyncio.sleep(1.0)  # the audit head moves in the background


def _phase(node: DevnetProcess, folder: Path, name: str, env: dict[str, str]) -> dict[str, Any]:
    master = MasterProcess(node, folder / name, free_port(), {**PRODUCTION_ENV, **env})
    tokens = _tokens()
    try:
        master.start()
        asyncio.run(_settle(master))
        before, metrics0 = _store(master), _metrics(master)
        flood = asyncio.run(_flood(master, tokens))
        metrics1 = _metrics(master)
    finally:
        if hasattr(master, "proc"):
            master.stop()  # writes the open minute's refusal counts
    after = _store(master)
    sent = flood["requests"]
    distinct = len({t[5:69] for t in tokens[:sent]})
    delta = {k: metrics1.get(k, 0.0) - metrics0.get(k, 0.0) for k in metrics1}
    objects = int(delta.get("nautilus_chain_batch_size_sum", 0))
    growth = after["bytes"] - before["bytes"]
    limited = flood["statuses"].get("429", 0)
    return {
        "flood": flood,
        "distinct_object_ids": distinct,
        "chain_objects_read": objects,
        "chain_round_trips": int(delta.get("nautilus_chain_batch_size_count", 0)),
        "absent_hits": int(delta.get('nautilus_cache_total{outcome="absent_hit"}', 0)),
        "reads_per_distinct_id": round(objects / distinct, 3) if distinct else 0.0,
        "store_growth_bytes": growth,
        "store_growth_rows": after["rows"] - before["rows"],
        "audit_growth_bytes": after["audit_bytes"] - before["audit_bytes"],
        "audit_growth_entries": after["audit_rows"] - before["audit_rows"],
        "store_file_bytes_after": after["file_bytes"],
        "rate_limited": limited,
        "rate_limited_share": round(limited / sent, 4) if sent else 0.0,
        "pass_growth": growth <= GROWTH_LIMIT,
        "pass_reads": objects <= distinct + POOL_READS_SLACK,
        "env": env,
    }


def _table(results: dict[str, Any]) -> Table:
    table = Table(title=f"{REQUESTS:,} invalid-token requests per phase (client and server "
                  "share the machine)")  # fmt: skip
    phases = ("unlimited", "limited")
    table.add_column("measure")
    for phase in phases:
        table.add_column(phase, justify="right")
    lines: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("requests sent", lambda r: f"{r['flood']['requests']:,}"),
        ("seconds", lambda r: str(r["flood"]["seconds"])),
        ("requests/s", lambda r: f"{r['flood']['per_s']:,.0f}"),
        ("p50 / p99 ms", lambda r: f"{r['flood']['p50_ms']} / {r['flood']['p99_ms']}"),
        ("answered 429", lambda r: f"{r['rate_limited']:,} ({r['rate_limited_share']:.1%})"),
        ("distinct object ids", lambda r: f"{r['distinct_object_ids']:,}"),
        ("chain objects read", lambda r: f"{r['chain_objects_read']:,}"),
        ("reads per distinct id", lambda r: str(r["reads_per_distinct_id"])),
        ("store growth (bytes)", lambda r: f"{r['store_growth_bytes']:,}"),
        ("audit growth (entries)", lambda r: str(r["audit_growth_entries"])),
        ("store file after (bytes)", lambda r: f"{r['store_file_bytes_after']:,}"),
        ("pass (<= 1 MB, <= 1 read/id)", lambda r: str(r["pass_growth"] and r["pass_reads"])),
    ]
    for label, cell in lines:
        table.add_row(label, *(cell(results[p]) for p in phases))
    return table


def run(out_dir: Path) -> dict[str, Any]:
    """Start a devnet, then one master per phase; flood each, print a table, return."""
    del out_dir
    results: dict[str, Any] = {"requests_per_phase": REQUESTS, "concurrency": CONCURRENCY}
    with tempfile.TemporaryDirectory(prefix="bench-floods-") as tmp:
        folder = Path(tmp)
        node = DevnetProcess(folder / "devnet", free_port(), free_port())
        try:
            node.start()
            results["unlimited"] = _phase(node, folder, "unlimited",
                                          {"K3S_DAAS_NAUTILUS_RATE_LIMIT": "0"})  # fmt: skip
            results["limited"] = _phase(node, folder, "limited", {})
        finally:
            if hasattr(node, "proc"):
                node.stop()
    Console().print(_table(results))
    return results


if __name__ == "__main__":
    run(Path("."))
