"""`devnet start` as a user runs it twice: the second start on a running devnet's directory
names it in one line and changes nothing; a port in use names `--port` and leaves no
directory behind; a stopped devnet's directory starts again."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from harness.devnet import DevnetProcess
from harness.processes import CLI, free_port


def start(data: Path, port: int, faucet_port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "devnet", "start", "--data", str(data), "--port", str(port),
         "--faucet-port", str(faucet_port)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_a_second_start_names_the_running_devnet_and_changes_nothing(
    devnet_factory: Callable[[], DevnetProcess],
) -> None:
    first = devnet_factory()
    before = (first.data_dir / "devnet.json").read_text()
    line = error_line(start(first.data_dir, 0, 0))
    assert f"devnet already running at 127.0.0.1:{first.grpc_port} (pid {first.proc.pid})" in line
    assert line.endswith("(devnet_running)")
    assert (first.data_dir / "devnet.json").read_text() == before  # still points at the live one
    assert first.proc.poll() is None
    first.advance_epoch()  # and it still serves
    first.stop()
    first.start()  # a stopped devnet's directory is free again (and resumes its chain)
    assert first.deployment.chain_id in before


def test_a_port_in_use_names_the_flag_and_leaves_no_directory(
    devnet_factory: Callable[[], DevnetProcess], tmp_path: Path
) -> None:
    running = devnet_factory()
    fresh = tmp_path / "home" / "devnet"
    line = error_line(start(fresh, running.grpc_port, free_port()))
    assert f"127.0.0.1:{running.grpc_port} is in use (address already in use)" in line
    assert "pass --port" in line and "--port 0" in line
    assert not fresh.exists()
    assert not (tmp_path / "home").exists()  # nothing at all: the ports are checked first
    line = error_line(start(fresh, free_port(), running.faucet_port))
    assert "pass --faucet-port" in line
    assert not fresh.exists()
