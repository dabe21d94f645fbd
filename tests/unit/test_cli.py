"""The CLI: version, help, and one clear line with a non-zero exit for every user mistake."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.processes import CLI


def run(*args: str, cwd: Path | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=60, cwd=cwd, input=stdin
    )


def test_version_and_help() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("k3s-daas ")
    assert "keys" in run("--help").stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("token", "inspect", "seal_abc"), "133 characters"),
        (("token", "inspect", "mock_seal_" + "a" * 123), "must start with 'seal_'"),
        (("keys", "show", "/nonexistent/key"), "create one with `k3s-daas keys new"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(args: tuple[str, ...], fragment: str) -> None:
    result = run(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


def test_token_inspect_never_prints_the_secret() -> None:
    secret = "cd" * 32
    result = run("token", "inspect", "seal_" + "ab" * 32 + secret)
    assert result.returncode == 0
    assert ("0x" + "ab" * 32) in result.stdout
    assert secret not in result.stdout


def test_keys_new_show_import(tmp_path: Path) -> None:
    made = run("keys", "new", "-o", str(tmp_path / "a.key"), "--json")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "a.key").stat().st_mode & 0o777 == 0o600
    assert run("keys", "new", "-o", str(tmp_path / "a.key")).returncode == 1  # no overwrite
    shown = run("keys", "show", str(tmp_path / "a.key"))
    assert "suiprivkey" not in shown.stdout  # private key only on request
    private = run("keys", "show", str(tmp_path / "a.key"), "--show-private-key", "--json")
    key_text = next(ln for ln in private.stdout.splitlines() if "private_key" in ln)
    key_text = key_text.split('"')[3]
    imported = run("keys", "import", "-o", str(tmp_path / "b.key"), stdin=key_text)
    assert imported.returncode == 0, imported.stderr
    address = next(ln for ln in shown.stdout.splitlines() if ln.startswith("address"))
    assert address.split()[1] in imported.stdout
    bad = run("keys", "import", "-o", str(tmp_path / "c.key"), stdin="garbage")
    assert bad.returncode == 1
    assert "invalid_key" in bad.stderr
    assert not (tmp_path / "c.key").exists()
