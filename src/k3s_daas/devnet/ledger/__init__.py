"""The devnet's SQLite ledger: storage, object bookkeeping, transactions, checkpoints."""

from k3s_daas.devnet.ledger.ledger import Ledger
from k3s_daas.devnet.ledger.records import (
    CheckpointRecord,
    EpochRecord,
    EventRow,
    ObjectRow,
    OwnedCursor,
    TxRecord,
)

__all__ = [
    "CheckpointRecord",
    "EpochRecord",
    "EventRow",
    "Ledger",
    "ObjectRow",
    "OwnedCursor",
    "TxRecord",
]
