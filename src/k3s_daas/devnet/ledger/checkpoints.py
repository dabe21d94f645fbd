"""Checkpoints and epochs in the ledger: the certified checkpoint chain (one per transaction, one
that closes each epoch, and empty heartbeats while idle), the chain's time, and each epoch's
start, gas price and committee.

Every checkpoint is Sui's: `CheckpointContents` V1 listing (transaction digest, effects digest)
with the user signatures, a `CheckpointSummary` (epoch, sequence, running transaction count,
content digest, the previous summary's digest, the epoch's rolling gas, time) and the epoch
committee's quorum certificate over it. The last checkpoint of an epoch carries
`end_of_epoch_data` naming the next committee; the next epoch's checkpoints follow it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    CheckpointContents,
    CheckpointSummary,
    EndOfEpochData,
    ExecutionDigests,
    GasCostSummary,
    UserSignature,
    digest_to_base58,
)
from k3s_daas.devnet.effects import ExecutedTransaction
from k3s_daas.devnet.errors import LedgerError
from k3s_daas.devnet.ids import PROTOCOL_VERSION, REFERENCE_GAS_PRICE
from k3s_daas.devnet.ledger.records import CheckpointRecord, EpochRecord
from k3s_daas.devnet.ledger.store import SqliteStore
from k3s_daas.devnet.objects import digest_bytes
from k3s_daas.devnet.validators import EpochCommittee, ValidatorKeys


def _checkpoint_from(row: sqlite3.Row) -> CheckpointRecord:
    return CheckpointRecord(
        seq=int(row["seq"]),
        digest=row["digest"],
        previous_digest=row["previous_digest"],
        epoch=int(row["epoch"]),
        timestamp_ms=int(row["timestamp_ms"]),
        tx_digests=json.loads(row["tx_digests"]),
        total_transactions=int(row["total_transactions"]),
        summary=bytes(row["summary"]),
        contents=bytes(row["contents"]),
        certificate=AuthorityStrongQuorumSignInfo.decode(bytes(row["certificate"])),
    )


def _contents(txs: Sequence[ExecutedTransaction]) -> CheckpointContents:
    """V1 contents: each transaction's digests and its user signatures (none for system ones)."""
    return CheckpointContents(
        tuple(
            ExecutionDigests(digest_bytes(t.digest), digest_bytes(t.effects.digest)) for t in txs
        ),
        tuple(tuple(UserSignature(s) for s in t.signatures) for t in txs),
    )


def _rolling_gas(
    previous: GasCostSummary | None, txs: Sequence[ExecutedTransaction]
) -> GasCostSummary:
    """The epoch's gas so far: the previous checkpoint's total (same epoch) plus these."""
    base = previous or GasCostSummary()
    return GasCostSummary(
        base.computation_cost + sum(t.effects.gas_used.computation for t in txs),
        base.storage_cost + sum(t.effects.gas_used.storage for t in txs),
        base.storage_rebate + sum(t.effects.gas_used.rebate for t in txs),
        base.non_refundable_storage_fee,
    )


class CheckpointStore(SqliteStore):
    """Checkpoint and epoch reads; appends happen inside `Ledger.commit` / `advance_epoch`,
    certified with `validators` (a ledger opened without them can only be read)."""

    def __init__(self, path: Path, validators: ValidatorKeys | None = None) -> None:
        super().__init__(path)
        self._validators = validators
        self._committees: dict[int, EpochCommittee] = {}

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
            committee=self._committee_of(epoch, row["committee"]),
        )

    def epoch_last_checkpoint(self, epoch: int) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(seq) FROM checkpoints WHERE epoch = ?", (epoch,)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def advance_epoch(self, rotate: int | None = None) -> tuple[int, CheckpointRecord]:
        """Close the epoch: its last checkpoint names the next committee (the same keys, or
        validator `rotate` with a new key); returns the new epoch and that checkpoint."""
        validators = self._signer()
        with self._write() as conn:
            row = conn.execute(
                "SELECT epoch, reference_gas_price, committee FROM epochs "
                "ORDER BY epoch DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise LedgerError("advance_epoch before genesis")
            epoch = int(row[0])
            following = validators.next_committee(self._committee_of(epoch, row[2]), rotate)
            timestamp_ms = self.timestamp_ms()
            checkpoint = self._append_checkpoint(conn, epoch, timestamp_ms, [], following)
            self._start_epoch(
                conn, epoch + 1, timestamp_ms, checkpoint.seq + 1, int(row[1]), following
            )
        return epoch + 1, checkpoint

    def append_heartbeat(self) -> CheckpointRecord:
        """An empty checkpoint of the current epoch, certified like any other: Sui's builder
        makes one when a consensus commit brings no transaction, so a follower can tell "nothing
        happened" from "I am not receiving checkpoints"."""
        with self._write() as conn:
            row = conn.execute("SELECT MAX(epoch) FROM epochs").fetchone()
            if row is None or row[0] is None:
                raise LedgerError("heartbeat before genesis")
            return self._append_checkpoint(conn, int(row[0]), self.timestamp_ms(), [])

    # -- writes, inside the caller's SQLite transaction ---------------------------------------
    def _signer(self) -> ValidatorKeys:
        if self._validators is None:
            raise LedgerError(f"ledger {self.path} was opened without validator keys: read-only")
        return self._validators

    def _committee_of(self, epoch: int, stored: str) -> EpochCommittee:
        committee = self._committees.get(epoch)
        if committee is None:
            committee = self._committees[epoch] = EpochCommittee.from_json(
                epoch, json.loads(stored)
            )
        return committee

    def _committee_in(self, conn: sqlite3.Connection, epoch: int) -> EpochCommittee:
        row = conn.execute("SELECT committee FROM epochs WHERE epoch = ?", (epoch,)).fetchone()
        if row is None:
            raise LedgerError(f"epoch {epoch} has no committee")
        return self._committee_of(epoch, str(row[0]))

    def _append_checkpoint(
        self,
        conn: sqlite3.Connection,
        epoch: int,
        timestamp_ms: int,
        txs: Sequence[ExecutedTransaction],
        next_committee: EpochCommittee | None = None,
    ) -> CheckpointRecord:
        """Build, certify and store the next checkpoint of `txs` (`next_committee`: it closes
        the epoch)."""
        validators = self._signer()
        last = conn.execute(
            "SELECT seq, digest, total_transactions, summary FROM checkpoints "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        previous = None if last is None else CheckpointSummary.decode(bytes(last[3]))
        contents = _contents(txs)
        summary = CheckpointSummary(
            epoch=epoch,
            sequence_number=0 if last is None else int(last[0]) + 1,
            network_total_transactions=(0 if last is None else int(last[2])) + len(txs),
            content_digest=contents.digest(),
            previous_digest=None if previous is None else previous.digest(),
            epoch_rolling_gas_cost_summary=_rolling_gas(
                None
                if previous is None or previous.epoch != epoch
                else previous.epoch_rolling_gas_cost_summary,
                txs,
            ),
            timestamp_ms=timestamp_ms,
            end_of_epoch_data=None
            if next_committee is None
            else EndOfEpochData(next_committee.members(), PROTOCOL_VERSION),
        )
        certificate = validators.certify(summary, self._committee_in(conn, epoch))
        summary_bcs, contents_bcs = summary.encode(), contents.encode()
        record = CheckpointRecord(
            seq=summary.sequence_number,
            digest=digest_to_base58(summary.digest()),
            previous_digest=None if last is None else str(last[1]),
            epoch=epoch,
            timestamp_ms=timestamp_ms,
            tx_digests=[t.digest for t in txs],
            total_transactions=summary.network_total_transactions,
            summary=summary_bcs,
            contents=contents_bcs,
            certificate=certificate,
        )
        conn.execute(
            "INSERT INTO checkpoints (seq, digest, previous_digest, epoch, timestamp_ms, "
            "tx_digests, total_transactions, summary, contents, certificate) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.seq,
                record.digest,
                record.previous_digest,
                epoch,
                timestamp_ms,
                json.dumps(record.tx_digests),
                record.total_transactions,
                summary_bcs,
                contents_bcs,
                certificate.encode(),
            ),
        )
        return record

    @staticmethod
    def _start_epoch(
        conn: sqlite3.Connection,
        epoch: int,
        start_ms: int,
        first_checkpoint: int,
        gas_price: int,
        committee: EpochCommittee,
    ) -> None:
        if committee.epoch != epoch:
            raise LedgerError(f"committee of epoch {committee.epoch} given for epoch {epoch}")
        conn.execute(
            "INSERT INTO epochs (epoch, start_ms, first_checkpoint, reference_gas_price, "
            "committee) VALUES (?, ?, ?, ?, ?)",
            (epoch, start_ms, first_checkpoint, gas_price, json.dumps(committee.to_json())),
        )
