"""Real kubectl 1.37 against the standalone API over HTTPS (uvicorn, ServerIdentity), with the
in-memory NodeSource/Authenticator doubles standing in for the master's registry and validator."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import queue
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Protocol

import pytest
import yaml

from harness.processes import CLI, stop_process
from k3s_daas.seal.protocol import NodeStatus
from tests.fixtures.kube import Kubectl, KubeServer, seal_token, token_kubeconfig


class MakeKubeconfig(Protocol):
    """The `kc` fixture: a kubeconfig for a role's token (or an explicit token)."""

    def __call__(self, role: str = "basic", token: str | None = None) -> Path: ...


@pytest.fixture
def kc(kube_server: KubeServer, tmp_path: Path) -> MakeKubeconfig:
    def make(role: str = "basic", token: str | None = None) -> Path:
        return token_kubeconfig(
            tmp_path / f"kc-{role}",
            kube_server.url,
            kube_server.identity.ca_pem,
            token or kube_server.tokens[role],
        )

    return make


def _rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.strip().splitlines()]


def test_get_nodes_prints_stake_columns(kubectl: Kubectl, kc: MakeKubeconfig) -> None:
    result = kubectl(kc(), "get", "nodes")
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert rows[0] == ["NAME", "STATUS", "TIER", "STAKE", "AGE", "LAST-HEARTBEAT"]
    by_name = {r[0]: r for r in rows[1:]}
    assert sorted(by_name) == ["node-a", "node-b", "node-c"]
    assert by_name["node-a"][1:4] == ["Ready", "standard", "1000"]
    assert by_name["node-b"][1:4] == ["NotReady", "premium", "10000"]
    assert by_name["node-c"][1:4] == ["Ready", "basic", "100"]
    assert by_name["node-c"][5] == "<none>"
    assert re.fullmatch(r"[5-9]m(\d+s)?", by_name["node-a"][4])  # created 5 minutes before start


def test_get_nodes_wide_adds_owner_permissions_pods_token(
    kubectl: Kubectl, kc: MakeKubeconfig
) -> None:
    result = kubectl(kc(), "get", "nodes", "-o", "wide")
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert rows[0][-4:] == ["OWNER", "PERMISSIONS", "PODS", "TOKEN"]
    node_a = next(r for r in rows if r[0] == "node-a")
    assert node_a[-4:] == [
        "0x" + "ab" * 32,
        "pods:read,services:read,nodes:write,pods:write",
        "2",
        "fpnode-a",
    ]


def test_get_node_yaml_is_a_node_object(kubectl: Kubectl, kc: MakeKubeconfig) -> None:
    result = kubectl(kc(), "get", "node", "node-b", "-o", "yaml")
    assert result.returncode == 0, result.stderr
    node = yaml.safe_load(result.stdout)
    assert node["kind"] == "Node"
    assert node["metadata"]["name"] == "node-b"
    assert node["metadata"]["labels"]["k3s-daas.io/tier"] == "premium"
    assert node["metadata"]["annotations"]["k3s-daas.io/stake"] == "10000"
    ready = node["status"]["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == (
        "Ready",
        "False",
        "HeartbeatMissed",
    )


def test_describe_node(kubectl: Kubectl, kc: MakeKubeconfig) -> None:
    result = kubectl(kc(), "describe", "node", "node-a")
    assert result.returncode == 0, result.stderr
    assert "Name:               node-a" in result.stdout
    assert "SealStakeActive" in result.stdout
    assert "k3s-daas.io/tier=standard" in result.stdout
    assert "Non-terminated Pods:          (0 in total)" in result.stdout
    assert "HolderIdentity:  node-a" in result.stdout
    assert "Failed to get lease" not in result.stdout


def test_missing_node_is_not_found(kubectl: Kubectl, kc: MakeKubeconfig) -> None:
    result = kubectl(kc(), "get", "node", "nope")
    assert result.returncode != 0
    assert 'Error from server (NotFound): nodes "nope" not found' in result.stderr


def test_writes_are_refused_as_status(kubectl: Kubectl, kc: MakeKubeconfig) -> None:
    result = kubectl(kc("premium"), "delete", "node", "node-a")
    assert result.returncode != 0
    assert "MethodNotAllowed" in result.stderr and "read-only" in result.stderr


def test_version(kubectl: Kubectl, kc: MakeKubeconfig) -> None:
    result = kubectl(kc(), "version")
    assert result.returncode == 0, result.stderr
    assert "Server Version: v1.36.0-k3s-daas" in result.stdout


def test_whoami_user_token(kubectl: Kubectl, kc: MakeKubeconfig, kube_server: KubeServer) -> None:
    result = kubectl(kc("standard"), "auth", "whoami", "-o", "json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)["status"]["userInfo"]
    claims = kube_server.claims["standard"]
    assert info["username"] == f"seal:{claims.owner}"
    assert info["groups"] == [
        "seal:tier:standard",
        "seal:perm:pods:read",
        "seal:perm:services:read",
        "seal:perm:nodes:write",
        "seal:perm:pods:write",
        "system:authenticated",
    ]


def test_whoami_node_token(kubectl: Kubectl, kc: MakeKubeconfig) -> None:
    result = kubectl(kc("node"), "auth", "whoami")
    assert result.returncode == 0, result.stderr
    assert "system:node:node-a" in result.stdout
    assert "system:nodes" in result.stdout


@pytest.mark.parametrize(
    ("role", "args", "answer"),
    [
        ("basic", ["get", "pods"], "yes"),
        ("basic", ["create", "nodes"], "no"),
        ("basic", ["delete", "pods"], "no"),
        ("standard", ["create", "nodes"], "yes"),
        ("standard", ["exec", "pods"], "no"),
        ("premium", ["delete", "deployments.apps"], "yes"),
        ("node", ["get", "nodes"], "yes"),
        ("node", ["patch", "nodes/node-a"], "yes"),
        ("node", ["patch", "nodes/node-b"], "no"),
        ("node", ["delete", "nodes"], "no"),
    ],
)
def test_can_i(
    kubectl: Kubectl, kc: MakeKubeconfig, role: str, args: list[str], answer: str
) -> None:
    result = kubectl(kc(role), "auth", "can-i", *args)
    assert result.stdout.strip().splitlines()[0].split()[0] == answer, result.stderr
    assert result.returncode == (0 if answer == "yes" else 1)


def test_bad_token_must_log_in(kubectl: Kubectl, kc: MakeKubeconfig) -> None:
    result = kubectl(kc("bad", token=seal_token(200)), "get", "nodes")
    assert result.returncode != 0
    assert "You must be logged in to the server" in result.stderr


def test_exec_credential_kubeconfig(
    kubectl: Kubectl, kube_server: KubeServer, tmp_path: Path
) -> None:
    """`k3s-daas kubeconfig` + the real `k3s-daas exec-credential` plugin, token file and state."""
    ca = tmp_path / "ca.crt"
    ca.write_bytes(kube_server.identity.ca_pem)
    token_file = tmp_path / "token.json"
    token_file.write_text(
        json.dumps({"token": kube_server.tokens["premium"], "expires_at": "2099-01-01T00:00:00Z"})
    )
    state = tmp_path / "worker-state.json"
    state.write_text(
        json.dumps(
            {
                "node_id": "node-a",
                "token": kube_server.tokens["node"],
                "token_expires_at": "2099-01-01T00:00:00Z",
                "status": "ready",
            }
        )
    )
    for source, flag, user in (
        (token_file, "--token-file", f"seal:{kube_server.claims['premium'].owner}"),
        (state, "--worker-state", "system:node:node-a"),
    ):
        out = tmp_path / f"kubeconfig-{source.stem}"
        made = subprocess.run(
            [
                CLI,
                "kubeconfig",
                "--master-url",
                kube_server.url,
                "--ca",
                str(ca),
                flag,
                str(source),
                "-o",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr
        assert out.stat().st_mode & 0o777 == 0o600
        exec_cfg = json.loads(out.read_text())["users"][0]["user"]["exec"]
        assert exec_cfg["args"] == ["exec-credential", flag, str(source.resolve())]
        result = kubectl(out, "auth", "whoami", "-o", "json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["status"]["userInfo"]["username"] == user
        listed = kubectl(out, "get", "nodes", "-o", "name")
        assert listed.returncode == 0, listed.stderr
        assert "node/node-a" in listed.stdout


def _reader(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)


def _wait_line(lines: queue.Queue[str], needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not seen in {seen}")


def test_watch_sees_revocation(
    kubectl: Kubectl, kc: MakeKubeconfig, kube_server: KubeServer
) -> None:
    proc = subprocess.Popen(
        kubectl.argv(
            kc(), "get", "nodes", "--watch", "--output-watch-events", "--request-timeout=60s"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kubectl.env(),
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(proc, lines), daemon=True).start()
    original = asyncio.run(kube_server.nodes.get_node("node-c"))
    assert original is not None
    try:
        assert _wait_line(lines, "node-c").split()[0] == "ADDED"
        kube_server.nodes.put(
            dataclasses.replace(original, status=NodeStatus.REVOKED, reason="stake_slashed")
        )
        line = _wait_line(lines, "Revoked(stake_slashed)")
        assert line.split()[:2] == ["MODIFIED", "node-c"]
    finally:
        stop_process(proc)
        kube_server.nodes.put(original)
