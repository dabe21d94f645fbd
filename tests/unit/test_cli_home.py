"""State and keys live under the home directory ($K3S_DAAS_HOME, default ~/.k3s-daas), private:
`keys new` never writes into the current directory, and git ignores key and token files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.processes import CLI
from k3s_daas.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
        env={**os.environ, **env},
    )  # fmt: skip


def test_the_default_home_is_in_the_users_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K3S_DAAS_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/someone")
    assert Settings().home == Path("/home/someone/.k3s-daas")
    monkeypatch.setenv("K3S_DAAS_HOME", "~/elsewhere")
    assert Settings().home == Path("/home/someone/elsewhere")


def test_keys_new_writes_a_private_key_under_home_never_here(tmp_path: Path) -> None:
    home, here = tmp_path / "home", tmp_path / "here"
    here.mkdir()
    made = run("keys", "new", "--json", cwd=here, env={"K3S_DAAS_HOME": str(home)})
    assert made.returncode == 0, made.stderr
    key = home / "keys" / "default.key"
    assert str(key) in made.stdout
    assert key.stat().st_mode & 0o777 == 0o600
    assert (home / "keys").stat().st_mode & 0o777 == 0o700
    assert list(here.iterdir()) == []
    named = run("keys", "new", "--name", "me", cwd=here, env={"K3S_DAAS_HOME": str(home)})
    assert named.returncode == 0 and (home / "keys" / "me.key").exists()
    again = run("keys", "new", cwd=here, env={"K3S_DAAS_HOME": str(home)})
    assert again.returncode == 1 and "exists" in again.stderr  # never overwritten silently
    escape = run("keys", "new", "--name", "../x", cwd=here, env={"K3S_DAAS_HOME": str(home)})
    assert escape.returncode == 1 and "key name" in escape.stderr
    assert not (home / "x.key").exists()


def test_git_ignores_keys_and_tokens() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["me.key", "sub/dir/worker.key", "token.json", "x/token.json", ".k3s-daas/anything"]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert sorted(result.stdout.split()) == sorted(paths)
