"""The devnet's object model, shared by the ledger (which stores it) and the executor.

Fields are kept in Sui's JSON rendering (docs/protocol.md §2: u64 as decimal strings, bytes as
base64, ids as 0x+64 hex), so serving `Object.json` is a copy, not a translation. `bcs()` gives
the Move struct's BCS bytes from the layouts in `devnet.layouts`; `sui_object()` wraps them in
Sui's `Object` (type, public transfer, version, owner, previous transaction, storage rebate),
whose digest is the object digest effects record and GetObject serves.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, Protocol

from k3s_daas.chain.certified import (
    Event,
    MoveObject,
    Object,
    StructType,
    digest_from_base58,
    digest_to_base58,
    object_digest,
)
from k3s_daas.chain.certified import Owner as SuiOwner
from k3s_daas.devnet.layouts import struct_bcs
from k3s_daas.seal.sui import COIN_SUI_TYPE

#: Storage charged per byte of an object's Move struct, plus a fixed overhead (devnet gas).
STORAGE_MIST_PER_BYTE: Final = 100
OBJECT_OVERHEAD_BYTES: Final = 100
#: `TransactionDigest::ZERO`, the previous transaction of an object no transaction wrote yet.
_NO_TRANSACTION: Final = bytes(32)


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


def sui_owner(owner: Owner) -> SuiOwner:
    """The owner as Sui's BCS writes it (objects and effects)."""
    if isinstance(owner, AddressOwner):
        return SuiOwner.by_address(owner.address)
    if isinstance(owner, SharedOwner):
        return SuiOwner.shared(owner.initial_shared_version)
    return SuiOwner.immutable()


@lru_cache(maxsize=1024)
def struct_type(type_: str) -> StructType:
    """A stored type string as a Move struct tag (types repeat: parsed once each)."""
    return StructType.parse(type_)


def has_public_transfer(type_: str) -> bool:
    """Whether the struct has `store` (transferable by anyone holding it): Coin and AdminCap."""
    return type_ == COIN_SUI_TYPE or type_.endswith("::staking::AdminCap")


def storage_for(struct_size: int) -> int:
    """Storage MIST for an object whose Move struct is `struct_size` bytes."""
    return STORAGE_MIST_PER_BYTE * (OBJECT_OVERHEAD_BYTES + struct_size)


def digest_bytes(digest: str) -> bytes:
    """A base58 transaction or object digest as its 32 bytes (empty: no transaction yet)."""
    return digest_from_base58(digest) if digest else _NO_TRANSACTION


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

    def bcs(self) -> bytes:
        """BCS of the Move struct (Coin<SUI> = UID ‖ u64)."""
        return struct_bcs(self.type, self.fields)

    def storage_rebate(self) -> int:
        """What holding this version costs, and what replacing or deleting it pays back."""
        return storage_for(len(self.bcs()))

    def sui_object(self) -> Object:
        """This version as Sui's `Object` (a Move object; the devnet stores no packages)."""
        contents = self.bcs()
        return Object(
            MoveObject(
                struct_type(self.type), has_public_transfer(self.type), self.version, contents
            ),
            sui_owner(self.owner),
            digest_bytes(self.previous_transaction),
            storage_for(len(contents)),
        )

    def object_bcs(self) -> bytes:
        """The BCS of Sui's `Object` (GetObject's `bcs`)."""
        return self.sui_object().encode()

    def digest(self) -> str:
        """Sui's object digest, base58: blake2b-256("Object::" ‖ object BCS)."""
        return digest_to_base58(object_digest(self.object_bcs()))


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

    def sui_event(self) -> Event:
        """The event as `TransactionEvents` carries it."""
        return Event(
            self.package_id, self.module, self.sender, struct_type(self.event_type), self.bcs()
        )


class LedgerView(Protocol):
    """What the executor may read: the ledger at the current tip."""

    def get_object(self, object_id: str) -> StoredObject | None: ...
    def epoch(self) -> int: ...
    def timestamp_ms(self) -> int: ...
    def reference_gas_price(self) -> int: ...
    def table_get(self, table_id: str, key: str) -> str | None: ...
