"""deploy/systemd: every unit passes `systemd-analyze verify` (systemd is a Debian package
`make services` installs), each command it runs is a real `k3s-daas` command line, and the worker
unit keeps a revoked node down: its RestartPreventExitStatus is the agent's revocation exit code.

`verify` runs against a scratch root holding a copy of the host's own units plus TEST DOUBLES for what
cannot be installed here: a stand-in executable at /usr/local/bin/k3s-daas (the command lines
are checked separately against the real CLI) and, for the enclave unit, nitro-cli and its
allocator service (AWS Nitro Enclaves CLI; no Debian package)."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.processes import CLI
from k3s_daas.worker.exits import EXIT_REVOKED
from tests.conftest import require_tool

UNITS = sorted((Path(__file__).resolve().parents[2] / "deploy" / "systemd").glob("*.service"))
STAND_IN = "#!/bin/sh\n# TEST DOUBLE: only its presence is verified\n"


def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool(shutil.which("systemd-analyze") is not None, "systemd-analyze (Debian: systemd)")
    base = next(p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                if (p / "sysinit.target").exists())  # fmt: skip
    top = tmp_path_factory.mktemp("root")
    shutil.copytree(base, top / "usr/lib/systemd/system", symlinks=True)  # the host's units
    units = top / "etc/systemd/system"
    units.mkdir(parents=True)
    for exe in ("usr/local/bin/k3s-daas", "usr/bin/nitro-cli"):
        (top / exe).parent.mkdir(parents=True, exist_ok=True)
        (top / exe).write_text(STAND_IN)
        (top / exe).chmod(0o755)
    (units / "nitro-enclaves-allocator.service").write_text(
        "[Unit]\nDescription=TEST DOUBLE\n[Service]\nType=oneshot\nExecStart=/usr/bin/nitro-cli\n"
    )
    return top


def verify(root: Path, name: str, text: str) -> subprocess.CompletedProcess[str]:
    path = root / "etc/systemd/system" / name
    path.write_text(text)
    return subprocess.run(["systemd-analyze", "verify", f"--root={root}", str(path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_the_four_units_are_there() -> None:
    assert [u.name for u in UNITS] == [
        "k3s-daas-enclave.service", "k3s-daas-master.service",
        "k3s-daas-vsock-proxy.service", "k3s-daas-worker.service",
    ]  # fmt: skip


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify_passes_without_a_warning(root: Path, path: Path) -> None:
    result = verify(root, path.name, path.read_text())
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stderr


def test_verify_would_catch_a_mistake(root: Path) -> None:
    broken = UNITS[-1].read_text().replace("RestartPreventExitStatus", "RestartPreventExitStatuz")
    assert "Unknown key" in verify(root, "broken.service", broken).stderr
    missing = UNITS[-1].read_text().replace("/usr/local/bin/k3s-daas", "/usr/local/bin/k3s-daaz")
    assert verify(root, "missing.service", missing).returncode != 0


def test_the_worker_unit_keeps_a_revoked_node_down() -> None:
    service = unit(next(u for u in UNITS if u.name == "k3s-daas-worker.service"))["Service"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == str(EXIT_REVOKED) == "3"
    assert service["KillMode"] == "process"  # SIGTERM to the agent: it leaves, k3s agent stops


@pytest.mark.parametrize(
    "path",
    [u for u in UNITS if unit(u)["Service"]["ExecStart"].startswith("/usr/local/bin/")],
    ids=lambda p: p.name,
)
def test_every_command_line_is_one_the_cli_accepts(path: Path) -> None:
    argv = shlex.split(unit(path)["Service"]["ExecStart"])
    assert argv[0] == "/usr/local/bin/k3s-daas"
    if argv[1] == "vsock-proxy":  # its forwards come from the environment file
        argv += ["--forward", "tcp:127.0.0.1:1=vsock:16:8443"]
    result = subprocess.run([CLI, *argv[1:], "--help"], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
