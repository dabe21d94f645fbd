"""One devnet per data directory, and a new chain created whole or not at all: the lock names
its holder, a second claim fails in one line, a claim that never served leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from k3s_daas.devnet.datadir import claim
from k3s_daas.devnet.errors import DevnetError
from k3s_daas.devnet.genesis import LEDGER_FILE
from k3s_daas.devnet.lock import LOCK_FILE, DataDirLock, DevnetRunning, holder


def test_the_lock_names_its_holder_and_refuses_a_second_one(tmp_path: Path) -> None:
    assert holder(tmp_path) is None  # no lock file: nobody
    lock = DataDirLock.acquire(tmp_path)
    lock.record("127.0.0.1:9000")
    found = holder(tmp_path)
    assert found is not None and (found.pid, found.address) == (os.getpid(), "127.0.0.1:9000")
    with pytest.raises(DevnetRunning) as err:
        DataDirLock.acquire(tmp_path)
    message = err.value.message
    assert message.startswith(f"devnet already running at 127.0.0.1:9000 (pid {os.getpid()})")
    assert "\n" not in message and "--data" in message
    assert err.value.reason == "devnet_running"
    lock.release()
    assert holder(tmp_path) is None  # the file stays, unlocked: nobody
    assert (tmp_path / LOCK_FILE).exists()
    DataDirLock.acquire(tmp_path).release()


def test_a_dead_holder_never_blocks(tmp_path: Path) -> None:
    """The kernel drops the lock with its process: a crashed devnet's file means nothing."""
    code = (
        "import sys; from pathlib import Path; from k3s_daas.devnet.lock import DataDirLock;"
        "DataDirLock.acquire(Path(sys.argv[1])).record('127.0.0.1:1'); print('held', flush=True);"
        "sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        found = holder(tmp_path)
        assert found is not None and found.pid == child.pid
        with pytest.raises(DevnetRunning, match=f"pid {child.pid}"):
            DataDirLock.acquire(tmp_path)
    finally:
        child.kill()
        child.wait()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == child.pid  # stale content
    assert holder(tmp_path) is None
    DataDirLock.acquire(tmp_path).release()


def test_a_new_chain_appears_whole_and_a_second_claim_fails(tmp_path: Path) -> None:
    data = tmp_path / "home" / "devnet"
    held = claim(data)
    try:
        assert held.created
        assert (data / LEDGER_FILE).exists() and (data / "admin.key").exists()
        assert [p.name for p in data.parent.iterdir()] == ["devnet"]  # no staging left beside
        with pytest.raises(DevnetRunning, match="devnet already running"):
            claim(data)
        held.served = True
    finally:
        held.release()
    again = claim(data)  # resumed, not re-created
    assert not again.created
    again.release()
    assert (data / LEDGER_FILE).exists()  # not served, but not created by this claim either


def test_a_start_that_never_served_leaves_no_directory(tmp_path: Path) -> None:
    data = tmp_path / "devnet"
    held = claim(data)
    held.release()  # e.g. its port was in use
    assert not data.exists()
    assert list(tmp_path.iterdir()) == []


def test_stale_staging_is_swept_and_foreign_directories_refused(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = tmp_path / f".devnet.genesis-{dead}"
    stale.mkdir()
    (stale / "admin.key").write_text("half made")
    held = claim(tmp_path / "devnet")
    held.release()
    assert not stale.exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a chain")
    with pytest.raises(DevnetError, match="holds files but no devnet ledger"):
        claim(foreign)
    assert (foreign / "notes.txt").read_text() == "not a chain"
