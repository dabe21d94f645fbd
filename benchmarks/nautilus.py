"""The master's throughput against a real devnet and a real master process (bounded, ~1-2 min).

Measures: warm-cache validations in-process and over HTTPS keep-alive; cold tokens against the
devnet with and without coalescing/batching; signed heartbeats/s (signature checks + store
writes); a no-op endpoint of the same server as the baseline; resident memory of 10,000 registry
records. Ratios vs the seed's figures (cache 1000 req/s at 1 ms; TEE validation 100 req/s at
100 ms) and vs the baseline taken in the same run (client and server share the machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks._measure import constant, http_request, keepalive_load, row, rss_mb
from harness.devnet import DevnetProcess
from harness.master import MasterProcess, Staker, fund
from harness.processes import free_port
from k3s_daas.chain import ChainClient, K3sDaasPackage, SuiKeyPair
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import Registry
from k3s_daas.nautilus.settings import ValidatorSettings
from k3s_daas.nautilus.store import BytesStore, open_store
from k3s_daas.nautilus.validator import Validator
from k3s_daas.nautilus.worker_record import WorkerRecord
from k3s_daas.seal.protocol import PATHS, NodeStatus

TOKENS = 200
SIGNERS = 10
WARM_CALLS = 20_000
HTTP_SECONDS = 3.0
HTTP_CONCURRENCY = 32
HEARTBEAT_WORKERS = 50
REGISTRY_RECORDS = 10_000
SEED_CACHE = (1000.0, 0.001)  # req/s, latency
SEED_TEE = (100.0, 0.100)


async def _mint(pkg: K3sDaasPackage, node: DevnetProcess) -> list[Staker]:
    signers = [SuiKeyPair.generate() for _ in range(SIGNERS)]
    await fund(node, *(k.address for k in signers))
    prefix = secrets.token_hex(2)
    sem = asyncio.Semaphore(SIGNERS)

    async def one(i: int) -> Staker:
        async with sem:
            key = signers[i % SIGNERS]
            minted = await pkg.stake_and_create_worker_token(key, 1000, f"b{prefix}-{i}")
            return Staker(key, f"b{prefix}-{i}", minted)

    return list(await asyncio.gather(*(one(i) for i in range(TOKENS))))


async def _cold(client: ChainClient, node: DevnetProcess, tokens: list[str], *,
                batching: bool) -> dict[str, float]:  # fmt: skip
    config = ValidatorSettings(batch_window_ms=2.0 if batching else 0.0, coalesce=batching)
    v = Validator(client, node.deployment.package_id, node.deployment.pool_id, Metrics(), config)
    await v.epoch()
    await v.min_stake()
    lat: list[float] = []

    async def one(token: str) -> None:
        t0 = time.perf_counter()
        await v.validate(token)
        lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(t) for t in tokens))
    return row(len(tokens) / (time.perf_counter() - t0), lat)


async def _registry_memory(folder: Path) -> dict[str, float]:
    store = BytesStore(
        open_store(f"sqlite:///{folder / 'bench-store.db'}", data_key=secrets.token_bytes(32))
    )
    reg = Registry(store, Metrics())
    before = rss_mb(os.getpid())
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    for i in range(REGISTRY_RECORDS):
        record = WorkerRecord(
            node_id=f"w-{i}", owner="0x" + secrets.token_hex(32), status=NodeStatus.READY,
            tier="standard", stake=1000, permissions=("pods:read", "services:read"),
            token_fingerprint="0" * 16,
            token_id="0x" + secrets.token_hex(32), stake_record_id="0x" + secrets.token_hex(32),
            created=now, updated=now, last_heartbeat=now,
        )  # fmt: skip
        await reg.save(record)
    elapsed = time.perf_counter() - t0
    closer = getattr(store, "close", None)
    if closer is not None:
        result = closer()
        if asyncio.iscoroutine(result):
            await result
    return {"records": REGISTRY_RECORDS, "rss_delta_mb": round(rss_mb(os.getpid()) - before, 1),
            "writes_per_s": round(REGISTRY_RECORDS / elapsed, 1)}  # fmt: skip


async def _measure(node: DevnetProcess, master: MasterProcess, folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with ChainClient.from_deployment(node.deployment) as client:
        pkg = K3sDaasPackage(client, node.deployment)
        stakers = await _mint(pkg, node)
        tokens = [s.token for s in stakers]
        out["cold_batched"] = await _cold(client, node, tokens[:100], batching=True)
        out["cold_unbatched"] = await _cold(client, node, tokens[100:], batching=False)
        warm = Validator(client, node.deployment.package_id, node.deployment.pool_id, Metrics())
        await warm.validate(tokens[0])
        lat = []
        t0 = time.perf_counter()
        for _ in range(WARM_CALLS):
            t1 = time.perf_counter()
            await warm.validate(tokens[0])
            lat.append(time.perf_counter() - t1)
        out["warm_in_process"] = row(WARM_CALLS / (time.perf_counter() - t0), lat)
    port, ca = master.port, master.ca_path

    def load(build: Callable[[int], bytes]) -> Awaitable[dict[str, float]]:
        return keepalive_load(port, ca, build, seconds=HTTP_SECONDS, concurrency=HTTP_CONCURRENCY)

    noop = http_request(port, "GET", "/api/v1/noop")
    out["noop_https"] = await load(constant(noop))
    validate = http_request(
        port, "POST", "/api/v1/validate", json.dumps({"token": tokens[0]}).encode()
    )
    out["warm_https"] = await load(constant(validate))
    beaters = stakers[:HEARTBEAT_WORKERS]
    key = master.public_key
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=30) as http:
        for s in beaters:
            assert (await s.send(http, "register", key)).status_code == 200

    def beat(i: int) -> bytes:
        staker = beaters[i % len(beaters)]
        body = json.dumps(staker.body("heartbeat", key)).encode()
        return http_request(port, "POST", PATHS["heartbeat"], body, {"X-Seal-Token": staker.token})

    out["heartbeats_https"] = await load(beat)
    out["registry"] = await _registry_memory(folder)
    warm_rate = out["warm_https"]["per_s"]
    noop, unbatched = out["noop_https"]["per_s"], out["cold_unbatched"]["per_s"]
    out["ratios"] = {
        "warm_https_vs_seed_cache": round(warm_rate / SEED_CACHE[0], 2),
        "warm_in_process_vs_seed_cache": round(out["warm_in_process"]["per_s"] / SEED_CACHE[0], 2),
        "cold_batched_vs_seed_tee": round(out["cold_batched"]["per_s"] / SEED_TEE[0], 2),
        "warm_https_vs_noop": round(warm_rate / out["noop_https"]["per_s"], 2),
        "heartbeats_vs_noop": round(out["heartbeats_https"]["per_s"] / noop, 2),
        "batched_vs_unbatched": round(out["cold_batched"]["per_s"] / unbatched, 2),
    }  # fmt: skip
    return out


def run(out_dir: Path) -> dict[str, Any]:
    """Start a devnet and a master, measure, print a table, return the figures."""
    del out_dir
    with tempfile.TemporaryDirectory(prefix="bench-nautilus-") as tmp:
        folder = Path(tmp)
        node = DevnetProcess(folder / "devnet", free_port(), free_port())
        node.start()
        master = MasterProcess(node, folder / "master", free_port(),
                               {"K3S_DAAS_NAUTILUS_HEARTBEAT_INTERVAL": "30"})  # fmt: skip
        try:
            master.start()
            results = asyncio.run(_measure(node, master, folder))
        finally:
            if hasattr(master, "proc"):
                master.stop()
            node.stop()
    table = Table(title="Nautilus master (client and server share the machine)")
    for column in ("measure", "per s", "p50 ms", "p99 ms"):
        table.add_column(column)
    for name in ("warm_in_process", "warm_https", "noop_https", "heartbeats_https",
                 "cold_batched", "cold_unbatched"):  # fmt: skip
        r = results[name]
        table.add_row(name, str(r["per_s"]), str(r["p50_ms"]), str(r["p99_ms"]))
    reg = results["registry"]
    table.add_row(
        "registry 10k records",
        f"{reg['writes_per_s']} writes",
        f"RSS +{reg['rss_delta_mb']} MB",
        "",
    )
    for key, value in results["ratios"].items():
        table.add_row(key, f"x{value}", "", "")
    Console().print(table)
    return results


if __name__ == "__main__":
    run(Path("."))
