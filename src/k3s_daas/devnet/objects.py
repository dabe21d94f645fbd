"""The devnet's object model, shared by the ledger (which stores it) and the executor.

Fields are kept in Sui's JSON rendering (docs/protocol.md §2: u64 as decimal strings, bytes as
base64, ids as 0x+64 hex), so serving `Object.json` is a copy, not a translation. `bcs()` gives
the Move struct's BCS bytes from the layouts in `devnet.layouts`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

import base58

from k3s_daas.devnet.layouts import struct_bcs
from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.sui import COIN_SUI_TYPE, blake2b256


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


def owner_to_json(owner: Owner) -> dict[str, Any]:
    """The owner as the ledger stores it (object versions and effects)."""
    if isinstance(owner, AddressOwner):
        return {"kind": "address", "address": owner.address}
    if isinstance(owner, SharedOwner):
        return {"kind": "shared", "initial_shared_version": owner.initial_shared_version}
    return {"kind": "immutable"}


def owner_from_json(data: dict[str, Any]) -> Owner:
    """Inverse of `owner_to_json`."""
    kind = data.get("kind")
    if kind == "address":
        return AddressOwner(address=str(data["address"]))
    if kind == "shared":
        return SharedOwner(initial_shared_version=int(data["initial_shared_version"]))
    return ImmutableOwner()


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
        data = self.object_id.encode() + self.version.to_bytes(8, "little")
        data += self.type.encode() + canonical_json(self.fields)
        return str(base58.b58encode(blake2b256(data)).decode())

    def bcs(self) -> bytes:
        """BCS of the Move struct (Coin<SUI> = UID ‖ u64)."""
        return struct_bcs(self.type, self.fields)


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


@dataclass
class ChainEvent:
    """A Move event: `event_type` is the full `<pkg>::<module>::<Name>` of its struct, while
    `package_id`/`module` name the MoveCall that emitted it (as on Sui); fields JSON-rendered."""

    package_id: str
    module: str
    sender: str
    event_type: str
    fields: dict[str, Any]

    def bcs(self) -> bytes:
        """BCS of the event struct."""
        return struct_bcs(self.event_type, self.fields)


class LedgerView(Protocol):
    """What the executor may read: the ledger at the current tip."""

    def get_object(self, object_id: str) -> StoredObject | None: ...
    def epoch(self) -> int: ...
    def timestamp_ms(self) -> int: ...
    def reference_gas_price(self) -> int: ...
    def table_get(self, table_id: str, key: str) -> str | None: ...
