"""`TransactionEffects` V2: what a transaction wrote (object ids, versions, digests) and the
digest of its events; a checkpoint's contents list each effects digest.

Layout: `sui-types` effects/effects_v2.rs (sui-rust-sdk effects/v2.rs and @mysten/sui
`bcs/effects` agree); checked on the nine real effects of checkpoint 1137. Only V2 is read: V1
effects predate every network this project talks to. Accumulator writes are kept as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from k3s_daas.chain.certified import bcs
from k3s_daas.chain.certified.checkpoint import GasCostSummary
from k3s_daas.chain.certified.execution_status import ExecutionFailure, encode_status, read_status
from k3s_daas.chain.certified.move_types import read_type
from k3s_daas.chain.certified.owner import Owner

_EFFECTS_V2 = 1


class IdOperation(IntEnum):
    NONE = 0
    CREATED = 1
    DELETED = 2


@dataclass(frozen=True)
class ObjectInput:
    """`ObjectIn::Exist`: the version, digest and owner an object had before the transaction."""

    version: int
    digest: bytes
    owner: Owner

    def encode(self) -> bytes:
        return bcs.u64(self.version) + bcs.digest(self.digest) + self.owner.encode()

    @classmethod
    def read(cls, reader: bcs.Reader) -> ObjectInput:
        return cls(reader.u64(), reader.digest(), Owner.read(reader))


class OutputKind(IntEnum):
    NOT_EXIST = 0
    OBJECT_WRITE = 1
    PACKAGE_WRITE = 2
    ACCUMULATOR_WRITE = 3


def _skip_accumulator_write(reader: bcs.Reader) -> None:
    # AccumulatorWriteV1 { address: { address, ty: TypeTag }, operation, value }
    reader.take(bcs.ADDRESS_LENGTH)
    read_type(reader)
    reader.tag(2, "AccumulatorOperation")
    value = reader.tag(3, "AccumulatorValue")
    if value == 0:
        reader.u64()
    elif value == 1:
        reader.take(16)
    else:
        reader.vector(lambda: (reader.u64(), reader.digest()))


@dataclass(frozen=True)
class ObjectOutput:
    """`ObjectOut`: an object write (digest, owner; its version is the lamport version), a
    package write (version, digest), an accumulator write (kept as bytes) or nothing."""

    kind: OutputKind
    digest: bytes | None = None
    owner: Owner | None = None
    version: int | None = None
    accumulator: bytes = b""

    @classmethod
    def object_write(cls, digest: bytes, owner: Owner) -> ObjectOutput:
        return cls(OutputKind.OBJECT_WRITE, digest=digest, owner=owner)

    @classmethod
    def package_write(cls, version: int, digest: bytes) -> ObjectOutput:
        return cls(OutputKind.PACKAGE_WRITE, digest=digest, version=version)

    def __post_init__(self) -> None:
        shape = (self.digest is not None, self.owner is not None, self.version is not None)
        expected = {
            OutputKind.OBJECT_WRITE: (True, True, False),
            OutputKind.PACKAGE_WRITE: (True, False, True),
        }.get(self.kind, (False, False, False))
        if shape != expected or (self.accumulator and self.kind != OutputKind.ACCUMULATOR_WRITE):
            raise ValueError(f"bad fields for an output of kind {self.kind.name}")

    def encode(self) -> bytes:
        # ObjectWrite(digest, owner) | PackageWrite(version, digest) | AccumulatorWriteV1
        return (
            bcs.tag(self.kind)
            + (b"" if self.version is None else bcs.u64(self.version))
            + (b"" if self.digest is None else bcs.digest(self.digest))
            + (b"" if self.owner is None else self.owner.encode())
            + self.accumulator
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> ObjectOutput:
        kind = OutputKind(reader.tag(len(OutputKind), "ObjectOut"))
        if kind == OutputKind.OBJECT_WRITE:
            return cls(kind, digest=reader.digest(), owner=Owner.read(reader))
        if kind == OutputKind.PACKAGE_WRITE:
            version = reader.u64()
            return cls(kind, digest=reader.digest(), version=version)
        if kind == OutputKind.ACCUMULATOR_WRITE:
            start = reader.pos
            _skip_accumulator_write(reader)
            return cls(kind, accumulator=reader.data[start : reader.pos])
        return cls(kind)


@dataclass(frozen=True)
class ChangedObject:
    """One `changed_objects` entry: an object's state before and after, and its id operation."""

    object_id: str
    input_state: ObjectInput | None
    output_state: ObjectOutput
    id_operation: IdOperation = IdOperation.NONE

    def encode(self) -> bytes:
        return (
            bcs.address(self.object_id)
            + bcs.option(self.input_state, ObjectInput.encode)
            + self.output_state.encode()
            + bcs.tag(self.id_operation)
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> ChangedObject:
        object_id = reader.address()
        input_state = ObjectInput.read(reader) if reader.tag(2, "ObjectIn") else None
        output_state = ObjectOutput.read(reader)
        id_operation = IdOperation(reader.tag(len(IdOperation), "IDOperation"))
        return cls(object_id, input_state, output_state, id_operation)


class UnchangedKind(IntEnum):
    READ_ONLY_ROOT = 0
    MUTATE_CONSENSUS_STREAM_ENDED = 1
    READ_CONSENSUS_STREAM_ENDED = 2
    CANCELLED = 3
    PER_EPOCH_CONFIG = 4


@dataclass(frozen=True)
class UnchangedSharedObject:
    """A consensus object the transaction read without changing (`UnchangedConsensusKind`)."""

    object_id: str
    kind: UnchangedKind
    version: int | None = None
    digest: bytes | None = None

    def encode(self) -> bytes:
        out = bcs.address(self.object_id) + bcs.tag(self.kind)
        if self.version is not None:
            out += bcs.u64(self.version)
        if self.digest is not None:
            out += bcs.digest(self.digest)
        return out

    @classmethod
    def read(cls, reader: bcs.Reader) -> UnchangedSharedObject:
        object_id = reader.address()
        kind = UnchangedKind(reader.tag(len(UnchangedKind), "UnchangedConsensusKind"))
        if kind == UnchangedKind.READ_ONLY_ROOT:
            return cls(object_id, kind, reader.u64(), reader.digest())
        if kind == UnchangedKind.PER_EPOCH_CONFIG:
            return cls(object_id, kind)
        return cls(object_id, kind, reader.u64())


@dataclass(frozen=True)
class TransactionEffects:
    """Effects V2; `failure` is None when the transaction succeeded."""

    executed_epoch: int
    gas_used: GasCostSummary
    transaction_digest: bytes
    lamport_version: int
    changed_objects: tuple[ChangedObject, ...] = ()
    events_digest: bytes | None = None
    failure: ExecutionFailure | None = None
    gas_object_index: int | None = None
    dependencies: tuple[bytes, ...] = ()
    unchanged_shared_objects: tuple[UnchangedSharedObject, ...] = ()
    aux_data_digest: bytes | None = None
    _by_id: dict[str, ChangedObject] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._by_id.update((c.object_id, c) for c in self.changed_objects)

    def change_of(self, object_id: str) -> ChangedObject | None:
        """The `changed_objects` entry of `object_id` (`0x` + 64 hex), if it changed."""
        return self._by_id.get(object_id)

    def output_reference(self, object_id: str) -> tuple[int, bytes] | None:
        """(version, digest) the object was written at here, as `all_changed_objects()` names
        it: the lamport version for an object write, the package's own for a package write."""
        change = self.change_of(object_id)
        if change is None:
            return None
        out = change.output_state
        if out.kind == OutputKind.OBJECT_WRITE and out.digest is not None:
            return self.lamport_version, out.digest
        if out.kind == OutputKind.PACKAGE_WRITE and out.digest is not None:
            assert out.version is not None
            return out.version, out.digest
        return None

    def encode(self) -> bytes:
        return (
            bcs.tag(_EFFECTS_V2)
            + encode_status(self.failure)
            + bcs.u64(self.executed_epoch)
            + self.gas_used.encode()
            + bcs.digest(self.transaction_digest)
            + bcs.option(self.gas_object_index, bcs.u32)
            + bcs.option(self.events_digest, bcs.digest)
            + bcs.vector(self.dependencies, bcs.digest)
            + bcs.u64(self.lamport_version)
            + bcs.vector(self.changed_objects, ChangedObject.encode)
            + bcs.vector(self.unchanged_shared_objects, UnchangedSharedObject.encode)
            + bcs.option(self.aux_data_digest, bcs.digest)
        )

    @classmethod
    def read(cls, reader: bcs.Reader) -> TransactionEffects:
        if reader.tag(2, "TransactionEffects") != _EFFECTS_V2:
            raise bcs.BcsError("effects V1 are not supported")
        failure = read_status(reader)
        executed_epoch = reader.u64()
        gas_used = GasCostSummary.read(reader)
        transaction_digest = reader.digest()
        gas_object_index = reader.option(reader.u32)
        events_digest = reader.option(reader.digest)
        dependencies = reader.vector(reader.digest)
        lamport_version = reader.u64()
        changed = reader.vector(lambda: ChangedObject.read(reader))
        unchanged = reader.vector(lambda: UnchangedSharedObject.read(reader))
        return cls(
            executed_epoch=executed_epoch,
            gas_used=gas_used,
            transaction_digest=transaction_digest,
            lamport_version=lamport_version,
            changed_objects=changed,
            events_digest=events_digest,
            failure=failure,
            gas_object_index=gas_object_index,
            dependencies=dependencies,
            unchanged_shared_objects=unchanged,
            aux_data_digest=reader.option(reader.digest),
        )

    @classmethod
    def decode(cls, data: bytes) -> TransactionEffects:
        return bcs.decode_all(data, cls.read, "transaction effects")

    def digest(self) -> bytes:
        return effects_digest(self.encode())


def effects_digest(effects_bcs: bytes) -> bytes:
    """`blake2b256("TransactionEffects::" ‖ bcs)`, the version byte included."""
    return bcs.sui_digest("TransactionEffects", effects_bcs)


__all__ = [
    "ChangedObject",
    "IdOperation",
    "ObjectInput",
    "ObjectOutput",
    "OutputKind",
    "TransactionEffects",
    "UnchangedKind",
    "UnchangedSharedObject",
    "effects_digest",
]
