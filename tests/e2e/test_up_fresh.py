"""`up` after the README's slash demo: `--resume` continues the slashed chain, a plain `up`
starts a fresh one (worker ready again) and says in one line where the old state went."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.processes import CLI, wait_for


def up(home: Path, seconds: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "up", "--workers", "1", "--for", f"{seconds}s", "--json", "--home", str(home),
         "--heartbeat-interval", "0.5", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finished(proc: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    """The final JSON and what `up` said on stderr."""
    try:
        stdout, stderr = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1]), stderr


def worker_1(final: dict[str, Any]) -> tuple[str, str | None, int | None]:
    row = final["workers"][0]
    return row["status"], row["reason"], row["exit_code"]


@pytest.mark.timeout(300)
def test_resume_continues_the_slashed_chain_and_a_plain_up_starts_fresh(tmp_path: Path) -> None:
    home = tmp_path / "k3s-daas"
    first = up(home, 18)
    state = home / "workers" / "worker-1" / "state.json"

    def ready() -> bool:
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        return state.exists() and '"ready"' in state.read_text()

    wait_for(ready, timeout=120, interval=0.3)
    slash = subprocess.run(
        [CLI, "devnet", "slash", "worker-1", "--deployment", str(home / "devnet" / "devnet.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert slash.returncode == 0, slash.stderr
    final, said = finished(first)
    assert f"fresh start in {home}" in said
    assert worker_1(final) == ("revoked", "stake_slashed", 3)

    final, said = finished(up(home, 10, "--resume"))
    assert f"resuming the previous chain and master state in {home} (--resume)" in said
    assert worker_1(final) == ("revoked", "stake_slashed", 3)  # the same chain: still slashed
    assert (final["ready"], final["revoked"]) == (0, 1)

    final, said = finished(up(home, 15))
    line = next(ln for ln in said.splitlines() if ln.startswith("fresh start"))
    previous = Path(line.split(" is in ")[1].split(" (")[0])
    assert previous.parent == home / "previous"
    assert line.endswith("(`up --resume` continues it)")
    assert (previous / "devnet" / "ledger.sqlite3").exists()
    assert (previous / "workers" / "worker-1" / "state.json").exists()
    assert worker_1(final) == ("ready", None, None)  # a new chain: nothing slashed
    assert (final["ready"], final["revoked"]) == (1, 0)
    assert final["timings"]["workers_ready_s"] is not None
