"""`TransactionEvents`: a transaction's events, committed to by its effects' `events_digest`.

Layout and digest: `sui-types` event.rs and crypto.rs (`TransactionEvents { data: Vec<Event> }`,
hashed as `"TransactionEvents::" ‖ bcs`); sui-rust-sdk events.rs and hash.rs agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from k3s_daas.chain.certified import bcs
from k3s_daas.chain.certified.move_types import StructType, read_struct, write_struct


@dataclass(frozen=True)
class Event:
    """One Move event: the MoveCall's package and module, the sender, the type, the BCS."""

    package_id: str
    transaction_module: str
    sender: str
    type: StructType
    contents: bytes

    def encode(self) -> bytes:
        return (
            bcs.address(self.package_id)
            + bcs.string(self.transaction_module)
            + bcs.address(self.sender)
            + write_struct(self.type)
            + bcs.byte_vector(self.contents)
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> Event:
        return cls(
            reader.address(),
            reader.string(),
            reader.address(),
            read_struct(reader),
            reader.byte_vector(),
        )


@dataclass(frozen=True)
class TransactionEvents:
    data: tuple[Event, ...]

    def encode(self) -> bytes:
        return bcs.vector(self.data, Event.encode)

    @classmethod
    def read(cls, reader: bcs.Reader) -> TransactionEvents:
        return cls(reader.vector(lambda: Event.read(reader)))

    @classmethod
    def decode(cls, data: bytes) -> TransactionEvents:
        return bcs.decode_all(data, cls.read, "transaction events")

    def digest(self) -> bytes:
        return events_digest(self.encode())


def events_digest(events_bcs: bytes) -> bytes:
    return bcs.sui_digest("TransactionEvents", events_bcs)


__all__ = ["Event", "TransactionEvents", "events_digest"]
