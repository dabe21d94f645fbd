"""The ledger's storage: one SQLite file in WAL mode, its schema, one lock, all-or-nothing writes.

`SqliteStore` is the base every part of the ledger (objects, transactions, checkpoints) builds on;
a write opens `BEGIN IMMEDIATE` and commits or rolls back as a whole, so a `kill -9` at any moment
leaves either all of a transaction or none of it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from k3s_daas.devnet.errors import LedgerError

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- current state: one row per live object (deleted objects are removed here, kept in history)
CREATE TABLE IF NOT EXISTS objects (
    object_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    owner_address TEXT,
    type TEXT NOT NULL,
    balance INTEGER
);
CREATE INDEX IF NOT EXISTS objects_by_owner ON objects (owner_address, object_id);
-- every version ever written
CREATE TABLE IF NOT EXISTS object_versions (
    object_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    owner TEXT NOT NULL,
    type TEXT NOT NULL,
    fields TEXT NOT NULL,
    previous_transaction TEXT NOT NULL,
    digest TEXT NOT NULL,
    bcs BLOB NOT NULL,
    object_bcs BLOB NOT NULL,
    PRIMARY KEY (object_id, version)
);
CREATE TABLE IF NOT EXISTS transactions (
    digest TEXT PRIMARY KEY,
    tx_index INTEGER NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    bcs BLOB NOT NULL,
    signatures TEXT NOT NULL,
    effects TEXT NOT NULL,
    checkpoint INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    effects_bcs BLOB NOT NULL,
    events_bcs BLOB
);
CREATE TABLE IF NOT EXISTS events (
    tx_digest TEXT NOT NULL,
    event_index INTEGER NOT NULL,
    checkpoint INTEGER NOT NULL,
    package_id TEXT NOT NULL,
    module TEXT NOT NULL,
    sender TEXT NOT NULL,
    type TEXT NOT NULL,
    json TEXT NOT NULL,
    bcs BLOB NOT NULL,
    PRIMARY KEY (tx_digest, event_index)
);
CREATE INDEX IF NOT EXISTS events_by_checkpoint ON events (checkpoint);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    previous_digest TEXT,
    epoch INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    tx_digests TEXT NOT NULL,
    total_transactions INTEGER NOT NULL,
    summary BLOB NOT NULL,
    contents BLOB NOT NULL,
    certificate BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY,
    start_ms INTEGER NOT NULL,
    first_checkpoint INTEGER NOT NULL,
    reference_gas_price INTEGER NOT NULL,
    committee TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS table_entries (
    table_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (table_id, key)
);
"""


class SqliteStore:
    """The connection (shared by the event loop and helper threads, hence the lock) and meta."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable on process kill
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
            stored = self.meta_get("schema_version")
            if stored is None:
                self.meta_set("schema_version", SCHEMA_VERSION)
            elif stored != SCHEMA_VERSION:
                raise LedgerError(
                    f"{path}: ledger schema {stored}, expected {SCHEMA_VERSION} "
                    "(made by another version: start this devnet with a new data directory)"
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def meta_get(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_set(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error: all or nothing."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        """Row counts, for `GET /devnet/info` and tests."""
        out: dict[str, int] = {}
        with self._lock:
            for table in ("objects", "transactions", "events", "checkpoints", "epochs"):
                row = self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
                out[table] = int(row[0])
        return out
