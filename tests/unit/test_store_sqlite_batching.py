"""The SQLite store's group commit: concurrent writes share one transaction (one fsync), and a
write that fails inside a batch fails alone, rolled back to its savepoint."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from k3s_daas.nautilus.store import Entry, StoreConfigError, StoreUnavailableError
from k3s_daas.nautilus.store.base import WatchEvent
from k3s_daas.nautilus.store.sqlite import SqliteStore, _Outcome, _Write


async def test_concurrent_writes_share_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "s.db")
    batches: list[int] = []
    commit = store._commit_batch

    def counting(batch: list[_Write]) -> list[_Outcome]:
        batches.append(len(batch))
        return commit(batch)

    monkeypatch.setattr(store, "_commit_batch", counting)
    try:
        revisions = await asyncio.gather(*(store.put(f"/k/{i}", b"v") for i in range(100)))
        assert sorted(revisions) == list(range(1, 101))
        assert sum(batches) == 100
        assert len(batches) < 100  # some writes were grouped into one transaction
        assert [k for k, _ in await store.range("/k/")] == sorted(f"/k/{i}" for i in range(100))
    finally:
        await store.close()
    reopened = SqliteStore(tmp_path / "s.db")  # durable, and the revision counter persisted
    try:
        assert await reopened.put("/k/next", b"v") == 101
    finally:
        await reopened.close()


async def test_a_failing_write_fails_alone(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    try:
        await store.put("/warm", b"v")

        def broken(conn: sqlite3.Connection) -> tuple[object, list[WatchEvent]]:
            store._next_revision()
            conn.execute("INSERT INTO kv (key, value, revision) VALUES ('/half', x'00', 999)")
            conn.execute("INSERT INTO no_such_table VALUES (1)")  # fails after a partial write
            return None, []

        async def good(i: int) -> int:
            return await store.put(f"/good/{i}", b"v")

        results = await asyncio.gather(
            good(0), store._write(broken), good(1), return_exceptions=True
        )
        assert isinstance(results[1], Exception)
        assert results[0] == 2 and results[2] == 3  # the failed write's revision was given back
        assert await store.get("/half") is None  # its partial write rolled back
        assert await store.get("/good/1") == Entry(b"v", 3)
    finally:
        await store.close()


async def test_a_hung_store_thread_is_a_fast_unavailable_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group commit blocks (a hung disk): writes and reads end in StoreUnavailableError at
    the store's deadline; once the disk answers, the queued write commits and the store works."""
    store = SqliteStore.from_url(f"sqlite:///{tmp_path / 'h.db'}?timeout=0.3")
    release = threading.Event()
    commit = store._commit_batch

    def hung(batch: list[_Write]) -> list[_Outcome]:
        release.wait(10)
        return commit(batch)

    monkeypatch.setattr(store, "_commit_batch", hung)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with pytest.raises(StoreUnavailableError, match=r"no answer within 0\.3s"):
            await store.put("/hung/a", b"v")
        with pytest.raises(StoreUnavailableError):
            await store.get("/hung/a")  # reads share the stuck thread: bounded too
        assert loop.time() - started < 1.5
        release.set()
        monkeypatch.setattr(store, "_commit_batch", commit)
        assert await store.put("/hung/b", b"w") > 0
        assert (await store.get("/hung/b")) is not None
    finally:
        release.set()
        await store.close()


def test_sqlite_timeout_option_is_checked() -> None:
    with pytest.raises(StoreConfigError, match="timeout must be positive"):
        SqliteStore.from_url("sqlite:///x.db?timeout=0")
