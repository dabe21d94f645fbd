"""`up`'s live table and final JSON: the master's status when it knows the node, the worker's
phase otherwise, and reasons as the protocol's words (as kubectl shows them)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from k3s_daas.cli.up_view import Snapshot, Timings, WorkerRow, summary, table
from k3s_daas.worker.exits import EXIT_REVOKED


def row(
    node: str,
    status: str,
    reason: str | None = None,
    exit_code: int | None = None,
    key_scheme: str = "ed25519",
) -> WorkerRow:
    return WorkerRow(node=node, status=status, reason=reason, stake=100, key_scheme=key_scheme,
                     tier="basic", permissions=["pods:read"], last_heartbeat=None, heartbeats=2,
                     exit_code=exit_code)  # fmt: skip


def rendered(snapshot: Snapshot) -> str:
    console = Console(record=True, width=200)
    console.print(table(snapshot))
    return console.export_text()


def test_statuses_reasons_and_counts() -> None:
    snapshot = Snapshot(
        rows=[
            row("worker-1", "ready"),
            row("worker-2", "ready", exit_code=None),  # the master revoked it; agent still up
            row("worker-3", "revoked", "stake_slashed", EXIT_REVOKED),
            row("worker-4", "attesting"),
        ],
        master={
            "worker-1": {"status": "ready", "reason": None},
            "worker-2": {"status": "revoked", "reason": "stake_slashed"},
            "worker-3": {"status": "revoked", "reason": "stake_slashed"},
        },
    )
    assert [snapshot.status(r) for r in snapshot.rows] == [
        "ready", "revoked", "revoked", "attesting"
    ]  # fmt: skip
    assert (snapshot.ready, snapshot.revoked, snapshot.all_ready) == (1, 1, False)
    text = rendered(snapshot)
    assert "revoked (stake_slashed)" in text  # worker-2: the master's word
    assert "exited (stake_slashed)" in text  # worker-3: its agent's exit reason
    assert "attesting" in text
    assert "slashed)" not in text.replace("stake_slashed)", "")


def test_final_json() -> None:
    timings = Timings(started=0.0, devnet_s=1.0, master_s=2.0, workers_ready_s=3.0)
    snapshot = Snapshot(
        [row("worker-1", "ready", key_scheme="secp256r1")], {"worker-1": {"status": "ready"}}
    )
    out = summary(snapshot, timings, Path("/tmp/h"))
    assert out == {
        "workers": [{"node": "worker-1", "status": "ready", "reason": None, "stake": 100,
                     "key_scheme": "secp256r1", "tier": "basic", "permissions": ["pods:read"], "last_heartbeat": None,
                     "heartbeats": 2, "exit_code": None}],
        "ready": 1, "revoked": 0,
        "timings": {"devnet_s": 1.0, "master_s": 2.0, "workers_ready_s": 3.0},
        "home": "/tmp/h",
    }  # fmt: skip


def test_table_shows_each_workers_key_scheme() -> None:
    schemes = ["ed25519", "secp256k1", "secp256r1"]
    snapshot = Snapshot(
        [row(f"worker-{i}", "ready", key_scheme=k) for i, k in enumerate(schemes, 1)], {}
    )
    lines = rendered(snapshot).splitlines()
    for i, scheme in enumerate(schemes, 1):
        line = next(x for x in lines if f"worker-{i} " in x)
        assert scheme in line
