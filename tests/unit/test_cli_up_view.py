"""`up`'s live table and final JSON: the master's status when it knows the node, the worker's
phase otherwise, the state a worker ENDED in once its agent exited, reasons as the protocol's
words (as kubectl shows them), and a table that fits 80 columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from k3s_daas.cli.up_view import Snapshot, Timings, WorkerRow, age, caption, summary, table
from k3s_daas.worker.exits import EXIT_REVOKED

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def row(
    node: str,
    status: str,
    reason: str | None = None,
    exit_code: int | None = None,
    stake: int = 100,
    tier: str = "basic",
    key_scheme: str = "ed25519",
) -> WorkerRow:
    return WorkerRow(node=node, status=status, reason=reason, stake=stake, key_scheme=key_scheme,
                     tier=tier,
                     permissions=["pods:read", "services:read", "nodes:write", "pods:write", "*:*"],
                     last_heartbeat=(NOW - timedelta(seconds=3)).isoformat(), heartbeats=2,
                     exit_code=exit_code)  # fmt: skip


def rendered(snapshot: Snapshot, width: int = 200, wide: bool = False) -> str:
    console = Console(record=True, width=width)
    console.print(table(snapshot, wide=wide, now=NOW, footer="footer"))
    return console.export_text()


def status_cells(text: str) -> dict[str, str]:
    """node -> the rest of its line, for the rows of the table."""
    return {
        line.split()[0]: line for line in text.splitlines() if line.strip().startswith("worker-")
    }


def test_statuses_reasons_and_counts() -> None:
    snapshot = Snapshot(
        rows=[
            row("worker-1", "ready"),
            row("worker-2", "ready", exit_code=None),  # the master revoked it; agent still up
            row("worker-3", "revoked", "stake_slashed", EXIT_REVOKED),
            row("worker-4", "attesting"),
            row("worker-5", "failed", None, 1),
        ],
        master={
            "worker-1": {"status": "ready", "reason": None},
            "worker-2": {"status": "revoked", "reason": "stake_slashed"},
            "worker-3": {"status": "revoked", "reason": "stake_slashed"},
        },
    )
    assert [snapshot.status(r) for r in snapshot.rows] == [
        "ready", "revoked", "revoked", "attesting", "failed"
    ]  # fmt: skip
    assert (snapshot.ready, snapshot.revoked, snapshot.all_ready) == (1, 1, False)
    cells = status_cells(rendered(snapshot))
    assert "revoked: stake_slashed" in cells["worker-2"]  # the master's word
    assert "revoked: stake_slashed" in cells["worker-3"]  # its agent exited 3: still revoked
    assert "attesting" in cells["worker-4"]
    assert "failed: exit 1" in cells["worker-5"]
    assert "exited" not in rendered(snapshot)


def test_a_slashed_worker_stays_revoked_after_its_agent_exits() -> None:
    """Before: `revoked` for one refresh, then `exited`. The agent's exit does not change it,
    even once the master no longer lists the node."""
    master = {"worker-2": {"status": "revoked", "reason": "stake_slashed"}}
    running = Snapshot([row("worker-2", "revoked", "stake_slashed")], master)
    exited = Snapshot([row("worker-2", "revoked", "stake_slashed", EXIT_REVOKED)], master)
    forgotten = Snapshot([row("worker-2", "revoked", "stake_slashed", EXIT_REVOKED)], {})
    for snapshot in (running, exited, forgotten):
        assert "revoked: stake_slashed" in status_cells(rendered(snapshot))["worker-2"]


def test_the_table_fits_80_columns_without_cutting_the_essentials() -> None:
    snapshot = Snapshot(
        rows=[
            row("worker-1", "ready", stake=100),
            row("worker-2", "revoked", "stake_slashed", EXIT_REVOKED, 1_000, "standard"),
            row("worker-3", "ready", stake=10_000, tier="premium", key_scheme="secp256k1"),
            row("worker-10", "ready", stake=2_500_000_000, tier="premium"),
            row("worker-11", "not_ready", "missed_heartbeats", tier="standard"),
            row("worker-12", "revoked", "stake_withdrawing", EXIT_REVOKED, tier="standard"),
        ],
        master={"worker-11": {"status": "not_ready", "reason": "missed_heartbeats"}},
    )
    text = rendered(snapshot, width=80)
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert "…" not in text  # nothing cut
    cells = status_cells(text)
    assert len(cells) == 6  # one line per worker: nothing wrapped
    expected = {
        "worker-1": ("basic", "100 MIST", "ready", "3s ago"),
        "worker-2": ("standard", "1000 MIST", "revoked: stake_slashed", "3s ago"),
        "worker-3": ("premium", "10000 MIST", "ready", "3s ago"),
        "worker-10": ("premium", "2.5 SUI", "ready", "3s ago"),
        "worker-11": ("standard", "100 MIST", "not_ready: missed_heartbeats", "3s ago"),
        "worker-12": ("standard", "100 MIST", "revoked: stake_withdrawing", "3s ago"),
    }
    for node, parts in expected.items():
        for part in parts:
            assert part in cells[node], (node, part, cells[node])
    assert "pods:read" not in text  # permissions are behind --wide
    assert "secp256k1" not in text and "ed25519" not in text  # and so is the key scheme


def test_wide_adds_the_details() -> None:
    snapshot = Snapshot([row("worker-3", "revoked", "stake_slashed", EXIT_REVOKED)], {})
    text = rendered(snapshot, width=250, wide=True)
    assert "pods:read, services:read, nodes:write, pods:write, *:*" in text
    assert (NOW - timedelta(seconds=3)).isoformat() in text
    assert "permissions" in text and "exit" in text


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s ago"), (59, "59s ago"), (61, "1m ago"), (7300, "2h ago")]
)
def test_heartbeat_age(seconds: int, shown: str) -> None:
    assert age((NOW - timedelta(seconds=seconds)).isoformat(), NOW) == shown
    assert age(None, NOW) == "-"
    assert age("yesterday", NOW) == "?"


def test_caption_counts() -> None:
    snapshot = Snapshot(
        [row("worker-1", "ready"), row("worker-2", "revoked", "stake_slashed", EXIT_REVOKED)],
        {"worker-1": {"status": "ready"}},
    )
    timings = Timings(started=0.0, workers_ready_s=4.94)
    assert caption(snapshot, timings) == "1/2 ready · all ready after 4.9 s · 1 revoked"
    assert caption(snapshot, Timings()) == "1/2 ready · 1 revoked"


def test_final_json() -> None:
    timings = Timings(started=0.0, devnet_s=1.0, master_s=2.0, workers_ready_s=3.0)
    snapshot = Snapshot(
        [row("worker-1", "ready", key_scheme="secp256r1")], {"worker-1": {"status": "ready"}}
    )
    out = summary(snapshot, timings, Path("/tmp/h"))
    assert out == {
        "workers": [{"node": "worker-1", "status": "ready", "reason": None, "stake": 100,
                     "key_scheme": "secp256r1", "tier": "basic",
                     "permissions": ["pods:read", "services:read", "nodes:write", "pods:write",
                                     "*:*"],
                     "last_heartbeat": (NOW - timedelta(seconds=3)).isoformat(),
                     "heartbeats": 2, "exit_code": None}],
        "ready": 1, "revoked": 0,
        "timings": {"devnet_s": 1.0, "master_s": 2.0, "workers_ready_s": 3.0},
        "home": "/tmp/h",
    }  # fmt: skip


def test_wide_shows_each_workers_key_scheme() -> None:
    schemes = ["ed25519", "secp256k1", "secp256r1"]
    snapshot = Snapshot(
        [row(f"worker-{i}", "ready", key_scheme=k) for i, k in enumerate(schemes, 1)], {}
    )
    lines = rendered(snapshot, wide=True).splitlines()
    for i, scheme in enumerate(schemes, 1):
        line = next(x for x in lines if f"worker-{i} " in x)
        assert scheme in line
