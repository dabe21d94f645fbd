"""The devnet's ledger: one SQLite file (WAL) holding objects, transactions, events, checkpoints.

One writer (the server's asyncio lock) commits each transaction's effects, objects, events, the
transaction itself and its checkpoint in ONE SQLite transaction, so a `kill -9` at any moment
leaves either all of it or none of it. One checkpoint per transaction (plus one empty checkpoint
per epoch change). `Ledger` implements B's `LedgerView` for the executor.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import base58

from k3s_daas.chain.keys import blake2b256
from k3s_daas.devnet.errors import LedgerError
from k3s_daas.devnet.ids import COIN_SUI_TYPE, REFERENCE_GAS_PRICE, SUI_FRAMEWORK
from k3s_daas.devnet.objects import (
    AddressOwner,
    ChainEvent,
    Effects,
    ImmutableOwner,
    Owner,
    SharedOwner,
    StoredObject,
)

SCHEMA_VERSION = "1"

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
    timestamp_ms INTEGER NOT NULL
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
    total_transactions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS epochs (
    epoch INTEGER PRIMARY KEY,
    start_ms INTEGER NOT NULL,
    first_checkpoint INTEGER NOT NULL,
    reference_gas_price INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS table_entries (
    table_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (table_id, key)
);
"""


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces): what simplified digests hash."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def salted_digest(salt: bytes, payload: Any) -> str:
    """base58(blake2b-256(salt ‖ canonical JSON)), the devnet's simplified digest."""
    return str(base58.b58encode(blake2b256(salt + canonical_json(payload).encode())).decode())


def owner_to_json(owner: Owner) -> dict[str, Any]:
    if isinstance(owner, AddressOwner):
        return {"kind": "address", "address": owner.address}
    if isinstance(owner, SharedOwner):
        return {"kind": "shared", "initial_shared_version": owner.initial_shared_version}
    return {"kind": "immutable"}


def owner_from_json(data: dict[str, Any]) -> Owner:
    kind = data.get("kind")
    if kind == "address":
        return AddressOwner(address=str(data["address"]))
    if kind == "shared":
        return SharedOwner(initial_shared_version=int(data["initial_shared_version"]))
    return ImmutableOwner()


def coin_balance(obj: StoredObject) -> int | None:
    """Balance of a `Coin<SUI>` (field `balance` as "u64" or {"value": "u64"}); None otherwise."""
    if obj.type != COIN_SUI_TYPE:
        return None
    raw = obj.fields.get("balance")
    if isinstance(raw, dict):
        raw = raw.get("value")
    try:
        return int(str(raw))
    except ValueError:
        return None


@dataclass(frozen=True)
class ObjectRow:
    """One stored object version with its precomputed digest and BCS."""

    obj: StoredObject
    digest: str
    bcs: bytes


@dataclass(frozen=True)
class EventRow:
    """One stored event, positioned by (tx digest, index) and checkpoint."""

    tx_digest: str
    event_index: int
    checkpoint: int
    package_id: str
    module: str
    sender: str
    event_type: str
    fields: dict[str, Any]
    bcs: bytes


@dataclass(frozen=True)
class TxRecord:
    """One committed transaction: raw BCS, signatures and the effects JSON (see docs/devnet.md)."""

    digest: str
    tx_index: int
    kind: str
    sender: str
    bcs: bytes
    signatures: list[bytes]
    effects: dict[str, Any]
    checkpoint: int
    timestamp_ms: int


@dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint: simplified summary, no validator signature."""

    seq: int
    digest: str
    previous_digest: str | None
    epoch: int
    timestamp_ms: int
    tx_digests: list[str]
    total_transactions: int


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    start_ms: int
    first_checkpoint: int
    reference_gas_price: int


@dataclass
class PendingTx:
    """Everything one transaction writes; `Ledger.commit` applies it atomically."""

    digest: str
    kind: str  # "programmable" | "genesis" | "faucet"
    sender: str
    tx_bytes: bytes
    signatures: list[bytes]
    status: dict[str, Any]
    gas_used: dict[str, int]
    gas_object: str | None
    lamport_version: int
    created: list[StoredObject] = field(default_factory=list)
    mutated: list[StoredObject] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    events: list[ChainEvent] = field(default_factory=list)
    table_changes: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: meta keys written in the same SQLite transaction (genesis records its ids this way)
    meta: dict[str, str] = field(default_factory=dict)


def pending_from_effects(effects: Effects, gas_object: str | None) -> PendingTx:
    """Translate the executor's Effects into what the ledger stores."""
    status = effects.status
    changes = [
        (change.table_id, change.key, change.value)
        for change in getattr(effects, "table_changes", None) or []
    ]
    gas = effects.gas_used
    return PendingTx(
        digest=effects.digest,
        kind="programmable",
        sender=effects.sender,
        tx_bytes=effects.tx_bytes,
        signatures=list(effects.signatures),
        status={
            "success": status.success,
            "error": status.error,
            "abort_module": status.abort_module,
            "abort_function": status.abort_function,
            "abort_code": status.abort_code,
            "command_index": status.command_index,
        },
        gas_used={
            "computation": int(gas.computation),
            "storage": int(gas.storage),
            "rebate": int(gas.rebate),
        },
        gas_object=gas_object,
        lamport_version=effects.lamport_version,
        created=list(effects.created),
        mutated=list(effects.mutated),
        deleted=list(effects.deleted),
        events=list(effects.events),
        table_changes=changes,
    )


class Ledger:
    """SQLite-backed chain state; reads from any coroutine, writes only through `commit`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()  # sqlite3 connection shared by the loop and helper threads
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable on process kill
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
            stored = self.meta_get("schema_version")
            if stored is None:
                self.meta_set("schema_version", SCHEMA_VERSION)
            elif stored != SCHEMA_VERSION:
                raise LedgerError(f"{path}: ledger schema {stored}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- meta ---------------------------------------------------------------------------------
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

    @property
    def initialized(self) -> bool:
        """True once genesis has been committed (the chain id is written with it)."""
        return self.meta_get("chain_id") is not None

    # -- LedgerView ---------------------------------------------------------------------------
    def get_object(self, object_id: str) -> StoredObject | None:
        row = self.object_row(object_id)
        return None if row is None else row.obj

    def epoch(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT MAX(epoch) FROM epochs").fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    def timestamp_ms(self) -> int:
        """Wall clock, never behind the last checkpoint (the chain's time only moves forward)."""
        now = int(time.time() * 1000)
        with self._lock:
            row = self._conn.execute("SELECT MAX(timestamp_ms) FROM checkpoints").fetchone()
        last = int(row[0]) if row is not None and row[0] is not None else 0
        return max(now, last)

    def reference_gas_price(self) -> int:
        info = self.epoch_info(self.epoch())
        return REFERENCE_GAS_PRICE if info is None else info.reference_gas_price

    def table_get(self, table_id: str, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM table_entries WHERE table_id = ? AND key = ?", (table_id, key)
            ).fetchone()
        return None if row is None else str(row[0])

    def table_entries(self, table_id: str, after: str | None, limit: int) -> list[tuple[str, str]]:
        """(key, value) of a `Table<String, ID>` in key order, after `after` (paging)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, value FROM table_entries WHERE table_id = ? AND key > ? "
                "ORDER BY key LIMIT ?",
                (table_id, after or "", limit),
            ).fetchall()
        return [(str(k), str(v)) for k, v in rows]

    # -- object reads -------------------------------------------------------------------------
    @staticmethod
    def _object_from(row: sqlite3.Row) -> ObjectRow:
        obj = StoredObject(
            object_id=row["object_id"],
            version=int(row["version"]),
            owner=owner_from_json(json.loads(row["owner"])),
            type=row["type"],
            fields=json.loads(row["fields"]),
            previous_transaction=row["previous_transaction"],
        )
        return ObjectRow(obj=obj, digest=row["digest"], bcs=bytes(row["bcs"]))

    def object_row(self, object_id: str, version: int | None = None) -> ObjectRow | None:
        """The live version (None if absent or deleted), or an exact historical version."""
        with self._lock:
            if version is None:
                row = self._conn.execute(
                    "SELECT v.* FROM objects o JOIN object_versions v "
                    "ON v.object_id = o.object_id AND v.version = o.version "
                    "WHERE o.object_id = ?",
                    (object_id,),
                ).fetchone()
            else:
                row = self._conn.execute(
                    "SELECT * FROM object_versions WHERE object_id = ? AND version = ?",
                    (object_id, version),
                ).fetchone()
        return None if row is None else self._object_from(row)

    def list_owned(
        self, owner: str, object_type: str | None, after: str | None, limit: int
    ) -> list[ObjectRow]:
        """Live objects owned by `owner`, ordered by id, starting after the id `after`.

        `object_type` matches exactly, or as a prefix when it has no type arguments
        (`0x2::coin::Coin` matches every `Coin<T>`), as Sui's filter does.
        """
        sql = (
            "SELECT v.* FROM objects o JOIN object_versions v "
            "ON v.object_id = o.object_id AND v.version = o.version "
            "WHERE o.owner_address = ? AND o.object_id > ?"
        )
        args: list[Any] = [owner, after or ""]
        if object_type is not None:
            if "<" in object_type:
                sql += " AND o.type = ?"
                args.append(object_type)
            else:
                sql += " AND (o.type = ? OR substr(o.type, 1, ?) = ?)"
                args += [object_type, len(object_type) + 1, object_type + "<"]
        sql += " ORDER BY o.object_id LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [self._object_from(r) for r in rows]

    def balance(self, owner: str, coin_type: str) -> tuple[int, int]:
        """(total MIST, number of coins) of `Coin<coin_type>` objects owned by `owner`."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COALESCE(SUM(balance), 0), COUNT(*) FROM objects "
                "WHERE owner_address = ? AND type = ?",
                (owner, f"{SUI_FRAMEWORK}::coin::Coin<{coin_type}>"),
            ).fetchone()
        return int(row[0]), int(row[1])

    def coins_of(self, owner: str, exclude: set[str], limit: int = 256) -> list[ObjectRow]:
        """The owner's SUI coins, richest first: gas selection for SimulateTransaction."""
        with self._lock:
            ids = [
                str(r[0])
                for r in self._conn.execute(
                    "SELECT object_id FROM objects WHERE owner_address = ? AND type = ? "
                    "ORDER BY balance DESC LIMIT ?",
                    (owner, COIN_SUI_TYPE, limit + len(exclude)),
                ).fetchall()
            ]
        rows = [self.object_row(i) for i in ids if i not in exclude]
        return [r for r in rows if r is not None][:limit]

    # -- transactions, events, checkpoints ----------------------------------------------------
    def transaction(self, digest: str) -> TxRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM transactions WHERE digest = ?", (digest,)
            ).fetchone()
        if row is None:
            return None
        return TxRecord(
            digest=row["digest"],
            tx_index=int(row["tx_index"]),
            kind=row["kind"],
            sender=row["sender"],
            bcs=bytes(row["bcs"]),
            signatures=[base64.b64decode(s) for s in json.loads(row["signatures"])],
            effects=json.loads(row["effects"]),
            checkpoint=int(row["checkpoint"]),
            timestamp_ms=int(row["timestamp_ms"]),
        )

    def events_of(self, digest: str) -> list[EventRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM events WHERE tx_digest = ? ORDER BY event_index", (digest,)
            ).fetchall()
        return [
            EventRow(
                tx_digest=r["tx_digest"],
                event_index=int(r["event_index"]),
                checkpoint=int(r["checkpoint"]),
                package_id=r["package_id"],
                module=r["module"],
                sender=r["sender"],
                event_type=r["type"],
                fields=json.loads(r["json"]),
                bcs=bytes(r["bcs"]),
            )
            for r in rows
        ]

    @staticmethod
    def _checkpoint_from(row: sqlite3.Row) -> CheckpointRecord:
        return CheckpointRecord(
            seq=int(row["seq"]),
            digest=row["digest"],
            previous_digest=row["previous_digest"],
            epoch=int(row["epoch"]),
            timestamp_ms=int(row["timestamp_ms"]),
            tx_digests=json.loads(row["tx_digests"]),
            total_transactions=int(row["total_transactions"]),
        )

    def checkpoint(self, seq: int) -> CheckpointRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM checkpoints WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else self._checkpoint_from(row)

    def checkpoint_by_digest(self, digest: str) -> CheckpointRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM checkpoints WHERE digest = ?", (digest,)
            ).fetchone()
        return None if row is None else self._checkpoint_from(row)

    def latest_checkpoint(self) -> CheckpointRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM checkpoints ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return None if row is None else self._checkpoint_from(row)

    def epoch_info(self, epoch: int) -> EpochRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM epochs WHERE epoch = ?", (epoch,)).fetchone()
        if row is None:
            return None
        return EpochRecord(
            epoch=int(row["epoch"]),
            start_ms=int(row["start_ms"]),
            first_checkpoint=int(row["first_checkpoint"]),
            reference_gas_price=int(row["reference_gas_price"]),
        )

    def epoch_last_checkpoint(self, epoch: int) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(seq) FROM checkpoints WHERE epoch = ?", (epoch,)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # -- writes -------------------------------------------------------------------------------
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

    def _append_checkpoint(
        self, conn: sqlite3.Connection, epoch: int, timestamp_ms: int, tx_digests: list[str]
    ) -> CheckpointRecord:
        last = conn.execute(
            "SELECT seq, digest, total_transactions FROM checkpoints ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq = 0 if last is None else int(last[0]) + 1
        previous = None if last is None else str(last[1])
        total = (0 if last is None else int(last[2])) + len(tx_digests)
        digest = salted_digest(
            b"CheckpointSummary::",
            {
                "seq": seq,
                "epoch": epoch,
                "previous": previous,
                "transactions": tx_digests,
                "timestamp_ms": timestamp_ms,
            },
        )
        conn.execute(
            "INSERT INTO checkpoints (seq, digest, previous_digest, epoch, timestamp_ms, "
            "tx_digests, total_transactions) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, digest, previous, epoch, timestamp_ms, json.dumps(tx_digests), total),
        )
        return CheckpointRecord(seq, digest, previous, epoch, timestamp_ms, tx_digests, total)

    @staticmethod
    def _write_object(conn: sqlite3.Connection, obj: StoredObject) -> None:
        digest = obj.digest()
        owner = owner_to_json(obj.owner)
        conn.execute(
            "INSERT OR REPLACE INTO object_versions (object_id, version, owner, type, fields, "
            "previous_transaction, digest, bcs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                obj.object_id,
                obj.version,
                canonical_json(owner),
                obj.type,
                canonical_json(obj.fields),
                obj.previous_transaction,
                digest,
                obj.bcs(),
            ),
        )
        conn.execute(
            "INSERT OR REPLACE INTO objects (object_id, version, owner_address, type, balance) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                obj.object_id,
                obj.version,
                owner.get("address"),
                obj.type,
                coin_balance(obj),
            ),
        )

    @staticmethod
    def _input_state(conn: sqlite3.Connection, object_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            "SELECT v.version, v.digest, v.owner FROM objects o JOIN object_versions v "
            "ON v.object_id = o.object_id AND v.version = o.version WHERE o.object_id = ?",
            (object_id,),
        ).fetchone()
        if row is None:
            return None
        return {"version": int(row[0]), "digest": row[1], "owner": json.loads(row[2])}

    def _effects(self, conn: sqlite3.Connection, tx: PendingTx, epoch: int) -> dict[str, Any]:
        """The effects JSON of `tx` against the current state (read before any write)."""
        changed: list[dict[str, Any]] = []
        for op, objs in (("created", tx.created), ("mutated", tx.mutated)):
            for obj in objs:
                before = self._input_state(conn, obj.object_id)
                changed.append(
                    {
                        "id": obj.object_id,
                        "op": "created" if before is None else op,
                        "input": before,
                        "output": {
                            "version": obj.version,
                            "digest": obj.digest(),
                            "owner": owner_to_json(obj.owner),
                        },
                        "type": obj.type,
                    }
                )
        for object_id in tx.deleted:
            before = self._input_state(conn, object_id)
            changed.append(
                {"id": object_id, "op": "deleted", "input": before, "output": None, "type": None}
            )
        events_payload = [
            {"type": e.event_type, "sender": e.sender, "json": e.fields} for e in tx.events
        ]
        effects: dict[str, Any] = {
            "transaction_digest": tx.digest,
            "status": tx.status,
            "epoch": epoch,
            "gas_used": tx.gas_used,
            "gas_object": tx.gas_object,
            "lamport_version": tx.lamport_version,
            "changed": changed,
            "events_digest": (
                salted_digest(b"TransactionEvents::", events_payload) if tx.events else None
            ),
        }
        effects["digest"] = salted_digest(b"TransactionEffects::", effects)
        return effects

    def preview(self, tx: PendingTx) -> TxRecord:
        """What `commit` would record, without writing (SimulateTransaction)."""
        with self._lock:
            effects = self._effects(self._conn, tx, self.epoch())
        return TxRecord(
            digest=tx.digest,
            tx_index=-1,
            kind=tx.kind,
            sender=tx.sender,
            bcs=tx.tx_bytes,
            signatures=list(tx.signatures),
            effects=effects,
            checkpoint=-1,
            timestamp_ms=self.timestamp_ms(),
        )

    def commit(self, tx: PendingTx) -> tuple[CheckpointRecord, TxRecord]:
        """Apply one transaction and append its checkpoint, atomically."""
        with self._write() as conn:
            epoch_row = conn.execute("SELECT MAX(epoch) FROM epochs").fetchone()
            epoch = int(epoch_row[0]) if epoch_row[0] is not None else 0
            timestamp_ms = self.timestamp_ms()
            effects = self._effects(conn, tx, epoch)
            for obj in [*tx.created, *tx.mutated]:
                self._write_object(conn, obj)
            for object_id in tx.deleted:
                conn.execute("DELETE FROM objects WHERE object_id = ?", (object_id,))
            for table_id, key, value in tx.table_changes:
                if value is None:
                    conn.execute(
                        "DELETE FROM table_entries WHERE table_id = ? AND key = ?",
                        (table_id, key),
                    )
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO table_entries (table_id, key, value) "
                        "VALUES (?, ?, ?)",
                        (table_id, key, value),
                    )
            checkpoint = self._append_checkpoint(conn, epoch, timestamp_ms, [tx.digest])
            for index, event in enumerate(tx.events):
                conn.execute(
                    "INSERT INTO events (tx_digest, event_index, checkpoint, package_id, module, "
                    "sender, type, json, bcs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        tx.digest,
                        index,
                        checkpoint.seq,
                        event.package_id,
                        event.module,
                        event.sender,
                        event.event_type,
                        canonical_json(event.fields),
                        event.bcs(),
                    ),
                )
            index_row = conn.execute("SELECT COUNT(*) FROM transactions").fetchone()
            record = TxRecord(
                digest=tx.digest,
                tx_index=int(index_row[0]),
                kind=tx.kind,
                sender=tx.sender,
                bcs=tx.tx_bytes,
                signatures=list(tx.signatures),
                effects=effects,
                checkpoint=checkpoint.seq,
                timestamp_ms=timestamp_ms,
            )
            conn.execute(
                "INSERT INTO transactions (digest, tx_index, kind, sender, bcs, signatures, "
                "effects, checkpoint, timestamp_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.digest,
                    record.tx_index,
                    record.kind,
                    record.sender,
                    record.bcs,
                    json.dumps([base64.b64encode(s).decode() for s in record.signatures]),
                    canonical_json(effects),
                    record.checkpoint,
                    record.timestamp_ms,
                ),
            )
            for key, value in tx.meta.items():
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
            if epoch_row[0] is None:  # genesis: epoch 0 starts with checkpoint 0;
                # the chain id is the genesis checkpoint digest, as on Sui
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('chain_id', ?)",
                    (checkpoint.digest,),
                )
                conn.execute(
                    "INSERT INTO epochs (epoch, start_ms, first_checkpoint, reference_gas_price) "
                    "VALUES (0, ?, ?, ?)",
                    (timestamp_ms, checkpoint.seq, REFERENCE_GAS_PRICE),
                )
        return checkpoint, record

    def advance_epoch(self) -> CheckpointRecord:
        """Start the next epoch; an empty checkpoint marks it so subscribers see the change."""
        with self._write() as conn:
            row = conn.execute("SELECT MAX(epoch), MAX(reference_gas_price) FROM epochs").fetchone()
            if row[0] is None:
                raise LedgerError("advance_epoch before genesis")
            epoch = int(row[0]) + 1
            timestamp_ms = self.timestamp_ms()
            checkpoint = self._append_checkpoint(conn, epoch, timestamp_ms, [])
            conn.execute(
                "INSERT INTO epochs (epoch, start_ms, first_checkpoint, reference_gas_price) "
                "VALUES (?, ?, ?, ?)",
                (epoch, timestamp_ms, checkpoint.seq, int(row[1])),
            )
        return checkpoint

    def counts(self) -> dict[str, int]:
        """Row counts, for `GET /devnet/info` and tests."""
        out: dict[str, int] = {}
        with self._lock:
            for table in ("objects", "transactions", "events", "checkpoints", "epochs"):
                row = self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
                out[table] = int(row[0])
        return out
