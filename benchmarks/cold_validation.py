"""Cold validation through the master's validator with chain verification on and off, same run.

A real devnet with TOKENS minted tokens; each round builds a fresh `Validator` (empty caches,
batching and coalescing as the master runs them) and validates every token once, alternating
rounds on the plain `ChainClient` (off) and on a `VerifiedChain` (on: each object's BCS digest
checked against the last verified write, the chain followed from genesis once, before the
rounds). The issue's goals: >= 800 validations/s with verification on, and on >= 0.8 x off.
Also the one-time cost of following the devnet's chain from genesis, per checkpoint.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks._measure import row
from harness.devnet import DevnetProcess, attestation_document
from harness.master import fund
from harness.processes import free_port
from k3s_daas.chain import ChainClient, ChainReader, K3sDaasPackage, SuiKeyPair, VerifiedChain
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.settings import ValidatorSettings
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal.permissions import Tier

TOKENS = 200
SIGNERS = 10
ROUNDS = 5  # per mode, alternating


async def _mint(pkg: K3sDaasPackage, node: DevnetProcess) -> list[str]:
    pcrs = (await pkg.get_enclave_config()).pcrs
    for tier in Tier:
        await pkg.register_enclave(
            node.admin_key, attestation_document(node, pcrs), "https://b", tier
        )
    signers = [SuiKeyPair.generate() for _ in range(SIGNERS)]
    await fund(node, *(k.address for k in signers))
    prefix = secrets.token_hex(2)
    sem = asyncio.Semaphore(SIGNERS)

    async def one(i: int) -> str:
        async with sem:
            minted = await pkg.stake_and_create_worker_token(
                signers[i % SIGNERS], 1000, f"c{prefix}-{i}"
            )
            return minted.token

    return list(await asyncio.gather(*(one(i) for i in range(TOKENS))))


async def _round(
    reader: ChainReader, node: DevnetProcess, tokens: list[str]
) -> tuple[float, list[float]]:
    dep = node.deployment
    v = Validator(reader, dep.package_id, dep.pool_id, Metrics(), ValidatorSettings())
    await v.epoch()
    await v.min_stake()
    lat: list[float] = []

    async def one(token: str) -> None:
        t0 = time.perf_counter()
        await v.validate(token)
        lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(t) for t in tokens))
    return time.perf_counter() - t0, lat


async def _measure(node: DevnetProcess) -> dict[str, Any]:
    async with ChainClient.from_deployment(node.deployment) as client:
        tokens = await _mint(K3sDaasPackage(client, node.deployment), node)
        verified = VerifiedChain(client, node.deployment)
        t0 = time.perf_counter()
        height = await verified.sync()
        follow_s = time.perf_counter() - t0
        times: dict[str, list[float]] = {"off": [], "on": []}
        lats: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(ROUNDS):
            for mode, reader in (("off", client), ("on", verified)):
                seconds, lat = await _round(reader, node, tokens)
                times[mode].append(seconds)
                lats[mode] += lat
    out: dict[str, Any] = {
        mode: row(TOKENS / statistics.median(times[mode]), lats[mode]) for mode in times
    }
    out["on_vs_off"] = round(out["on"]["per_s"] / out["off"]["per_s"], 3)
    checkpoints = (height or 0) + 1
    out["follow_from_genesis"] = {
        "checkpoints": checkpoints,
        "ms_per_checkpoint": round(follow_s * 1000 / checkpoints, 3),
    }
    return out


def run(out_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        node = DevnetProcess(Path(folder) / "devnet", free_port(), free_port())
        node.start()
        try:
            result = asyncio.run(_measure(node))
        finally:
            node.stop()
    table = Table(title=f"cold validation, {TOKENS} tokens x {ROUNDS} rounds (higher is better)")
    for name in ("mode", "per s (median round)", "p50 ms", "p99 ms"):
        table.add_column(name, justify="right")
    for mode in ("off", "on"):
        r = result[mode]
        table.add_row(
            f"verify_chain {mode}", f"{r['per_s']:,.0f}", f"{r['p50_ms']}", f"{r['p99_ms']}"
        )
    table.add_row("on / off", f"{result['on_vs_off']}", "", "")
    follow = result["follow_from_genesis"]
    table.add_row(
        f"follow {follow['checkpoints']} checkpoints from genesis",
        f"{follow['ms_per_checkpoint']} ms each (incl. gRPC)",
        "",
        "",
    )
    Console().print(table)
    return result


if __name__ == "__main__":
    print(run(Path(tempfile.gettempdir())))
