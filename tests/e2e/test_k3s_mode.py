"""K3s mode end to end: a real devnet, a real master with `cluster=k3s` and a real worker agent in
`mode=k3s`. The two parts that cannot exist here are TEST DOUBLES (tests/fixtures/k3s.py): the
kube-apiserver (recorded request/response shapes over real HTTPS) and the `k3s` binary (records
its argv, pid and K3S_TOKEN).

Checked: the worker gets a per-node bootstrap token only in its signed registration answer, as
`K10<CA hash>::<id>.<secret>` matching the `kube-system/bootstrap-token-<id>` Secret the master
created; `k3s agent` is started with it in the environment, never in argv or in any log or state
file; a slash stops `k3s agent`, runs the node's container teardown (`k3s_killall`, a TEST DOUBLE of
K3s's killall script) once, the worker exits 3, and the master deletes the node's bootstrap
tokens and cordons and deletes its Node. The agent serves its metrics on a local port.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess
from harness.processes import CLI, stop_process, wait_for
from harness.workers import ready, start_worker, state
from k3s_daas.kube.k3s import ca_hash
from tests.fixtures.k3s import (
    SECRETS_PATH,
    k3s_calls,
    killall_runs,
    running_apiserver,
    write_fake_k3s,
    write_fake_killall,
)

K3S_SERVER = "https://127.0.0.1:6443"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by the worker) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


@pytest.mark.timeout(240)
def test_k3s_join_token_then_slash_tears_the_node_down(
    devnet: DevnetProcess, master_factory: Any, tmp_path: Path
) -> None:
    with running_apiserver(tmp_path) as apiserver:
        assert apiserver.identity is not None
        master: MasterProcess = master_factory(
            K3S_DAAS_NAUTILUS_CLUSTER="k3s",
            K3S_DAAS_NAUTILUS_K3S_KUBECONFIG=str(apiserver.write_kubeconfig(tmp_path / "k3s.yaml")),
            K3S_DAAS_NAUTILUS_K3S_SERVER_URL=K3S_SERVER,
        )
        exe, k3s_log = write_fake_k3s(tmp_path)
        killall, killall_log = write_fake_killall(tmp_path)
        proc, folder = start_worker(
            tmp_path, devnet, [master], "k3s-w1", 1_000, mode="k3s", k3s_binary=str(exe),
            k3s_killall=str(killall),
        )  # fmt: skip
        try:
            wait_for(lambda: ready(folder) or proc.poll() is not None, timeout=90)
            assert proc.poll() is None, (folder / "worker.log").read_text()[-2000:]
            wait_for(lambda: len(k3s_calls(k3s_log)) >= 1, timeout=20)
            [call] = k3s_calls(k3s_log)
            assert call["argv"] == ["agent", "--server", K3S_SERVER, "--node-name", "k3s-w1"]
            token = call["token"]
            ca = ca_hash(apiserver.identity.ca_path.read_bytes())
            match = re.fullmatch(rf"K10{ca}::([a-z0-9]{{6}})\.([a-z0-9]{{16}})", token)
            assert match, token
            secret_name = f"bootstrap-token-{match.group(1)}"
            assert apiserver.secret_token(secret_name) == f"{match.group(1)}.{match.group(2)}"
            labels = apiserver.secrets[secret_name]["metadata"]["labels"]
            assert labels == {"k3s-daas.io/node": "k3s-w1"}
            # the join secret appears nowhere but in k3s agent's environment
            for path in (folder / "state.json", folder / "worker.log", master.log_path):
                assert match.group(2) not in path.read_text(), path
            assert master.workers()["k3s-w1"]["status"] == "ready"
            scraped = httpx.get(state(folder)["metrics_url"], timeout=10).text
            assert 'k3s_daas_worker_phase{phase="ready"} 1.0' in scraped
            assert killall_runs(killall_log) == 0

            apiserver.nodes.add("k3s-w1")  # what the kubelet does once it joined
            slash = subprocess.run(
                [CLI, "devnet", "slash", "k3s-w1",
                 "--deployment", str(devnet.data_dir / "devnet.json")],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert slash.returncode == 0, slash.stderr
            proc.wait(timeout=60)
            assert proc.returncode == 3
            assert state(folder)["reason"] == "stake_slashed"
            assert not alive(int(call["pid"])), "k3s agent still runs after the slash"
            assert killall_runs(killall_log) == 1  # the node's containers stopped too
            wait_for(lambda: "k3s-w1" not in apiserver.nodes, timeout=20)
            assert not apiserver.secrets
            teardown = [c for c in apiserver.calls() if c[0] != "POST"]
            assert teardown == [
                ("GET", SECRETS_PATH),  # the node's tokens, by label selector
                ("DELETE", f"{SECRETS_PATH}/{secret_name}"),
                ("PATCH", "/api/v1/nodes/k3s-w1"),
                ("DELETE", "/api/v1/nodes/k3s-w1"),
            ]
            assert master.workers()["k3s-w1"]["status"] == "revoked"
        finally:
            stop_process(proc)


@pytest.mark.timeout(180)
def test_k3s_worker_refuses_a_standalone_master(
    devnet: DevnetProcess, master: MasterProcess, tmp_path: Path
) -> None:
    exe, k3s_log = write_fake_k3s(tmp_path)
    killall, killall_log = write_fake_killall(tmp_path)
    proc, folder = start_worker(
        tmp_path, devnet, [master], "k3s-lost", 1_000, mode="k3s", k3s_binary=str(exe),
        k3s_killall=str(killall),
    )  # fmt: skip
    try:
        proc.wait(timeout=90)
        assert proc.returncode == 1
        assert state(folder)["reason"] == "no_join_token"
        assert k3s_calls(k3s_log) == []
        assert killall_runs(killall_log) == 0  # a failure, not a revocation: containers stay
    finally:
        stop_process(proc)
