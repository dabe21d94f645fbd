"""Transactions and events in the ledger: each committed transaction with its BCS, signatures
and effects (stored as canonical JSON of `TransactionEffects`, and as the effects and events BCS
its checkpoint commits to), and the events it emitted."""

from __future__ import annotations

import json
import sqlite3

from k3s_daas.devnet.effects import ExecutedTransaction, TransactionEffects, events_bcs
from k3s_daas.devnet.ledger.records import EventRow, TxRecord
from k3s_daas.devnet.ledger.store import SqliteStore
from k3s_daas.seal.encoding import b64decode, b64encode, canonical_json


class TransactionStore(SqliteStore):
    """Transaction and event reads; rows are written inside `Ledger.commit`."""

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
            signatures=[b64decode(s) for s in json.loads(row["signatures"])],
            effects=TransactionEffects.from_json(json.loads(row["effects"])),
            checkpoint=int(row["checkpoint"]),
            timestamp_ms=int(row["timestamp_ms"]),
            effects_bcs=bytes(row["effects_bcs"]),
            events_bcs=None if row["events_bcs"] is None else bytes(row["events_bcs"]),
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

    # -- writes, inside the caller's SQLite transaction ---------------------------------------
    @staticmethod
    def _insert(
        conn: sqlite3.Connection, tx: ExecutedTransaction, checkpoint: int, timestamp_ms: int
    ) -> TxRecord:
        """The transaction row and its events, at the next transaction index."""
        for index, event in enumerate(tx.events):
            conn.execute(
                "INSERT INTO events (tx_digest, event_index, checkpoint, package_id, module, "
                "sender, type, json, bcs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tx.digest,
                    index,
                    checkpoint,
                    event.package_id,
                    event.module,
                    event.sender,
                    event.event_type,
                    canonical_json(event.fields).decode(),
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
            effects=tx.effects,
            checkpoint=checkpoint,
            timestamp_ms=timestamp_ms,
            effects_bcs=tx.effects.bcs(),
            events_bcs=events_bcs(tx.events),
        )
        conn.execute(
            "INSERT INTO transactions (digest, tx_index, kind, sender, bcs, signatures, "
            "effects, checkpoint, timestamp_ms, effects_bcs, events_bcs) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.digest,
                record.tx_index,
                record.kind,
                record.sender,
                record.bcs,
                json.dumps([b64encode(s) for s in record.signatures]),
                canonical_json(record.effects.to_json()).decode(),
                record.checkpoint,
                record.timestamp_ms,
                record.effects_bcs,
                record.events_bcs,
            ),
        )
        return record
