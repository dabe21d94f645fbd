"""One master at 10,000 workers (bounded: a few minutes, at most OVERALL_TIMEOUT).

A devnet and one master (SQLite store, production cache TTLs, heartbeat interval `INTERVAL`);
10,000 node stakes minted 100 per transaction (`harness.bulk`); the load runs in its own process
(`benchmarks/_scale_load.py`): a no-op POST baseline, cold validation of never-seen tokens
through the master (HTTPS, 32 connections), then 10 steps of 1,000 registrations each followed by
a heartbeat window in which every registered worker beats once per interval at its own phase
(open loop, 64 keep-alive connections), and last a sustained window at 10,000 workers all ready
(the steady state the goals are judged on: no heartbeat in it is a node's first). Per window:
registrations/s, heartbeats/s, p99 from the scheduled time, master CPU per heartbeat, master RSS,
token/stake objects read from the chain per heartbeat. Writes `scale.png` (rate, p99, RSS against
registered workers).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from harness.bulk import mint_many
from harness.devnet import DevnetProcess
from harness.master import MasterProcess
from harness.processes import free_port
from k3s_daas.chain import ChainClient

WORKERS: Final = 10_000
STEP: Final = 1_000
COLD_TOKENS: Final = 2_000  # minted besides the workers, validated once each, never seen before
INTERVAL: Final = 4.0  # 10,000 workers / 4 s = 2,500 heartbeats/s offered at the last step
CONNECTIONS: Final = 64
WINDOW_PASSES: Final = 2  # heartbeat intervals per intermediate step
SUSTAINED_PASSES: Final = 4  # at 10,000 workers, all ready: the steady state the goals judge
OVERALL_TIMEOUT: Final = 900.0
ENV: Final = {
    "K3S_DAAS_NAUTILUS_HEARTBEAT_INTERVAL": str(INTERVAL),
    # a registration burst pauses the load's heartbeats for a few seconds: no node should flap
    "K3S_DAAS_NAUTILUS_MISSED_HEARTBEATS": "10",
    # production timings (harness.master.TEST_ENV shortens them for tests)
    "K3S_DAAS_NAUTILUS_EPOCH_TTL": "2", "K3S_DAAS_NAUTILUS_POOL_TTL": "10",
    "K3S_DAAS_NAUTILUS_CACHE_TTL": "30", "K3S_DAAS_NAUTILUS_STALENESS": "60",
    "K3S_DAAS_NAUTILUS_NEGATIVE_TTL": "2", "K3S_DAAS_NAUTILUS_CHAIN_TIMEOUT": "3",
}  # fmt: skip


async def _mint(node: DevnetProcess) -> tuple[list[Any], list[str]]:
    async with ChainClient.from_deployment(node.deployment) as client:
        nodes = [f"s{i:05d}" for i in range(WORKERS + COLD_TOKENS)]
        stakers = await mint_many(client, node, nodes)
    by_node = {s.node_id: s for s in stakers}
    workers = [by_node[n] for n in nodes[:WORKERS]]
    cold = [by_node[n].token for n in nodes[WORKERS:]]
    return workers, cold


def _job(master: MasterProcess, workers: list[Any], cold: list[str]) -> dict[str, Any]:
    keys: dict[str, int] = {}
    rows = []
    for s in workers:
        index = keys.setdefault(s.key.address, len(keys))
        rows.append([s.node_id, s.token, index])
    by_index = {i: a for a, i in keys.items()}
    secret_keys = {s.key.address: s.key.to_suiprivkey() for s in workers}
    return {
        "port": master.port, "ca": master.ca_path, "pid": master.proc.pid,
        "master_key": master.public_key.hex(), "interval": INTERVAL, "conns": CONNECTIONS,
        "per_step": STEP, "steps": WORKERS // STEP, "window_passes": WINDOW_PASSES,
        "sustained_passes": SUSTAINED_PASSES, "workers": rows, "cold_tokens": cold,
        "keys": [secret_keys[by_index[i]] for i in range(len(keys))],
    }  # fmt: skip


def _load(folder: Path, job: dict[str, Any], deadline: float) -> dict[str, Any]:
    job_path, out_path = folder / "job.json", folder / "load.json"
    job_path.write_text(json.dumps(job))
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._scale_load", str(job_path), str(out_path)]
    )
    try:
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RuntimeError("the scale load did not finish in time") from None
    if code != 0:
        raise RuntimeError(f"the scale load exited {code}")
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def summarize(load: dict[str, Any]) -> dict[str, Any]:
    """The figures the goals are judged on, from the load's steps."""
    steps = load["steps"]
    first, last = steps[0], steps[-1]
    beats = load["sustained"]
    noop = load["noop_before"]
    return {
        "heartbeats_per_s": beats["per_s"], "heartbeats_offered_per_s": beats["offered_per_s"],
        "heartbeat_p99_ms": beats["p99_ms"], "heartbeat_p50_ms": beats["p50_ms"],
        "cpu_ms_per_heartbeat": beats["cpu_ms_per_heartbeat"],
        "rss_mb_at_10k": max([beats["rss_mb"]] + [s["heartbeats"]["rss_mb"] for s in steps]),
        "rss_mb_empty": load["rss_empty_mb"],
        "object_reads_per_heartbeat": beats["object_reads_per_heartbeat"],
        "token_reads_per_heartbeat": beats["token_reads_per_heartbeat"],
        "sys_ms_per_heartbeat": beats["sys_ms_per_heartbeat"],
        "load_cpu_ms_per_heartbeat": beats["load_cpu_ms_per_heartbeat"],
        "heartbeat_errors": beats["sent"] - beats["ok"],
        "registration_per_s_first_1k": first["registration"]["per_s"],
        "registration_per_s_last_1k": last["registration"]["per_s"],
        "registration_ratio": round(last["registration"]["per_s"]
                                    / first["registration"]["per_s"], 3),
        "noop_post_per_s": noop["per_s"], "noop_post_p99_ms": noop["p99_ms"],
        "noop_cpu_ms": noop["cpu_ms_per_request"],
        "cold_validation_per_s": load.get("cold_validation", {}).get("per_s"),
    }  # fmt: skip


def plot(load: dict[str, Any], path: Path) -> None:
    """Heartbeat rate, p99 and master RSS against registered workers (0 -> 10k)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = load["steps"]
    xs = [0] + [s["registered"] for s in steps]
    rate = [0.0] + [s["heartbeats"]["per_s"] for s in steps]
    offered = [0.0] + [s["heartbeats"]["offered_per_s"] for s in steps]
    p99 = [None] + [s["heartbeats"]["p99_ms"] for s in steps]
    rss = [load["rss_empty_mb"]] + [s["heartbeats"]["rss_mb"] for s in steps]
    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    axes[0].plot(xs, rate, "o-", label="answered")
    axes[0].plot(xs, offered, "--", label="offered (one per worker per interval)")
    axes[0].axhline(2000, color="grey", lw=0.8, ls=":", label="goal 2,000/s")
    axes[0].set_ylabel("heartbeats/s")
    axes[0].legend(fontsize=8)
    axes[1].plot(xs, p99, "o-", color="tab:orange")
    axes[1].axhline(50, color="grey", lw=0.8, ls=":", label="goal 50 ms")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("p99 ms (from schedule, log)")
    axes[1].legend(fontsize=8)
    axes[2].plot(xs, rss, "o-", color="tab:green")
    axes[2].axhline(150, color="grey", lw=0.8, ls=":", label="goal 150 MB")
    axes[2].set_ylabel("master RSS MB")
    axes[2].set_xlabel("registered workers")
    axes[2].legend(fontsize=8)
    fig.suptitle("One master, SQLite store, heartbeats over HTTPS keep-alive")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _table(load: dict[str, Any]) -> Table:
    table = Table(title=f"One master at {WORKERS:,} workers (interval {INTERVAL:g} s)")
    for column in ("registered", "reg/s", "hb/s", "offered", "p99 ms", "CPU ms/hb", "RSS MB",
                   "reads/hb"):  # fmt: skip
        table.add_column(column, justify="right")
    for s in load["steps"]:
        b = s["heartbeats"]
        table.add_row(f"{s['registered']:,}", f"{s['registration']['per_s']:,.0f}",
                      f"{b['per_s']:,.0f}", f"{b['offered_per_s']:,.0f}", str(b["p99_ms"]),
                      str(b["cpu_ms_per_heartbeat"]), str(b["rss_mb"]),
                      str(b["object_reads_per_heartbeat"]))  # fmt: skip
    b = load["sustained"]
    table.add_row(f"{b['registered']:,} sustained", "", f"{b['per_s']:,.0f}",
                  f"{b['offered_per_s']:,.0f}", str(b["p99_ms"]), str(b["cpu_ms_per_heartbeat"]),
                  str(b["rss_mb"]), str(b["object_reads_per_heartbeat"]))  # fmt: skip
    return table


def run(out_dir: Path) -> dict[str, Any]:
    """Start a devnet and a master, mint, run the load process, print a table, plot, return."""
    deadline = time.monotonic() + OVERALL_TIMEOUT
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        folder = Path(tmp)
        node = DevnetProcess(folder / "devnet", free_port(), free_port())
        master = MasterProcess(node, folder / "master", free_port(), dict(ENV))
        try:
            node.start()
            master.start()  # registers the enclave, which minting needs
            t0 = time.monotonic()
            workers, cold = asyncio.run(_mint(node))
            minted_s = time.monotonic() - t0
            load = _load(folder, _job(master, workers, cold), deadline)
        finally:
            if hasattr(master, "proc"):
                master.stop()
            if hasattr(node, "proc"):
                node.stop()
    load["mint_seconds"] = round(minted_s, 1)
    load["summary"] = summarize(load)
    out_dir.mkdir(exist_ok=True)
    plot(load, out_dir / "scale.png")
    Console(width=max(100, Console().width)).print(_table(load))
    return load


if __name__ == "__main__":
    run(Path(__file__).parent / "results")
