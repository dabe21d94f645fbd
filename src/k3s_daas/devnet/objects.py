"""The devnet's object model, shared by the ledger (which stores it) and the executor.

Fields are kept in Sui's JSON rendering (docs/protocol.md §2: u64 as decimal strings, bytes as
base64, ids as 0x+64 hex), so serving `Object.json` is a copy, not a translation. `bcs()` gives
the Move struct's BCS bytes from the layouts in `package.layouts`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import base58

from k3s_daas.seal.errors import K3sDaasError


@dataclass(frozen=True)
class AddressOwner:
    """Owned by an account: only its signer may use the object."""

    address: str


@dataclass(frozen=True)
class SharedOwner:
    """Shared (consensus) object; `initial_shared_version` names it in transactions."""

    initial_shared_version: int


@dataclass(frozen=True)
class ImmutableOwner:
    """Frozen: anyone may read it, nobody may change it."""


Owner = AddressOwner | SharedOwner | ImmutableOwner


class InvalidTransaction(K3sDaasError):
    """Rejected before execution (nothing changes, no gas charged): INVALID_ARGUMENT.

    Reasons: bad_signature, signer_not_sender, bad_bcs, stale_object, object_not_found,
    not_owner, insufficient_gas, unsupported_command, bad_argument."""

    reason = "invalid_transaction"


def canonical(fields: dict[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces) for digests."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def derive_object_id(tx_digest: str, index: int) -> str:
    """Id of the `index`-th object created by a transaction, Sui's way:
    blake2b-256(tx digest bytes ‖ creation index u64 LE) (without Sui's 0xf1 scope byte)."""
    data = base58.b58decode(tx_digest) + index.to_bytes(8, "little")
    return "0x" + hashlib.blake2b(data, digest_size=32).hexdigest()


@dataclass
class StoredObject:
    """One version of an object: id, Sui lamport version, owner, full Move type, JSON fields."""

    object_id: str
    version: int
    owner: Owner
    type: str
    fields: dict[str, Any]
    previous_transaction: str = ""

    def copy(self) -> StoredObject:
        """Deep copy: the executor mutates its working copies, never the ledger's."""
        return StoredObject(
            self.object_id,
            self.version,
            self.owner,
            self.type,
            copy.deepcopy(self.fields),
            self.previous_transaction,
        )

    def digest(self) -> str:
        """Simplified object digest: blake2b-256 over id, version, type and canonical JSON."""
        h = hashlib.blake2b(digest_size=32)
        h.update(self.object_id.encode() + self.version.to_bytes(8, "little"))
        h.update(self.type.encode() + canonical(self.fields))
        return str(base58.b58encode(h.digest()).decode())

    def bcs(self) -> bytes:
        """BCS of the Move struct (Coin<SUI> = UID ‖ u64)."""
        from k3s_daas.devnet.package.layouts import struct_bcs

        return struct_bcs(self.type, self.fields)


@dataclass
class ChainEvent:
    """A Move event: `event_type` is the full `<pkg>::<module>::<Name>`, fields JSON-rendered."""

    package_id: str
    module: str
    sender: str
    event_type: str
    fields: dict[str, Any]

    def bcs(self) -> bytes:
        """BCS of the event struct."""
        from k3s_daas.devnet.package.layouts import struct_bcs

        return struct_bcs(self.event_type, self.fields)


@dataclass
class ExecutionStatus:
    """Success, or why not: a Move abort (module, function, code) or an execution error kind;
    `command_index` is the PTB command that failed."""

    success: bool
    error: str | None = None
    abort_module: str | None = None
    abort_function: str | None = None
    abort_code: int | None = None
    command_index: int | None = None
    abort_package: str | None = None


@dataclass
class GasCost:
    """Sui's GasCostSummary: the gas coin pays computation + storage - rebate."""

    computation: int
    storage: int
    rebate: int = 0

    @property
    def net(self) -> int:
        """What the gas coin lost (negative: it gained from rebates)."""
        return self.computation + self.storage - self.rebate


@dataclass
class TableChange:
    """A `Table<String, ID>` entry written (value) or removed (None) by a transaction."""

    table_id: str
    key: str
    value: str | None


@dataclass
class Effects:
    """Everything a transaction changed; the ledger commits it in one SQLite transaction.

    On failure only the gas coin is mutated (gas charged, merged gas coins deleted), events
    are empty and no table changes are made."""

    digest: str
    sender: str
    status: ExecutionStatus
    gas_used: GasCost
    created: list[StoredObject]
    mutated: list[StoredObject]
    deleted: list[str]
    events: list[ChainEvent]
    lamport_version: int
    epoch: int
    tx_bytes: bytes
    signatures: list[bytes]
    table_changes: list[TableChange] = field(default_factory=list)


class LedgerView(Protocol):
    """What the executor may read: the ledger at the current tip."""

    def get_object(self, object_id: str) -> StoredObject | None: ...
    def epoch(self) -> int: ...
    def timestamp_ms(self) -> int: ...
    def reference_gas_price(self) -> int: ...
    def table_get(self, table_id: str, key: str) -> str | None: ...


@dataclass
class MemoryLedger:
    """An in-memory `LedgerView` that applies effects like the SQLite ledger (unit tests,
    dry runs); `now_ms` None means the wall clock."""

    objects: dict[str, StoredObject] = field(default_factory=dict)
    tables: dict[tuple[str, str], str] = field(default_factory=dict)
    current_epoch: int = 0
    now_ms: int | None = None
    gas_price: int = 1000

    def get_object(self, object_id: str) -> StoredObject | None:
        obj = self.objects.get(object_id)
        return None if obj is None else obj.copy()

    def epoch(self) -> int:
        return self.current_epoch

    def timestamp_ms(self) -> int:
        if self.now_ms is not None:
            return self.now_ms
        return int(time.time() * 1000)

    def reference_gas_price(self) -> int:
        return self.gas_price

    def table_get(self, table_id: str, key: str) -> str | None:
        return self.tables.get((table_id, key))

    def put(self, obj: StoredObject) -> None:
        """Add an object directly (genesis, faucet)."""
        self.objects[obj.object_id] = obj.copy()

    def apply(self, effects: Effects) -> None:
        """Commit a transaction's effects."""
        for obj in [*effects.created, *effects.mutated]:
            self.objects[obj.object_id] = obj.copy()
        for object_id in effects.deleted:
            self.objects.pop(object_id, None)
        for change in effects.table_changes:
            if change.value is None:
                self.tables.pop((change.table_id, change.key), None)
            else:
                self.tables[(change.table_id, change.key)] = change.value
