"""Every expected CLI error is one line that names the next step, and `--home` moves every default
under it (the same as K3S_DAAS_HOME)."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from harness.processes import CLI
from k3s_daas.chain import ChainUnavailable, Deployment, FaucetError
from k3s_daas.cli._common import error_line

OBJECT = "0x" + "ab" * 32


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("K3S_DAAS_")}
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=60, env={**clean, **(env or {})}
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _deployment(home: Path, endpoint: str) -> Path:
    path = home / "devnet" / "devnet.json"
    Deployment.model_validate(
        {
            "chain_id": "test",
            "grpc_endpoints": [endpoint],
            "package_id": OBJECT,
            "pool_id": OBJECT,
            "enclave_config_id": OBJECT,
        }
    ).save(path)
    return path


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_chain_unavailable_suggests_the_devnet_or_endpoint() -> None:
    line = error_line(ChainUnavailable("no chain endpoint answered"))
    assert "(chain_unavailable)" in line
    assert "k3s-daas devnet start" in line and "--endpoint" in line


def test_address_in_use_suggests_port() -> None:
    line = error_line(OSError(errno.EADDRINUSE, "address already in use"))
    assert "--port" in line and "\n" not in line


def test_missing_deployment_suggests_devnet_start_or_import(tmp_path: Path) -> None:
    line = one_line(run("stake", "--amount", "100", "--user", "--home", str(tmp_path)))
    assert str(tmp_path / "devnet" / "devnet.json") in line  # --home moved the default
    assert "k3s-daas devnet start" in line and "k3s-daas chain import-publish" in line


def test_missing_key_suggests_keys_new(tmp_path: Path) -> None:
    _deployment(tmp_path, f"127.0.0.1:{_dead_port()}")
    line = one_line(run("stake", "--amount", "100", "--user", "--home", str(tmp_path)))
    assert str(tmp_path / "keys" / "default.key") in line
    assert "k3s-daas keys new" in line


def test_home_flag_and_env_var_are_the_same(tmp_path: Path) -> None:
    _deployment(tmp_path, f"127.0.0.1:{_dead_port()}")
    made = run("keys", "new", "--json", env={"K3S_DAAS_HOME": str(tmp_path)})
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["path"] == str(tmp_path / "keys" / "default.key")
    line = one_line(run("token", "list", "--home", str(tmp_path)))
    assert "(chain_unavailable)" in line and "k3s-daas devnet start" in line


def test_an_env_var_is_an_option_and_the_flag_wins(tmp_path: Path) -> None:
    first = tmp_path / "a.key"
    made = run("keys", "new", "--json", env={"K3S_DAAS_KEYS_NEW_OUTPUT": str(first)})
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["path"] == str(first)
    other = tmp_path / "b.key"
    made = run(
        "keys", "new", "-o", str(other), "--json", env={"K3S_DAAS_KEYS_NEW_OUTPUT": str(first)}
    )
    assert json.loads(made.stdout)["path"] == str(other)


def test_master_port_in_use_suggests_port_before_touching_the_chain(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        line = one_line(run("nautilus", "start", "--port", port, "--home", str(tmp_path)))
    assert f"127.0.0.1:{port} is in use" in line
    assert "pass --port with a free port, or --port 0" in line
    assert not (tmp_path / "nautilus" / "nautilus.json").exists()


@pytest.mark.parametrize(
    ("args", "fragment", "command"),
    [
        (("up", "--workers", "0"), "Invalid value for '--workers'", "k3s-daas up"),
        (("stake", "--bogus"), "No such option: --bogus", "k3s-daas stake"),
        (("token", "inspect"), "Missing argument 'token'", "k3s-daas token inspect"),
        (("nosuch",), "No such command 'nosuch'", "k3s-daas"),
    ],
)
def test_a_usage_error_is_one_line_naming_the_help(
    args: tuple[str, ...], fragment: str, command: str
) -> None:
    result = run(*args)
    line = one_line(result)
    assert result.returncode == 2 and not result.stdout
    assert line.startswith("error: ") and fragment in line
    assert line.endswith(f"(see `{command} --help`)")


def test_no_arguments_still_print_the_help() -> None:
    result = run("token")
    assert result.returncode == 2
    assert "inspect" in result.stdout and "error" not in result.stderr


def test_faucet_unreachable_suggests_the_devnet() -> None:
    line = error_line(FaucetError("faucet not reachable at http://x", reason="faucet_unreachable"))
    assert "(faucet_unreachable)" in line and "k3s-daas devnet start" in line and "--data" in line
