"""Two master replicas on a 3-member etcd against one, same run, same load (issue 13 goal 4).

A devnet, a 3-member etcd cluster and two masters sharing it (one data key); `WORKERS` node
stakes; the load runs in its own process (`benchmarks/_replicas_load.py`): every worker
registers at A, then heartbeats `ROUNDS` times closed loop over `CONNECTIONS` HTTPS keep-alive
connections, first all at A, then half at A and half at B. Heartbeats/s of each phase (while
every connection is busy, and over the whole phase), their ratio (of the first), master CPU
per heartbeat, the load's CPU per heartbeat and how many of the machine's cores the phase kept
busy (two replicas can only double one if the cores are there), and the cores each process
took (both masters, the etcd members, the devnet, the load). Routine heartbeats are batched per
replica (nautilus/liveness.py): each replica writes its own keys — its guard once a second, a
shard of its nodes' state at most every `liveness_refresh` — so they never contend.
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
from harness.etcd import start_etcd_cluster
from harness.master import MasterProcess
from harness.processes import free_port
from k3s_daas.chain import ChainClient

WORKERS: Final = 2_000
ROUNDS: Final = 20
CONNECTIONS: Final = 64
TIMEOUT: Final = 600.0
ENV: Final = {
    "K3S_DAAS_NAUTILUS_HEARTBEAT_INTERVAL": "10",
    "K3S_DAAS_NAUTILUS_EPOCH_TTL": "2", "K3S_DAAS_NAUTILUS_POOL_TTL": "10",
    "K3S_DAAS_NAUTILUS_CACHE_TTL": "30", "K3S_DAAS_NAUTILUS_STALENESS": "60",
    "K3S_DAAS_NAUTILUS_NEGATIVE_TTL": "2", "K3S_DAAS_NAUTILUS_CHAIN_TIMEOUT": "3",
    "K3S_DAAS_NAUTILUS_RATE_LIMIT": "0",
}  # fmt: skip


async def _mint(node: DevnetProcess) -> list[Any]:
    async with ChainClient.from_deployment(node.deployment) as client:
        return await mint_many(client, node, [f"p{i:05d}" for i in range(WORKERS)])


def _job(
    masters: list[MasterProcess], stakers: list[Any], others: dict[str, int]
) -> dict[str, Any]:
    keys: dict[str, int] = {}
    rows = [[s.node_id, s.token, keys.setdefault(s.key.address, len(keys))] for s in stakers]
    secret = {s.key.address: s.key.to_suiprivkey() for s in stakers}
    by_index = {i: a for a, i in keys.items()}
    return {
        "masters": [{"port": m.port, "ca": m.ca_path, "pid": m.proc.pid,
                     "master_key": m.public_key.hex()} for m in masters],
        "conns": CONNECTIONS, "rounds": ROUNDS, "workers": rows, "others": others,
        "keys": [secret[by_index[i]] for i in range(len(keys))],
    }  # fmt: skip


def _load(folder: Path, job: dict[str, Any]) -> dict[str, Any]:
    job_path, out_path = folder / "job.json", folder / "load.json"
    job_path.write_text(json.dumps(job))
    subprocess.run([sys.executable, "-m", "benchmarks._replicas_load", str(job_path),
                    str(out_path)], check=True, timeout=TIMEOUT)  # fmt: skip
    result: dict[str, Any] = json.loads(out_path.read_text())
    return result


def run(out_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        folder = Path(tmp)
        node = DevnetProcess(folder / "devnet", free_port(), free_port())
        etcd = None
        masters: list[MasterProcess] = []
        try:
            node.start()
            etcd = start_etcd_cluster(folder / "etcd", 3)
            env = dict(
                ENV,
                K3S_DAAS_NAUTILUS_STORE_URL=etcd.url,
                K3S_DAAS_NAUTILUS_DATA_KEY_FILE=str(folder / "shared-data.key"),
            )
            for name in ("a", "b"):
                masters.append(MasterProcess(node, folder / name, free_port(), dict(env)))
                masters[-1].start()
            t0 = time.monotonic()
            stakers = asyncio.run(_mint(node))
            minted_s = time.monotonic() - t0
            others = {f"master {m.data_dir.name}": m.proc.pid for m in masters}
            others["devnet"] = node.proc.pid
            others.update({f"etcd {i}": m.proc.pid for i, m in enumerate(etcd.members) if m.proc})
            load = _load(folder, _job(masters, stakers, others))
        finally:
            for master in masters:
                if hasattr(master, "proc"):
                    master.stop()
            if etcd is not None:
                etcd.stop()
            if hasattr(node, "proc"):
                node.stop()
    one, two = load["one_replica"], load["two_replicas"]
    load["mint_seconds"] = round(minted_s, 1)
    load["one_replica_per_s"], load["two_replicas_per_s"] = one["per_s"], two["per_s"]
    load["ratio"] = round(two["per_s"] / one["per_s"], 3) if one["per_s"] else None
    table = Table(title=f"Replicas on a 3-member etcd, {WORKERS:,} workers x {ROUNDS} heartbeats")
    for column in ("replicas", "hb/s (all busy)", "hb/s (whole)", "p50 ms", "p99 ms",
                   "CPU ms/hb (all masters)", "load CPU ms/hb", "cores busy", "codes"):  # fmt: skip
        table.add_column(column, justify="right")
    for label, r in (("1", one), ("2", two)):
        table.add_row(label, f"{r['per_s']:,.0f}", f"{r['per_s_whole']:,.0f}", str(r["p50_ms"]),
                      str(r["p99_ms"]),
                      str(r["cpu_ms_per_heartbeat"]), str(r["load_cpu_ms_per_heartbeat"]),
                      f"{r['cores_busy']} of {r['cores']}", json.dumps(r["codes"]))  # fmt: skip
    Console(width=max(100, Console().width)).print(table)
    print(f"two replicas / one: x{load['ratio']}")
    return load


if __name__ == "__main__":
    run(Path(__file__).parent / "results")
