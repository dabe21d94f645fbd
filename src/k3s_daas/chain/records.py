"""What the chain answered, as plain frozen records: objects, epochs, events, executed transactions.

They carry no gRPC types, so views, consumers and their tests use them without the wire
(`chain.convert` builds them from Sui's protobuf answers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from k3s_daas.chain.errors import ChainError
from k3s_daas.seal.sui import normalize_type


@dataclass(frozen=True)
class ObjectRef:
    """An owned object at one version (what gas payment and owned inputs name)."""

    object_id: str
    version: int
    digest: str


@dataclass(frozen=True)
class ObjectData:
    """One object as the client read it (the read mask asks for all of these)."""

    object_id: str
    version: int
    type: str
    owner: str | None  # the owning address; None for shared and immutable objects
    shared: bool
    fields: dict[str, Any] = field(repr=False)
    initial_shared_version: int | None = None
    digest: str | None = None
    balance: int | None = None  # Coin<T> objects only
    #: The verified checkpoint as of which this is the object's latest version (None: read
    #: without verification, `chain.verified`).
    checkpoint: int | None = None


@dataclass(frozen=True)
class EpochInfo:
    epoch: int
    reference_gas_price: int
    start_ms: int


@dataclass(frozen=True)
class EventData:
    """One Move event with the coordinates that identify it: (checkpoint, tx_digest, index)."""

    checkpoint: int
    tx_digest: str
    index: int
    type: str  # full, normalised: <package>::<module>::<Name>
    module: str
    name: str  # e.g. "StakeSlashed"
    fields: dict[str, Any] = field(repr=False)
    sender: str = ""
    package_id: str = ""

    @property
    def key(self) -> tuple[str, int]:
        """The idempotency key a consumer should record: (tx digest, event index)."""
        return (self.tx_digest, self.index)


@dataclass(frozen=True)
class ObjectChange:
    """One entry of a transaction's changed objects (its state after the transaction)."""

    object_id: str
    type: str | None
    owner: str | None
    shared: bool
    version: int | None
    digest: str | None
    initial_shared_version: int | None = None

    @property
    def ref(self) -> ObjectRef:
        if self.version is None or self.digest is None:
            raise ChainError(f"object {self.object_id} has no output version", reason="bad_effects")
        return ObjectRef(self.object_id, self.version, self.digest)


@dataclass(frozen=True)
class TxResult:
    """A successfully executed transaction (failures raise instead)."""

    digest: str
    checkpoint: int | None
    created: list[ObjectChange]
    mutated: list[ObjectChange]
    deleted: list[str]
    events: list[EventData]
    objects: dict[str, ObjectData] = field(repr=False)
    gas_object: ObjectChange | None = None

    def created_of_type(self, type_: str) -> list[ObjectChange]:
        wanted = normalize_type(type_)
        return [c for c in self.created if c.type is not None and normalize_type(c.type) == wanted]


__all__ = ["EpochInfo", "EventData", "ObjectChange", "ObjectData", "ObjectRef", "TxResult"]
