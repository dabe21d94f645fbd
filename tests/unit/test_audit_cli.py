"""`k3s-daas audit verify | tail` as an operator runs them: the real CLI in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.processes import CLI
from k3s_daas.nautilus.audit import AuditLog, entry_key
from k3s_daas.nautilus.store import open_store
from k3s_daas.seal.encoding import canonical_json


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "K3S_DAAS_HOME": str(tmp_path / "home"),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


@pytest.fixture
def sealed_log(tmp_path: Path) -> tuple[str, Path]:
    """A sealed SQLite store holding 12 audit entries, and its 0600 data key file."""
    key = os.urandom(32)
    key_file = tmp_path / "data.key"
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    url = f"sqlite:///{tmp_path / 'store.db'}"

    async def fill() -> None:
        store = open_store(url, data_key=key)
        log = AuditLog(store)
        for i in range(12):
            await log.append(
                actor="nautilus",
                action="heartbeat",
                subject=f"node-{i}",
                decision="allow",
                token_fingerprint="ab" * 32,
            )
        await store.close()

    asyncio.run(fill())
    return url, key_file


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "audit", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_verify_intact(sealed_log: tuple[str, Path], env: dict[str, str]) -> None:
    url, key_file = sealed_log
    done = run(env, "verify", "--store", url, "--data-key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "audit log intact: 12 entries"
    as_json = run(env, "verify", "--store", url, "--data-key-file", str(key_file), "--json")
    assert json.loads(as_json.stdout) == {
        "ok": True,
        "entries_checked": 12,
        "first_bad_seq": None,
        "problem": None,
    }


def test_verify_broken_names_the_entry(sealed_log: tuple[str, Path], env: dict[str, str]) -> None:
    url, key_file = sealed_log

    async def tamper() -> None:
        store = open_store(url, data_key=key_file.read_bytes())
        entry = await store.get(entry_key(5))
        assert entry is not None
        data = json.loads(entry.value)
        data["decision"] = "deny"
        await store.put(entry_key(5), canonical_json(data))
        await store.close()

    asyncio.run(tamper())
    done = run(env, "verify", "--store", url, "--data-key-file", str(key_file))
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("audit log broken at entry 5: ")
    as_json = run(env, "verify", "--store", url, "--data-key-file", str(key_file), "--json")
    assert as_json.returncode == 1
    result = json.loads(as_json.stdout)
    assert (result["ok"], result["first_bad_seq"], result["entries_checked"]) == (False, 5, 4)
    assert result["problem"]


def test_verify_with_the_wrong_key_fails(
    sealed_log: tuple[str, Path], env: dict[str, str], tmp_path: Path
) -> None:
    url, _ = sealed_log
    other = tmp_path / "other.key"
    other.write_bytes(os.urandom(32))
    other.chmod(0o600)
    done = run(env, "verify", "--store", url, "--data-key-file", str(other))
    assert done.returncode == 1
    assert "store_tampered" in done.stdout


def test_loose_key_file_is_refused(sealed_log: tuple[str, Path], env: dict[str, str]) -> None:
    url, key_file = sealed_log
    key_file.chmod(0o644)
    done = run(env, "verify", "--store", url, "--data-key-file", str(key_file))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "bad_data_key" in done.stderr


def test_bad_store_url_is_one_line(env: dict[str, str]) -> None:
    done = run(env, "verify", "--store", "mysql://nope")
    assert done.returncode == 1 and "store_config" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_tail(sealed_log: tuple[str, Path], env: dict[str, str]) -> None:
    url, key_file = sealed_log
    done = run(env, "tail", "--store", url, "--data-key-file", str(key_file), "-n", "3", "--json")
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["seq"] for e in entries] == [10, 11, 12]
    assert entries[-1]["subject"] == "node-11"
    table = run(env, "tail", "--store", url, "--data-key-file", str(key_file), "-n", "2")
    assert table.returncode == 0 and "node-10" in table.stdout and "node-9" not in table.stdout
