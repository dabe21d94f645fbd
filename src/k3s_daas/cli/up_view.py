"""What `k3s-daas up` shows: the workers at one poll, as a live table or as the final JSON.

Statuses are the protocol's words: the master's `NodeStatus` when it knows the node, else the
agent's own `WorkerPhase`, and once an agent has exited the state it ended in; reasons are
`Reason` words, as kubectl shows them. The table fits 80 columns; `--wide` adds the details.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from k3s_daas.seal.amounts import short_amount
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
    WorkerPhase.FAILED: "red",
    NodeStatus.NOT_READY: "yellow",
    NodeStatus.EVICTED: "yellow",
}
TITLE = "k3s-daas: workers admitted by stake"


def final_state(snapshot: Snapshot, row: WorkerRow) -> tuple[str, str | None]:
    """The state a worker is in, or ENDED in once its agent exited (a slashed worker stays
    `revoked: stake_slashed`, never just `exited`), and why (a `Reason` word)."""
    reason = snapshot.reason(row)
    if row.exit_code == EXIT_REVOKED:
        return NodeStatus.REVOKED, reason
    if row.exit_code not in (None, 0):
        return WorkerPhase.FAILED, reason or f"exit {row.exit_code}"
    status = row.status if row.exit_code == 0 else snapshot.status(row)
    return status, None if status == NodeStatus.READY else reason


def status_text(snapshot: Snapshot, row: WorkerRow) -> str:
    """`revoked: stake_slashed`, `ready`, `staking`: the status column."""
    status, reason = final_state(snapshot, row)
    return f"{status}: {reason}" if reason else status


def age(timestamp: str | None, now: datetime) -> str:
    """How long ago an ISO timestamp was, in the largest whole unit (`3s ago`, `2m ago`)."""
    if not timestamp:
        return "-"
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return "?"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def caption(snapshot: Snapshot, timings: Timings) -> str:
    """One line under the table: how many are ready, since when, how many the chain revoked."""
    parts = [f"{snapshot.ready}/{len(snapshot.rows)} ready"]
    if timings.workers_ready_s is not None:
        parts.append(f"all ready after {timings.workers_ready_s:.1f} s")
    if snapshot.revoked:
        parts.append(f"{snapshot.revoked} revoked")
    return " · ".join(parts)


def table(
    snapshot: Snapshot,
    *,
    wide: bool = False,
    now: datetime | None = None,
    footer: str | None = None,
) -> Table:
    """The live table, 80 columns wide: node, tier, stake, status, heartbeat age; `wide` adds
    the key scheme, the permissions, the heartbeat count and time, and the agent's exit code."""
    now = now or datetime.now(UTC)
    out = Table(title=TITLE, caption=footer, box=box.SIMPLE_HEAD, expand=False)
    out.add_column("node", no_wrap=True)
    out.add_column("tier", no_wrap=True)
    out.add_column("stake", justify="right", no_wrap=True)
    out.add_column("status", no_wrap=True)
    out.add_column("heartbeat", no_wrap=True)
    if wide:
        for column in ("key", "permissions", "beats", "last heartbeat", "exit"):
            out.add_column(column)
    for row in snapshot.rows:
        seen = snapshot.master.get(row.node, {})
        status, _ = final_state(snapshot, row)
        last = seen.get("last_heartbeat") or row.last_heartbeat
        cells = [
            row.node,
            str(seen.get("tier") or row.tier or "-"),
            short_amount(row.stake),
            f"[{_COLOURS.get(status, 'cyan')}]{escape(status_text(snapshot, row))}[/]",
            age(last, now),
        ]
        if wide:
            cells += [
                row.key_scheme,
                ", ".join(seen.get("permissions") or row.permissions) or "-",
                str(row.heartbeats),
                str(last or "-"),
                "-" if row.exit_code is None else str(row.exit_code),
            ]
        out.add_row(*cells)
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
