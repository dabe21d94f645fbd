"""The devnet's ledger: objects, transactions, events and checkpoints in one SQLite file.

One writer (the node's asyncio lock) commits each transaction's objects, table entries, events,
the transaction with its effects, and its certified checkpoint in ONE SQLite transaction. One
checkpoint per transaction (plus an empty one closing each epoch, and empty heartbeats).
`Ledger` is the executor's `LedgerView`; `Ledger(path, validators)` certifies checkpoints with
the validator keys, `Ledger(path)` can only be read.
"""

from __future__ import annotations

from k3s_daas.devnet.effects import ExecutedTransaction, events_bcs
from k3s_daas.devnet.errors import LedgerError
from k3s_daas.devnet.ids import REFERENCE_GAS_PRICE
from k3s_daas.devnet.ledger.checkpoints import CheckpointStore
from k3s_daas.devnet.ledger.object_store import ObjectStore
from k3s_daas.devnet.ledger.records import CheckpointRecord, TxRecord
from k3s_daas.devnet.ledger.transaction_store import TransactionStore
from k3s_daas.devnet.validators import EpochCommittee


class Ledger(ObjectStore, TransactionStore, CheckpointStore):
    """SQLite-backed chain state; reads from any coroutine, writes only through `commit`."""

    @property
    def initialized(self) -> bool:
        """True once genesis has been committed (the chain id is written with it)."""
        return self.meta_get("chain_id") is not None

    def preview(self, tx: ExecutedTransaction) -> TxRecord:
        """What `commit` would record, without writing (SimulateTransaction)."""
        return TxRecord(
            digest=tx.digest,
            tx_index=-1,
            kind=tx.kind,
            sender=tx.sender,
            bcs=tx.tx_bytes,
            signatures=list(tx.signatures),
            effects=tx.effects,
            checkpoint=-1,
            timestamp_ms=self.timestamp_ms(),
            effects_bcs=tx.effects.bcs(),
            events_bcs=events_bcs(tx.events),
        )

    def commit(
        self,
        tx: ExecutedTransaction,
        meta: dict[str, str] | None = None,
        *,
        genesis_committee: EpochCommittee | None = None,
    ) -> tuple[CheckpointRecord, TxRecord]:
        """Apply one transaction and append its checkpoint, atomically; `meta` keys are
        written in the same SQLite transaction (genesis records its ids this way). The first
        commit is genesis and needs the committee of epoch 0."""
        with self._write() as conn:
            epoch_row = conn.execute("SELECT MAX(epoch) FROM epochs").fetchone()
            epoch = int(epoch_row[0]) if epoch_row[0] is not None else 0
            timestamp_ms = self.timestamp_ms()
            if epoch_row[0] is None:  # genesis: epoch 0 starts with checkpoint 0
                if genesis_committee is None:
                    raise LedgerError("genesis needs the committee of epoch 0")
                self._start_epoch(conn, 0, timestamp_ms, 0, REFERENCE_GAS_PRICE, genesis_committee)
            self._write_objects(conn, [*tx.created, *tx.mutated], tx.deleted)
            self._write_tables(conn, tx.table_changes)
            checkpoint = self._append_checkpoint(conn, epoch, timestamp_ms, [tx])
            record = self._insert(conn, tx, checkpoint.seq, timestamp_ms)
            for key, value in (meta or {}).items():
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
            if epoch_row[0] is None:  # the chain id is the genesis checkpoint digest, as on Sui
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('chain_id', ?)",
                    (checkpoint.digest,),
                )
        return checkpoint, record
