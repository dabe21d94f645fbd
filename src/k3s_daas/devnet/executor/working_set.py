"""One transaction's working set: copies of its inputs, what it created, moved and deleted, its
events and table writes. It is the `package.Runtime` the native Move functions act through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from k3s_daas.devnet.errors import ExecutionFailure, InvalidTransaction
from k3s_daas.devnet.objects import (
    AddressOwner,
    ChainEvent,
    LedgerView,
    SharedOwner,
    StoredObject,
)
from k3s_daas.devnet.package.runtime import AttestationFields
from k3s_daas.seal.sui import derive_object_id, normalize_address


@dataclass
class WorkingSet:
    """Mutable state of one transaction; nothing reaches the ledger unless it succeeds."""

    view: LedgerView
    sender: str
    epoch: int
    timestamp_ms: int
    digest: str
    package_id: str
    store_types: frozenset[str]
    verifier: Callable[[bytes, int], AttestationFields] | None
    objects: dict[str, StoredObject] = field(default_factory=dict)
    #: input objects as the ledger held them (never mutated): the effects' input states
    originals: dict[str, StoredObject] = field(default_factory=dict)
    mutable_inputs: set[str] = field(default_factory=set)
    created: dict[str, StoredObject] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    moved: set[str] = field(default_factory=set)
    unplaced: set[str] = field(default_factory=set)  # fresh values the PTB must still place
    events: list[ChainEvent] = field(default_factory=list)
    tables: dict[tuple[str, str], str | None] = field(default_factory=dict)
    creations: int = 0
    #: (package, module) of the MoveCall command running now: Sui tags the events it emits with
    #: them, not with the module that defines the event.
    command_module: tuple[str, str] | None = None

    # -- Runtime protocol --
    def new_object(
        self, type_: str, fields: dict[str, Any], *, shared: bool, owner: str | None = None
    ) -> StoredObject:
        object_id = derive_object_id(self.digest, self.creations)
        self.creations += 1
        fields["id"] = object_id
        owner_ = SharedOwner(0) if shared else AddressOwner(owner or "")
        obj = StoredObject(object_id, 0, owner_, type_, fields)
        if not shared and owner is None:
            self.unplaced.add(object_id)
        self.objects[object_id] = obj
        self.created[object_id] = obj
        return obj

    def delete(self, obj: StoredObject) -> None:
        self.deleted.add(obj.object_id)
        self.moved.add(obj.object_id)
        self.unplaced.discard(obj.object_id)
        self.created.pop(obj.object_id, None)

    def transfer(self, obj: StoredObject, recipient: str) -> None:
        if obj.type not in self.store_types:
            raise ExecutionFailure(
                f"{obj.type} has no `store`: it cannot be transferred", "InvalidTransferObject"
            )
        obj.owner = AddressOwner(normalize_address(recipient))
        self.moved.add(obj.object_id)
        self.unplaced.discard(obj.object_id)

    def emit(self, module: str, name: str, fields: dict[str, Any]) -> None:
        event_type = f"{self.package_id}::{module}::{name}"
        package, called = self.command_module or (self.package_id, module)
        self.events.append(ChainEvent(package, called, self.sender, event_type, fields))

    def table_get(self, table_id: str, key: str) -> str | None:
        if (table_id, key) in self.tables:
            return self.tables[(table_id, key)]
        return self.view.table_get(table_id, key)

    def table_set(self, table_id: str, key: str, value: str | None) -> None:
        self.tables[(table_id, key)] = value

    def verify_attestation(self, document: bytes) -> AttestationFields:
        if self.verifier is None:
            return AttestationFields({}, None, 0, verified=False)
        return self.verifier(document, self.timestamp_ms)

    # -- object access --
    def get(self, object_id: str) -> StoredObject:
        """A live object of this transaction (an input or one it created)."""
        if object_id in self.moved:
            raise ExecutionFailure(f"object {object_id} was moved earlier", "InvalidValueUsage")
        return self.objects[object_id]

    def load_input(self, object_id: str) -> StoredObject:
        """Read an input object from the ledger (once); the transaction works on a copy."""
        if object_id in self.originals:
            raise InvalidTransaction(f"object {object_id} is used twice", reason="bad_argument")
        obj = self.view.get_object(object_id)
        if obj is None:
            raise InvalidTransaction(
                f"Could not find the referenced object {object_id} at version None",
                reason="object_not_found",
            )
        self.originals[object_id] = obj
        self.objects[object_id] = obj.copy()
        return self.objects[object_id]
