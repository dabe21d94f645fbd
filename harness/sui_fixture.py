"""A real Sui checkpoint for tests and benchmarks: checkpoint 1137 of an upstream network and its
committee, from sui-rust-sdk's fixtures (tests/data/sui/NOTICE), split into what a full node
serves one by one: summary, certificate, contents, and per transaction its effects, events and
objects.

The file is `bcs(CheckpointData)`. The product does not decode transactions (`SenderSignedData`),
so each one is stepped over by its digest: the transaction data is the prefix whose
`"TransactionData::"` digest the contents name, followed by its signatures, and the effects
start right after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    CheckpointContents,
    CheckpointSummary,
    Committee,
    ExecutionDigests,
    Object,
    TransactionEffects,
    TransactionEvents,
    effects_digest,
    sui_digest,
)
from k3s_daas.chain.certified.bcs import BcsError, Reader

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "sui"
CHECKPOINT_FILE = DATA / "1137.chk"
COMMITTEE_FILE = DATA / "committee.bcs"


@dataclass(frozen=True)
class FixtureTransaction:
    """One transaction's parts as a node serves them (BCS bytes each)."""

    transaction_data: bytes
    effects: bytes
    events: bytes | None
    input_objects: tuple[bytes, ...]
    output_objects: tuple[bytes, ...]


@dataclass(frozen=True)
class FixtureCheckpoint:
    summary: bytes
    certificate: AuthorityStrongQuorumSignInfo
    certificate_bcs: bytes
    contents: bytes
    transactions: tuple[FixtureTransaction, ...]
    committee: Committee
    #: bytes of the file (`bcs(CheckpointData)`) the parts were cut from
    raw: bytes


def _span(reader: Reader, read: Callable[[Reader], object]) -> bytes:
    start = reader.pos
    read(reader)
    return reader.data[start : reader.pos]


def _effects_at(data: bytes, pos: int, digest: bytes) -> bool:
    try:
        return effects_digest(_span(Reader(data, pos), TransactionEffects.read)) == digest
    except BcsError:
        return False


def _transaction(reader: Reader, entry: ExecutionDigests) -> bytes:
    """Step over `SenderSignedData` (one transaction: intent, data, signatures) and return the
    `TransactionData`: the prefix after which the signatures and then the listed effects parse,
    and whose digest is the listed transaction digest."""
    start = reader.pos
    if reader.take(4) != b"\x01\x00\x00\x00":  # one transaction, intent 0/0/0 (TransactionData)
        raise BcsError("expected one sender-signed transaction")
    data_start = reader.pos
    for end in range(data_start + 1, len(reader.data)):
        signatures = Reader(reader.data, end)
        try:
            signatures.vector(signatures.byte_vector)
        except BcsError:
            continue
        data = reader.data[data_start:end]
        if _effects_at(reader.data, signatures.pos, entry.effects):
            if sui_digest("TransactionData", data) != entry.transaction:
                raise BcsError(f"transaction at {start}: digest differs from the contents")
            reader.pos = signatures.pos
            return data
    raise BcsError(f"transaction at {start}: its effects were not found")


@cache
def load() -> FixtureCheckpoint:
    raw = CHECKPOINT_FILE.read_bytes()
    reader = Reader(raw)
    summary = _span(reader, CheckpointSummary.read)
    certificate_start = reader.pos
    certificate = AuthorityStrongQuorumSignInfo.read(reader)
    certificate_bcs = raw[certificate_start : reader.pos]
    contents_start = reader.pos
    contents = CheckpointContents.read(reader)
    contents_bcs = raw[contents_start : reader.pos]
    transactions = []
    if reader.length() != len(contents.transactions):
        raise BcsError("one CheckpointTransaction per contents entry")
    for entry in contents.transactions:
        data = _transaction(reader, entry)
        effects = _span(reader, TransactionEffects.read)
        events = reader.option(lambda: _span(reader, TransactionEvents.read))
        inputs = reader.vector(lambda: _span(reader, Object.read))
        outputs = reader.vector(lambda: _span(reader, Object.read))
        transactions.append(FixtureTransaction(data, effects, events, inputs, outputs))
    reader.finish("checkpoint data")
    return FixtureCheckpoint(
        summary=summary,
        certificate=certificate,
        certificate_bcs=certificate_bcs,
        contents=contents_bcs,
        transactions=tuple(transactions),
        committee=Committee.decode(COMMITTEE_FILE.read_bytes()),
        raw=raw,
    )
