"""`k3s-daas up` start-up: devnet ready, master ready, 3 workers admitted (bounded, ~1.5 min).

Runs `k3s-daas up --workers 3 --for 20s --json` RUNS times, each in a fresh home, exactly as a
user or CI would, and reads the `timings` of its final JSON: seconds from the command's start to
the devnet ready, the master ready, and all workers first ready at once (polled every 0.5 s).
The baseline is taken in the same run: `master_s` is the fixed cost of starting the chain and the
control plane, and `workers_ready_s / master_s` is what admitting 3 workers by stake (fund, stake,
mint a Seal token, attest the master, register, first heartbeat) costs relative to it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.processes import CLI, stop_process

RUNS = 3
WORKERS = 3
RUN_FOR_S = 20
STARTUP_ALLOWANCE_S = 120  # beyond --for, before a run counts as hung and is stopped by PID
MEASURES = ("devnet_s", "master_s", "workers_ready_s", "admit_s", "workers_ready_vs_master")


def _one_run(index: int) -> dict[str, Any]:
    """One `up` in a fresh home; its timings, exit code and wall time."""
    with tempfile.TemporaryDirectory(prefix=f"bench-up-{index}-") as tmp:
        argv = [CLI, "up", "--workers", str(WORKERS), "--for", f"{RUN_FOR_S}s", "--json",
                "--home", str(Path(tmp) / "home")]  # fmt: skip
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=RUN_FOR_S + STARTUP_ALLOWANCE_S)
        finally:
            stop_process(proc, timeout=30)  # only if it overran: SIGTERM (up stops its parts)
        wall = time.monotonic() - t0
    lines = out.decode().strip().splitlines()
    if not lines:
        tail = err.decode().strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"run {index}: up exited {proc.returncode}: {tail[0]}")
    final = json.loads(lines[-1])
    timings: dict[str, float | None] = final.get("timings", {})
    return {**timings, "ready": final.get("ready"), "exit_code": proc.returncode,
            "wall_s": round(wall, 1)}  # fmt: skip


def _derive(one: dict[str, Any]) -> dict[str, Any]:
    """Add what 3 workers cost on top of the master: seconds, and as a ratio."""
    ready, master = one["workers_ready_s"], one["master_s"]
    return {**one, "admit_s": round(ready - master, 2),
            "workers_ready_vs_master": round(ready / master, 2)}  # fmt: skip


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": round(statistics.median(values), 2), "max": max(values)}


def run(out_dir: Path) -> dict[str, Any]:
    """Run `up` RUNS times, print a table, return the figures."""
    del out_dir
    runs = [_one_run(i) for i in range(1, RUNS + 1)]
    runs = [_derive(r) if r["exit_code"] == 0 and r.get("workers_ready_s") else r for r in runs]
    good = [r for r in runs if "admit_s" in r]
    if not good:
        raise RuntimeError(f"no `up` run got all {WORKERS} workers ready: {runs}")
    results: dict[str, Any] = {
        "runs": runs,
        "failed_runs": len(runs) - len(good),
        **{name: _spread([r[name] for r in good]) for name in MEASURES},
    }
    results["ratios"] = {
        "workers_ready_vs_master": results["workers_ready_vs_master"]["median"],
    }
    table = Table(title=f"k3s-daas up: s from its start, {WORKERS} workers x {len(good)} runs")
    for column in ("measure", "min", "median", "max"):
        table.add_column(column)
    for name in MEASURES:
        spread = results[name]
        prefix = "x" if name == "workers_ready_vs_master" else ""
        table.add_row(name, *(f"{prefix}{spread[k]}" for k in ("min", "median", "max")))
    if results["failed_runs"]:
        table.add_row("failed runs", str(results["failed_runs"]), "", "")
    Console().print(table)
    return results


if __name__ == "__main__":
    run(Path("."))
