"""Checkpoints and epochs in the ledger: the hash-linked checkpoint chain (one per transaction,
plus an empty one per epoch change), the chain's time, and each epoch's start and gas price."""

from __future__ import annotations

import json
import sqlite3
import time

from k3s_daas.devnet.digests import salted_digest
from k3s_daas.devnet.errors import LedgerError
from k3s_daas.devnet.ids import REFERENCE_GAS_PRICE
from k3s_daas.devnet.ledger.records import CheckpointRecord, EpochRecord
from k3s_daas.devnet.ledger.store import SqliteStore


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


class CheckpointStore(SqliteStore):
    """Checkpoint and epoch reads; appends happen inside `Ledger.commit` / `advance_epoch`."""

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

    def checkpoint(self, seq: int) -> CheckpointRecord | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM checkpoints WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else _checkpoint_from(row)

    def checkpoint_by_digest(self, digest: str) -> CheckpointRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM checkpoints WHERE digest = ?", (digest,)
            ).fetchone()
        return None if row is None else _checkpoint_from(row)

    def latest_checkpoint(self) -> CheckpointRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM checkpoints ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _checkpoint_from(row)

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

    def advance_epoch(self) -> CheckpointRecord:
        """Start the next epoch; an empty checkpoint marks it so subscribers see the change."""
        with self._write() as conn:
            row = conn.execute("SELECT MAX(epoch), MAX(reference_gas_price) FROM epochs").fetchone()
            if row[0] is None:
                raise LedgerError("advance_epoch before genesis")
            epoch = int(row[0]) + 1
            timestamp_ms = self.timestamp_ms()
            checkpoint = self._append_checkpoint(conn, epoch, timestamp_ms, [])
            self._start_epoch(conn, epoch, timestamp_ms, checkpoint.seq, int(row[1]))
        return checkpoint

    # -- writes, inside the caller's SQLite transaction ---------------------------------------
    @staticmethod
    def _append_checkpoint(
        conn: sqlite3.Connection, epoch: int, timestamp_ms: int, tx_digests: list[str]
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
    def _start_epoch(
        conn: sqlite3.Connection, epoch: int, start_ms: int, first_checkpoint: int, gas_price: int
    ) -> None:
        conn.execute(
            "INSERT INTO epochs (epoch, start_ms, first_checkpoint, reference_gas_price) "
            "VALUES (?, ?, ?, ?)",
            (epoch, start_ms, first_checkpoint, gas_price),
        )
