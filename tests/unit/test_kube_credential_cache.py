"""The exec plugin's credential cache: a hit prints exactly what the full path prints, holds no
token, and every change to the token source (or an expired, foreign or loose entry) is a miss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.processes import CLI
from k3s_daas.__main__ import cached_exec_credential
from k3s_daas.kube.credential_cache import (
    SourceKind,
    entry_path,
    fingerprint,
    recall,
)
from k3s_daas.kube.exec_credential import exec_credential, load
from k3s_daas.seal import token_fingerprint
from tests.fixtures.kube import seal_token

TOKEN = seal_token(7)
OTHER = seal_token(8)
LATER = "2099-01-01T00:00:00Z"


def _full(kind: SourceKind, source: Path, home: Path) -> str:
    """What the full (Typer) path prints, caching as it goes."""
    return json.dumps(exec_credential(load(kind, source, cache_home=home))) + "\n"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token.json"
    path.write_text(json.dumps({"token": TOKEN, "expires_at": LATER}))
    path.chmod(0o600)
    return path


def test_the_fingerprint_is_the_seal_fingerprint() -> None:
    assert fingerprint(TOKEN) == token_fingerprint(TOKEN)


def test_a_hit_prints_what_the_full_path_prints_and_stores_no_token(
    tmp_path: Path, token_file: Path
) -> None:
    home = tmp_path / "home"
    assert recall(home, "token-file", token_file) is None
    printed = _full("token-file", token_file, home)
    assert recall(home, "token-file", token_file) == printed
    entry = entry_path(home, "token-file", token_file)
    assert entry.stat().st_mode & 0o777 == 0o600
    for level in (home, home / "cache", entry.parent):
        assert level.stat().st_mode & 0o777 == 0o700
    stored = "".join(p.read_text() for p in entry.parent.iterdir())
    assert TOKEN not in stored and TOKEN[5:] not in stored and TOKEN[-64:] not in stored
    assert json.loads(stored)["token_fingerprint"] == token_fingerprint(TOKEN)


@pytest.mark.parametrize(
    "change",
    [
        {"token": OTHER, "expires_at": LATER},  # rotated
        {"token": TOKEN, "expires_at": "2098-01-01T00:00:00Z"},  # expiry edited
        {"token": TOKEN},  # expiry removed
        "bare",  # rewritten as a bare token line
    ],
)
def test_any_change_to_the_token_source_is_a_miss(
    tmp_path: Path, token_file: Path, change: dict[str, str] | str
) -> None:
    home = tmp_path / "home"
    _full("token-file", token_file, home)
    token_file.write_text(TOKEN + "\n" if change == "bare" else json.dumps(change))
    assert recall(home, "token-file", token_file) is None


def test_a_missing_source_an_expired_entry_and_another_kind_are_misses(
    tmp_path: Path, token_file: Path
) -> None:
    home = tmp_path / "home"
    _full("token-file", token_file, home)
    expiry = datetime(2099, 1, 1, tzinfo=UTC).timestamp()
    assert recall(home, "token-file", token_file, now=expiry - 1) is not None
    assert recall(home, "token-file", token_file, now=expiry) is None
    assert recall(home, "worker-state", token_file) is None
    assert recall(tmp_path / "elsewhere", "token-file", token_file) is None
    token_file.unlink()
    assert recall(home, "token-file", token_file) is None


def test_loose_symlinked_or_corrupt_entries_are_ignored(tmp_path: Path, token_file: Path) -> None:
    home = tmp_path / "home"
    _full("token-file", token_file, home)
    entry = entry_path(home, "token-file", token_file)
    entry.chmod(0o640)
    assert recall(home, "token-file", token_file) is None
    entry.chmod(0o600)
    moved = entry.with_name("real.json")
    entry.rename(moved)
    entry.symlink_to(moved)
    assert recall(home, "token-file", token_file) is None
    entry.unlink()
    entry.write_text("{not json")
    entry.chmod(0o600)
    assert recall(home, "token-file", token_file) is None


def test_worker_state_hits_while_only_other_fields_change(tmp_path: Path) -> None:
    home, state = tmp_path / "home", tmp_path / "state.json"
    body = {"node_id": "n", "token": TOKEN, "token_expires_at": LATER, "status": "ready"}
    state.write_text(json.dumps(body))
    printed = _full("worker-state", state, home)
    state.write_text(json.dumps({**body, "status": "ready", "last_heartbeat": "now"}))
    assert recall(home, "worker-state", state) == printed
    state.write_text(json.dumps({**body, "token": OTHER}))
    assert recall(home, "worker-state", state) is None


def test_an_expired_token_is_not_cached(tmp_path: Path, token_file: Path) -> None:
    token_file.write_text(json.dumps({"token": TOKEN, "expires_at": "2001-01-01T00:00:00Z"}))
    home = tmp_path / "home"
    load("token-file", token_file, cache_home=home)
    assert not entry_path(home, "token-file", token_file).exists()


def test_a_bare_token_keeps_the_hour_it_was_given(tmp_path: Path) -> None:
    home, bare = tmp_path / "home", tmp_path / "bare"
    bare.write_text(TOKEN + "\n")
    printed = _full("token-file", bare, home)
    stamp = json.loads(printed)["status"]["expirationTimestamp"]
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert timedelta(minutes=59) < moment - datetime.now(UTC) <= timedelta(hours=1)
    assert recall(home, "token-file", bare) == printed


def test_an_unwritable_home_only_costs_time(tmp_path: Path, token_file: Path) -> None:
    home = tmp_path / "file-not-dir"
    home.write_text("")
    assert json.loads(_full("token-file", token_file, home))["status"]["token"] == TOKEN


@pytest.mark.parametrize(
    ("argv", "answers"),
    [
        (["exec-credential", "--token-file", "{f}"], True),
        (["exec-credential", "--token-file={f}"], True),
        (["exec-credential", "--home", "{h}", "--token-file", "{f}"], True),
        (["exec-credential", "--token-file", "{f}", "--worker-state", "{f}"], False),
        (["exec-credential", "--token-file", "{f}", "--help"], False),
        (["exec-credential", "--token-file"], False),
        (["exec-credential"], False),
        (["kubeconfig", "--token-file", "{f}"], False),
    ],
)
def test_the_entry_point_answers_only_the_exact_shapes_it_knows(
    tmp_path: Path,
    token_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    answers: bool,
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("K3S_DAAS_HOME", str(home))
    printed = _full("token-file", token_file, home)
    filled = [a.format(f=token_file, h=home) for a in argv]
    assert cached_exec_credential(filled) == (printed if answers else None)


_PROBE = """
import contextlib, sys
from k3s_daas.__main__ import main
sys.argv = ["k3s-daas", "exec-credential", "--token-file", sys.argv[1]]
with contextlib.suppress(SystemExit):  # the Typer app exits when it is done
    main()
heavy = sorted(m for m in ("typer", "pydantic", "structlog", "k3s_daas.cli") if m in sys.modules)
print("loaded:" + ",".join(heavy), file=sys.stderr)
"""


def _probe(token_file: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, str(token_file)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "K3S_DAAS_HOME": str(home)},
        check=False,
    )


def test_a_cached_answer_loads_neither_the_cli_nor_pydantic(
    tmp_path: Path, token_file: Path
) -> None:
    home = tmp_path / "home"
    first = _probe(token_file, home)
    assert first.returncode == 0, first.stderr
    assert "k3s_daas.cli" in first.stderr and "pydantic" in first.stderr  # the miss ran the CLI
    second = _probe(token_file, home)
    assert second.stdout == first.stdout
    assert second.stderr.strip() == "loaded:"


def test_the_cli_refuses_an_expired_token_even_when_an_entry_exists(
    tmp_path: Path, token_file: Path
) -> None:
    env = {**os.environ, "K3S_DAAS_HOME": str(tmp_path / "home")}
    argv = [CLI, "exec-credential", "--token-file", str(token_file)]
    ok = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    token_file.write_text(json.dumps({"token": TOKEN, "expires_at": "2001-01-01T00:00:00Z"}))
    bad = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert bad.returncode == 1 and "token_expired" in bad.stderr and TOKEN not in bad.stderr
