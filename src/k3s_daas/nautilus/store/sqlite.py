"""`sqlite:///path/to/file.db`: the embedded default, one file, one writer thread.

Every statement runs on one dedicated thread that owns the connection, so the event loop never
blocks on disk and writes are serialized without locks (SQLite allows one writer anyway; reads
take microseconds, so they share the thread and always see the latest commit). Writes are
group-committed: the writes queued while the thread was busy run one after another (each in its
own savepoint, so one failing write loses nothing of the others) inside one transaction, and all
are acknowledged after its single COMMIT — one fsync for many concurrent writers.
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
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, urlsplit

from k3s_daas.nautilus.store.base import (
    Entry,
    StoreClosedError,
    StoreConfigError,
    StoreUnavailableError,
    WatchEvent,
    WatchHub,
    WatchStream,
    check_items,
    check_key,
    check_limit,
    check_prefix,
    check_ttl,
    check_value,
)

T = TypeVar("T")
#: One queued write: runs inside the batch transaction, returns (result, watch events).
_Write = Callable[[sqlite3.Connection], tuple[object, list[WatchEvent]]]
#: What one write came to: (result, events, or the exception it alone raised).
_Outcome = tuple[object, list[WatchEvent], BaseException | None]

SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL,"
    " revision INTEGER NOT NULL, expires_at REAL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0)",
)
SYNCHRONOUS: Final = {"full": "FULL", "normal": "NORMAL"}
SWEEP_INTERVAL: Final = 1.0
#: Seconds an operation may wait for the store thread (a hung disk): then StoreUnavailableError,
#: answered 503, instead of a request that never ends. The write may still commit later.
DEFAULT_TIMEOUT: Final = 2.0
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


def _fail_all(futures: list[asyncio.Future[object]], error: BaseException) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(error)


def _seconds(query: dict[str, str], name: str, default: float) -> float:
    try:
        value = float(query.get(name, default))
    except ValueError:
        raise StoreConfigError(f"{name} must be a number of seconds") from None
    if not value > 0:
        raise StoreConfigError(f"{name} must be positive")
    return value


def _prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (for index ranges)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SqliteStore:
    """The Store on one SQLite file in WAL mode; all I/O on one dedicated thread."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "full",
        sweep_interval: float = SWEEP_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise StoreConfigError(f"synchronous must be one of {sorted(SYNCHRONOUS)}")
        self.path = path
        self.timeout = timeout
        self._synchronous = SYNCHRONOUS[synchronous]
        self._sweep_interval = sweep_interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._revision = 0
        self._hub = WatchHub()
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False
        self._queue: deque[tuple[_Write, asyncio.Future[Any]]] = deque()
        self._flush_scheduled = False
        try:
            self._executor.submit(self._connect).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """`sqlite:///abs/or/relative.db[?synchronous=full|normal&sweep=S&timeout=S]`."""
        parts = urlsplit(url)
        if parts.netloc or not parts.path or parts.path == "/":
            raise StoreConfigError(f"expected sqlite:///path/to/file.db, got {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"synchronous", "sweep", "timeout"}
        if unknown:
            raise StoreConfigError(f"unknown sqlite store options: {sorted(unknown)}")
        return cls(
            Path(parts.path),
            synchronous=query.get("synchronous", "full").lower(),
            sweep_interval=_seconds(query, "sweep", SWEEP_INTERVAL),
            timeout=_seconds(query, "timeout", DEFAULT_TIMEOUT),
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

    def _commit_batch(self, batch: list[_Write]) -> list[_Outcome]:
        """Run queued writes in one IMMEDIATE transaction, each in a savepoint; one COMMIT."""
        conn = self._db()
        start = self._revision
        outcomes: list[_Outcome] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for write in batch:
                before = self._revision
                conn.execute("SAVEPOINT w")
                try:
                    result, events = write(conn)
                except Exception as exc:  # this write fails alone
                    self._revision = before
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    outcomes.append((None, [], exc))
                    continue
                conn.execute("RELEASE w")
                outcomes.append((result, events, None))
            if self._revision != start:
                conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (self._revision,))
            conn.execute("COMMIT")
        except BaseException:
            self._revision = start
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    def _next_revision(self) -> int:
        self._revision += 1
        return self._revision

    def _live_revision(self, conn: sqlite3.Connection, key: str, now: float) -> int | None:
        row = conn.execute(REVISION_SQL, (key, now)).fetchone()
        return None if row is None else int(row[0])

    def _sweep(self, conn: sqlite3.Connection) -> tuple[None, list[WatchEvent]]:
        rows = conn.execute(
            "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ? RETURNING key",
            (time.time(),),
        ).fetchall()
        for _ in rows:
            self._next_revision()
        return None, [WatchEvent("delete", key, None) for key in sorted(str(r[0]) for r in rows)]

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

        return await self._within_deadline(loop.run_in_executor(self._executor, job))

    async def _within_deadline(self, pending: Awaitable[T]) -> T:
        """`pending` unless the store thread is stuck (a hung disk): then StoreUnavailableError."""
        try:
            return await asyncio.wait_for(pending, self.timeout)
        except TimeoutError:
            raise StoreUnavailableError(
                f"sqlite store: no answer within {self.timeout:g}s (is the disk hung?)"
            ) from None

    async def _write(self, write: Callable[[sqlite3.Connection], tuple[T, list[WatchEvent]]]) -> T:
        """Queue one write for the next group commit; returns its result once committed."""
        if self._closed:
            raise StoreClosedError("the store is closed")
        loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep_forever())
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((write, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._executor.submit(self._flush, loop)
        # the flush sets what `write` returned for this entry
        result: T = await self._within_deadline(future)
        return result

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the store thread: commit everything queued so far as one batch."""
        self._flush_scheduled = False  # before draining: a write queued after this schedules anew
        batch: list[tuple[_Write, asyncio.Future[object]]] = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return
        try:
            outcomes = self._commit_batch([write for write, _ in batch])
        except (sqlite3.Error, StoreClosedError) as exc:
            error: BaseException = (
                exc if isinstance(exc, StoreClosedError)
                else StoreUnavailableError(f"sqlite store failed: {exc}")
            )  # fmt: skip
            loop.call_soon_threadsafe(_fail_all, [f for _, f in batch], error)
            return
        events = [event for _, evs, _ in outcomes for event in evs]
        loop.call_soon_threadsafe(self._acknowledge, [f for _, f in batch], outcomes, events)

    def _acknowledge(
        self,
        futures: list[asyncio.Future[object]],
        outcomes: list[_Outcome],
        events: list[WatchEvent],
    ) -> None:
        """On the loop: publish the batch's events in commit order, then resolve its writes."""
        if events:
            self._hub.publish(events)
        for future, (result, _, exc) in zip(futures, outcomes, strict=True):
            if future.done():
                continue
            if exc is None:
                future.set_result(result)
            elif isinstance(exc, sqlite3.Error):
                future.set_exception(StoreUnavailableError(f"sqlite store failed: {exc}"))
            else:
                future.set_exception(exc)

    async def _sweep_forever(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._sweep_interval)
            try:
                await self._write(self._sweep)
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
    ) -> Callable[[sqlite3.Connection], tuple[int | None, list[WatchEvent]]]:
        def write(conn: sqlite3.Connection) -> tuple[int | None, list[WatchEvent]]:
            now = time.time()
            if check and self._live_revision(conn, key, now) != expected:
                return None, []
            revision = self._next_revision()
            conn.execute(
                "INSERT OR REPLACE INTO kv (key, value, revision, expires_at) VALUES (?, ?, ?, ?)",
                (key, value, revision, None if ttl is None else now + ttl),
            )
            return revision, [WatchEvent("put", key, Entry(value, revision))]

        return write

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> int:
        check_key(key)
        value, ttl = check_value(value), check_ttl(ttl)
        revision = await self._write(self._put_body(key, value, ttl, None, False))
        assert revision is not None
        return revision

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> int:
        checked = check_items(items)

        def write(conn: sqlite3.Connection) -> tuple[int, list[WatchEvent]]:
            events = []
            for key, value in checked:
                revision, put = self._put_body(key, value, None, None, False)(conn)
                events += put
            assert revision is not None
            return revision, events

        return await self._write(write)

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
        revision = await self._write(self._put_body(key, value, ttl, expected_revision, True))
        return revision is not None

    async def delete(self, key: str) -> bool:
        check_key(key)

        def write(conn: sqlite3.Connection) -> tuple[bool, list[WatchEvent]]:
            live = self._live_revision(conn, key, time.time()) is not None
            if conn.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount > 0:
                self._next_revision()
            return live, [WatchEvent("delete", key, None)] if live else []

        return await self._write(write)

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
