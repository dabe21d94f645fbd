"""What `k3s-daas up` shows: the workers at one poll, as a live table or as the final JSON.

Statuses are the protocol's words: the master's `NodeStatus` when it knows the node, else the
agent's own `WorkerPhase`; reasons are `Reason` words, as kubectl shows them.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from k3s_daas.seal.protocol import NodeStatus, WorkerPhase
from k3s_daas.worker.exits import EXIT_REVOKED


@dataclass
class Timings:
    """Seconds from the start of `up` (time.monotonic) to each milestone; None until reached."""

    started: float = field(default_factory=time.monotonic)
    devnet_s: float | None = None
    master_s: float | None = None
    workers_ready_s: float | None = None  # the first time every worker was ready at once

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def workers_ready(self) -> bool:
        """Record that every worker is ready; True only the first time."""
        if self.workers_ready_s is not None:
            return False
        self.workers_ready_s = self.elapsed()
        return True

    def as_json(self) -> dict[str, float | None]:
        return {
            "devnet_s": self.devnet_s,
            "master_s": self.master_s,
            "workers_ready_s": self.workers_ready_s,
        }


@dataclass(frozen=True)
class WorkerRow:
    """One worker as its own state file and process tell it (a row of the final JSON)."""

    node: str
    status: str  # a WorkerPhase word
    reason: str | None
    stake: int
    key_scheme: str  # ed25519 | secp256k1 | secp256r1: the worker's Sui key
    tier: str | None
    permissions: list[str]
    last_heartbeat: str | None
    heartbeats: int
    exit_code: int | None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Snapshot:
    """The workers at one poll: their own state files (`rows`) and the master's registry."""

    rows: list[WorkerRow]
    master: dict[str, dict[str, Any]]

    def status(self, row: WorkerRow) -> str:
        """What the master decided when it knows the node, else what the worker says."""
        return str(self.master.get(row.node, {}).get("status") or row.status)

    def reason(self, row: WorkerRow) -> str | None:
        """The worker's own reason, else the master's (both are Reason words)."""
        return row.reason or self.master.get(row.node, {}).get("reason")

    @property
    def all_ready(self) -> bool:
        return all(self.status(r) == NodeStatus.READY for r in self.rows)

    @property
    def ready(self) -> int:
        return sum(1 for r in self.rows if self.status(r) == NodeStatus.READY)

    @property
    def revoked(self) -> int:
        """Workers the chain put out (stake slashed, token revoked, ...): revoked, and their
        agent exited with its revocation code. That is the system working, not a failure."""
        return sum(
            1
            for r in self.rows
            if self.status(r) == NodeStatus.REVOKED and r.exit_code == EXIT_REVOKED
        )


_COLOURS: dict[str, str] = {
    NodeStatus.READY: "green",
    NodeStatus.REVOKED: "red",
    NodeStatus.NOT_READY: "yellow",
}


def table(snapshot: Snapshot) -> Table:
    """The live table: one row per worker, the master's view first."""
    out = Table(title="k3s-daas: workers admitted by stake", expand=False)
    columns = ("node", "key", "stake (MIST)", "tier", "permissions", "status", "last heartbeat")
    for column in columns:
        out.add_column(column)
    for row in snapshot.rows:
        seen = snapshot.master.get(row.node, {})
        status, reason = snapshot.status(row), snapshot.reason(row)
        colour = _COLOURS.get(status, "white")
        shown = status
        if row.exit_code not in (None, 0):
            shown, colour = f"exited ({row.reason or row.exit_code})", "white"
        elif reason and status != WorkerPhase.READY:
            shown = f"{status} ({reason})"
        out.add_row(
            row.node,
            row.key_scheme,
            str(row.stake),
            str(seen.get("tier") or row.tier or "-"),
            ", ".join(seen.get("permissions") or row.permissions) or "-",
            f"[{colour}]{shown}[/]",
            str(seen.get("last_heartbeat") or row.last_heartbeat or "-"),
        )
    return out


def summary(snapshot: Snapshot, timings: Timings, home: Path) -> dict[str, Any]:
    """The final JSON object of `up --for ... --json`."""
    return {
        "workers": [row.as_json() for row in snapshot.rows],
        "ready": snapshot.ready,
        "revoked": snapshot.revoked,
        "timings": timings.as_json(),
        "home": str(home),
    }
