"""The goals of issue 13 judged on one `make bench` run: each goal, what was measured, the
baseline (in brackets in the goal's name; taken in the same run where it is not a fixed seed
figure), their ratio and whether the goal is met. Printed as one table and
written to `results/goals.json` (a list of {goal, measured, baseline, ratio, met}).

A goal whose benchmark did not run (or failed) is listed with `measured: null, met: false`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

Results = dict[str, Any]


@dataclass(frozen=True)
class Goal:
    text: str
    measured: Callable[[Results], float | None]
    baseline: Callable[[Results], float | None]
    met: Callable[[float, float | None], bool]


def _get(*path: str) -> Callable[[Results], float | None]:
    def pick(results: Results) -> float | None:
        node: Any = results
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return float(node) if isinstance(node, int | float) else None

    return pick


def _const(value: float) -> Callable[[Results], float | None]:
    return lambda results: value


_SCALE = ("scale", "summary")
GOALS: tuple[Goal, ...] = (
    Goal("heartbeats/s at 10k >= 2,000 [no-op POST/s]",
         _get(*_SCALE, "heartbeats_per_s"), _get(*_SCALE, "noop_post_per_s"),
         lambda m, b: m >= 2000),
    Goal("heartbeat p99 ms at 10k <= 50 [no-op p99]",
         _get(*_SCALE, "heartbeat_p99_ms"), _get(*_SCALE, "noop_post_p99_ms"),
         lambda m, b: m <= 50),
    Goal("master CPU ms/heartbeat <= 0.35 [no-op]",
         _get(*_SCALE, "cpu_ms_per_heartbeat"), _get(*_SCALE, "noop_cpu_ms"),
         lambda m, b: m <= 0.35),
    Goal("chain token reads/heartbeat = 0 [cold: 2]",
         _get(*_SCALE, "token_reads_per_heartbeat"), _const(2.0), lambda m, b: m == 0),
    Goal("master RSS MB at 10k <= 150 [empty]",
         _get(*_SCALE, "rss_mb_at_10k"), _get(*_SCALE, "rss_mb_empty"), lambda m, b: m <= 150),
    Goal("registrations/s 9k-10k >= 0.8x [0-1k]",
         _get(*_SCALE, "registration_per_s_last_1k"), _get(*_SCALE, "registration_per_s_first_1k"),
         lambda m, b: b is not None and m >= 0.8 * b),
    Goal("cold validations/s via master >= 1,000 [seed TEE]",
         _get(*_SCALE, "cold_validation_per_s"), _const(100.0), lambda m, b: m >= 1000),
    Goal("TokenReview/s warm >= 0.7x [no-op POST/s]",
         _get("tokenreview", "tokenreview_https", "per_s"),
         _get("tokenreview", "noop_https", "per_s"),
         lambda m, b: b is not None and m >= 0.7 * b),
    Goal("2 replicas hb/s >= 1.6x [1 replica]",
         _get("replicas", "two_replicas_per_s"), _get("replicas", "one_replica_per_s"),
         lambda m, b: b is not None and m >= 1.6 * b),
    Goal("revocation p99 ms from the slash tx's return <= 100 [slash tx p99]",
         _get("tokenreview", "revocation", "confirm_to_denial", "p99_ms"),
         _get("tokenreview", "revocation", "slash_confirm", "p99_ms"), lambda m, b: m <= 100),
    Goal("mints/s >= 100 [seed 10/s]",
         _get("chain", "tokens_per_s"), _const(10.0), lambda m, b: m >= 100),
)  # fmt: skip


def evaluate(results: Results) -> list[dict[str, Any]]:
    """One row per goal: {goal, measured, baseline, ratio, met}."""
    rows = []
    for goal in GOALS:
        measured, baseline = goal.measured(results), goal.baseline(results)
        ratio = round(measured / baseline, 3) if measured is not None and baseline else None
        met = measured is not None and goal.met(measured, baseline)
        rows.append({"goal": goal.text, "measured": measured, "baseline": baseline,
                     "ratio": ratio, "met": met})  # fmt: skip
    return rows


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="Goals (issue 13): measured against a baseline of the same run")
    for column in ("goal", "measured", "baseline", "ratio", "met"):
        out.add_column(column, justify="left" if column == "goal" else "right")
    for r in rows:
        met = "[green]yes[/]" if r["met"] else ("[red]no[/]" if r["measured"] is not None
                                                else "[yellow]not run[/]")  # fmt: skip
        out.add_row(escape(r["goal"]), _cell(r["measured"]), _cell(r["baseline"]),
                    "-" if r["ratio"] is None else f"x{r['ratio']}", met)  # fmt: skip
    return out


def report(results: Results, out_dir: Path) -> list[dict[str, Any]]:
    """Print the table and write `goals.json`; returns the rows."""
    rows = evaluate(results)
    Console(width=max(100, Console().width)).print(table(rows))
    (out_dir / "goals.json").write_text(json.dumps(rows, indent=2) + "\n")
    return rows
