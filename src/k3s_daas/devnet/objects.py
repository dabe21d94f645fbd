"""The devnet's object model, shared by the ledger (which stores it) and the executor.

Fields are kept in Sui's JSON rendering (docs/protocol.md §2: u64 as decimal strings, bytes as
base64, ids as 0x+64 hex), so serving `Object.json` is a copy, not a translation. `bcs()` gives
the Move struct's BCS bytes from the layouts in `package.LAYOUTS`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import base58

from k3s_daas.seal.errors import K3sDaasError


@dataclass(frozen=True)
class AddressOwner:
    address: str


@dataclass(frozen=True)
class SharedOwner:
    initial_shared_version: int


@dataclass(frozen=True)
class ImmutableOwner:
    pass


Owner = AddressOwner | SharedOwner | ImmutableOwner


class InvalidTransaction(K3sDaasError):
    """Rejected before execution (nothing changes, no gas charged): INVALID_ARGUMENT."""

    reason = "invalid_transaction"


def canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class StoredObject:
    object_id: str
    version: int
    owner: Owner
    type: str
    fields: dict[str, Any]
    previous_transaction: str = ""

    def copy(self) -> StoredObject:
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
        from k3s_daas.devnet.package import struct_bcs

        return struct_bcs(self.type, self.fields)


@dataclass
class ChainEvent:
    package_id: str
    module: str
    sender: str
    event_type: str
    fields: dict[str, Any]

    def bcs(self) -> bytes:
        from k3s_daas.devnet.package import struct_bcs

        return struct_bcs(self.event_type, self.fields)


@dataclass
class ExecutionStatus:
    success: bool
    error: str | None = None
    abort_module: str | None = None
    abort_function: str | None = None
    abort_code: int | None = None
    command_index: int | None = None


@dataclass
class GasCost:
    computation: int
    storage: int
    rebate: int = 0


@dataclass
class TableChange:
    table_id: str
    key: str
    value: str | None  # None: removed


@dataclass
class Effects:
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
