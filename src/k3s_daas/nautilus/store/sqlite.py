"""`sqlite:///path/to/file.db`: the embedded default, one file, one writer thread.

Every statement runs on one dedicated thread that owns the connection, so the event loop never
blocks on disk and writes are serialized without locks (SQLite allows one writer anyway; reads
take microseconds, so they share the thread and always see the latest commit).
WAL mode with `synchronous=FULL` by default: the store holds replay nonces and the audit log, and
an acknowledged write must survive a power cut, not just a crash (`?synchronous=normal` trades
that for speed). Revisions are one persisted counter; TTL'd rows expire lazily on read and by a
periodic sweep that also emits delete events. Watch is in-process notification after commit.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import parse_qs, urlsplit

from k3s_daas.nautilus.store.base import (
    Entry,
    StoreClosedError,
    StoreConfigError,
    StoreUnavailableError,
    WatchEvent,
    WatchHub,
    WatchStream,
    check_key,
    check_limit,
    check_prefix,
    check_ttl,
    check_value,
)

T = TypeVar("T")

SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
    " revision INTEGER NOT NULL, expires_at REAL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0)",
)
SYNCHRONOUS: Final = {"full": "FULL", "normal": "NORMAL"}
SWEEP_INTERVAL: Final = 1.0
# Rows past their TTL are invisible before the sweep deletes them (lazy expiry).
GET_SQL: Final = (
    "SELECT value, revision FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
)
REVISION_SQL: Final = (
    "SELECT revision FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
)
RANGE_SQL: Final = (
    "SELECT key, value, revision FROM kv WHERE key >= ? AND key > ? AND key < ?"
    " AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?"
)


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (for index ranges)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SqliteStore:
    """The Store on one SQLite file in WAL mode; all I/O on one dedicated thread."""

    def __init__(
        self, path: Path, *, synchronous: str = "full", sweep_interval: float = SWEEP_INTERVAL
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise StoreConfigError(f"synchronous must be one of {sorted(SYNCHRONOUS)}")
        self.path = path
        self._synchronous = SYNCHRONOUS[synchronous]
        self._sweep_interval = sweep_interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._revision = 0
        self._hub = WatchHub()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False
        try:
            self._executor.submit(self._connect).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """`sqlite:///abs/or/relative.db[?synchronous=full|normal&sweep=SECONDS]`."""
        parts = urlsplit(url)
        if parts.netloc or not parts.path or parts.path == "/":
            raise StoreConfigError(f"expected sqlite:///path/to/file.db, got {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"synchronous", "sweep"}
        if unknown:
            raise StoreConfigError(f"unknown sqlite store options: {sorted(unknown)}")
        try:
            sweep = float(query.get("sweep", SWEEP_INTERVAL))
        except ValueError:
            raise StoreConfigError("sweep must be a number of seconds") from None
        if not sweep > 0:
            raise StoreConfigError("sweep must be positive")
        return cls(
            Path(parts.path),
            synchronous=query.get("synchronous", "full").lower(),
            sweep_interval=sweep,
        )

    # --- the writer thread -------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create the file 0600 before SQLite does (it copies the mode to -wal and -shm).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            for statement in SCHEMA:
                conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailableError(f"cannot open sqlite store {self.path}: {exc}") from None
        self._conn = conn
        self._revision = int(row[0])

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosedError("the store is closed")
        return self._conn

    def _transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run `body` in one IMMEDIATE transaction; the revision counter commits with it."""
        conn = self._db()
        start = self._revision
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(conn)
            if self._revision != start:
                conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (self._revision,))
            conn.execute("COMMIT")
        except BaseException:
            self._revision = start
            conn.execute("ROLLBACK")
            raise
        return result

    def _next_revision(self) -> int:
        self._revision += 1
        return self._revision

    def _live_revision(self, conn: sqlite3.Connection, key: str, now: float) -> int | None:
        row = conn.execute(REVISION_SQL, (key, now)).fetchone()
        return None if row is None else int(row[0])

    def _sweep(self) -> list[WatchEvent]:
        now = time.time()

        def body(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING key",
                (now,),
            ).fetchall()
            for _ in rows:
                self._next_revision()
            return sorted(str(r[0]) for r in rows)

        return [WatchEvent("delete", key, None) for key in self._transaction(body)]

    # --- async surface -----------------------------------------------------------------------

    async def _run(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the store thread; a write's events are published in commit order."""
        if self._closed:
            raise StoreClosedError("the store is closed")
        loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep_forever())

        def job() -> T:
            try:
                result = fn()
            except sqlite3.Error as exc:
                raise StoreUnavailableError(f"sqlite store failed: {exc}") from None
            return result

        return await loop.run_in_executor(self._executor, job)

    async def _write(self, fn: Callable[[], tuple[T, list[WatchEvent]]]) -> T:
        loop = asyncio.get_running_loop()

        def with_events() -> T:
            result, events = fn()
            if events:  # queued from this thread right after COMMIT: FIFO = commit order
                loop.call_soon_threadsafe(self._hub.publish, events)
            return result

        return await self._run(with_events)

    async def _sweep_forever(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self._write(lambda: (None, self._sweep()))
            except StoreClosedError:
                return
            except StoreUnavailableError:
                continue  # the next operation reports it; keep sweeping

    async def get(self, key: str) -> Entry | None:
        check_key(key)

        def fn() -> Entry | None:
            row = self._db().execute(GET_SQL, (key, time.time())).fetchone()
            return None if row is None else Entry(bytes(row[0]), int(row[1]))

        return await self._run(fn)

    def _put_body(
        self, key: str, value: bytes, ttl: float | None, expected: int | None, check: bool
    ) -> tuple[int | None, list[WatchEvent]]:
        now = time.time()

        def body(conn: sqlite3.Connection) -> int | None:
            if check and self._live_revision(conn, key, now) != expected:
                return None
            revision = self._next_revision()
            conn.execute(
                "INSERT OR REPLACE INTO kv (key, value, revision, expires_at) VALUES (?, ?, ?, ?)",
                (key, value, revision, None if ttl is None else now + ttl),
            )
            return revision

        revision = self._transaction(body)
        if revision is None:
            return None, []
        return revision, [WatchEvent("put", key, Entry(value, revision))]

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        check_key(key)
        value, ttl = check_value(value), check_ttl(ttl)
        revision = await self._write(lambda: self._put_body(key, value, ttl, None, False))
        assert revision is not None
        return revision

    async def compare_and_set(
        self,
        key: str,
        value: bytes,
        *,
        expected_revision: int | None,
        ttl: float | None = None,
    ) -> bool:
        check_key(key)
        value, ttl = check_value(value), check_ttl(ttl)
        revision = await self._write(
            lambda: self._put_body(key, value, ttl, expected_revision, True)
        )
        return revision is not None

    async def delete(self, key: str) -> bool:
        check_key(key)

        def fn() -> tuple[bool, list[WatchEvent]]:
            now = time.time()

            def body(conn: sqlite3.Connection) -> bool:
                live = self._live_revision(conn, key, now) is not None
                deleted = conn.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount > 0
                if deleted:
                    self._next_revision()
                return live

            live = self._transaction(body)
            return live, [WatchEvent("delete", key, None)] if live else []

        return await self._write(fn)

    async def range(
        self, prefix: str, *, limit: int | None = None, after: str | None = None
    ) -> list[tuple[str, Entry]]:
        check_prefix(prefix)
        check_limit(limit)
        end = _prefix_end(prefix)

        def fn() -> list[tuple[str, Entry]]:
            rows = (
                self._db()
                .execute(
                    RANGE_SQL,
                    (prefix, after or "", end, time.time(), -1 if limit is None else limit),
                )
                .fetchall()
            )
            return [(str(k), Entry(bytes(v), int(r))) for k, v, r in rows]

        return await self._run(fn)

    def watch(self, prefix: str) -> WatchStream:
        return self._hub.stream(prefix)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._hub.close()

        def shutdown() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shutdown)
        self._executor.shutdown(wait=True)
