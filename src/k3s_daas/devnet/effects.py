"""What a transaction did, as ONE typed record from the executor through the ledger to gRPC.

`TransactionEffects` is Sui's effects summary (status, gas, changed object references, digests):
the executor (or a system transaction) builds it, the ledger stores it as canonical JSON beside
the transaction and reads it back as the same type, and `render` turns it into
`sui.rpc.v2.TransactionEffects`. `bcs()` is the record as Sui's `TransactionEffects` V2 and
`digest` is Sui's digest of those bytes, the one a checkpoint's contents list; the events
digest is that of the real `TransactionEvents` BCS. `ExecutedTransaction` adds what the ledger
must write besides the summary: the transaction bytes, the new object versions, events and
table entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from k3s_daas.chain.certified import (
    ChangedObject,
    ExecutionFailure,
    GasCostSummary,
    IdOperation,
    ObjectInput,
    ObjectOutput,
    OutputKind,
    TransactionEvents,
    UnchangedKind,
    UnchangedSharedObject,
    digest_to_base58,
    effects_digest,
    events_digest,
)
from k3s_daas.chain.certified import TransactionEffects as SuiEffects
from k3s_daas.devnet.failures import failure, move_abort
from k3s_daas.devnet.objects import (
    ChainEvent,
    Owner,
    SharedOwner,
    StoredObject,
    digest_bytes,
    owner_from_json,
    owner_to_json,
    sui_owner,
)

TxKind = Literal["programmable", "genesis", "faucet"]
ChangeOp = Literal["created", "mutated", "deleted"]


@dataclass(frozen=True)
class ExecutionStatus:
    """Success, or why not: a Move abort (module, function, code) or an execution error kind;
    `command_index` is the PTB command that failed. `abort_package` is not persisted."""

    success: bool
    error: str | None = None
    abort_module: str | None = None
    abort_function: str | None = None
    abort_code: int | None = None
    command_index: int | None = None
    abort_package: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "error": self.error,
            "abort_module": self.abort_module,
            "abort_function": self.abort_function,
            "abort_code": self.abort_code,
            "command_index": self.command_index,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExecutionStatus:
        """Also reads the short `{"success": true}` that older system transactions stored."""
        return cls(
            success=bool(data["success"]),
            error=data.get("error"),
            abort_module=data.get("abort_module"),
            abort_function=data.get("abort_function"),
            abort_code=data.get("abort_code"),
            command_index=data.get("command_index"),
        )

    def sui_failure(self) -> ExecutionFailure | None:
        """Sui's `ExecutionFailureStatus` (None for success)."""
        if self.success:
            return None
        if self.abort_code is not None:
            return move_abort(
                self.abort_module or "", self.abort_function, self.abort_code, self.command_index
            )
        return failure(self.error, self.command_index)


@dataclass(frozen=True)
class GasCost:
    """Sui's GasCostSummary: the gas coin pays computation + storage - rebate."""

    computation: int
    storage: int
    rebate: int = 0

    @property
    def net(self) -> int:
        """What the gas coin lost (negative: it gained from rebates)."""
        return self.computation + self.storage - self.rebate

    def to_json(self) -> dict[str, int]:
        return {"computation": self.computation, "storage": self.storage, "rebate": self.rebate}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GasCost:
        return cls(int(data["computation"]), int(data["storage"]), int(data["rebate"]))


@dataclass(frozen=True)
class TableChange:
    """A `Table<String, ID>` entry written (value) or removed (None) by a transaction."""

    table_id: str
    key: str
    value: str | None


@dataclass(frozen=True)
class ObjectState:
    """An object reference before or after a transaction: version, digest and owner."""

    version: int
    digest: str
    owner: Owner

    @classmethod
    def of(cls, obj: StoredObject) -> ObjectState:
        return cls(obj.version, obj.digest(), obj.owner)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "digest": self.digest, "owner": owner_to_json(self.owner)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectState:
        return cls(int(data["version"]), str(data["digest"]), owner_from_json(data["owner"]))


@dataclass(frozen=True)
class SharedRead:
    """A shared object the transaction read without changing it (`ReadOnlyRoot`)."""

    object_id: str
    version: int
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.object_id, "version": self.version, "digest": self.digest}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SharedRead:
        return cls(str(data["id"]), int(data["version"]), str(data["digest"]))


@dataclass(frozen=True)
class ObjectChange:
    """One changed object: its state before (None: it did not exist) and after (None: deleted)."""

    object_id: str
    op: ChangeOp
    input: ObjectState | None
    output: ObjectState | None
    type: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.object_id,
            "op": self.op,
            "input": None if self.input is None else self.input.to_json(),
            "output": None if self.output is None else self.output.to_json(),
            "type": self.type,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectChange:
        before, after = data.get("input"), data.get("output")
        return cls(
            object_id=str(data["id"]),
            op=data["op"],
            input=None if before is None else ObjectState.from_json(before),
            output=None if after is None else ObjectState.from_json(after),
            type=data.get("type"),
        )

    def sui_change(self) -> ChangedObject:
        """The `changed_objects` entry: input `Exist`/`NotExist`, output an object write (its
        version is the lamport version) or `NotExist`, and the id operation."""
        before, after = self.input, self.output
        return ChangedObject(
            self.object_id,
            None
            if before is None
            else ObjectInput(before.version, digest_bytes(before.digest), sui_owner(before.owner)),
            ObjectOutput(OutputKind.NOT_EXIST)
            if after is None
            else ObjectOutput.object_write(digest_bytes(after.digest), sui_owner(after.owner)),
            {"created": IdOperation.CREATED, "deleted": IdOperation.DELETED}.get(
                self.op, IdOperation.NONE
            ),
        )


def events_bcs(events: Sequence[ChainEvent]) -> bytes | None:
    """Sui's `TransactionEvents` BCS of a transaction's events (None: it emitted none)."""
    if not events:
        return None
    return TransactionEvents(tuple(e.sui_event() for e in events)).encode()


def _events_digest(events: Sequence[ChainEvent]) -> str | None:
    data = events_bcs(events)
    return None if data is None else digest_to_base58(events_digest(data))


@dataclass(frozen=True)
class TransactionEffects:
    """The effects summary; `digest` is Sui's digest of `bcs()`. `changed` is sorted by object
    id, as Sui's `changed_objects`; `dependencies` are the transactions that wrote the inputs."""

    transaction_digest: str
    status: ExecutionStatus
    epoch: int
    gas_used: GasCost
    gas_object: str | None
    lamport_version: int
    changed: tuple[ObjectChange, ...]
    events_digest: str | None
    digest: str
    dependencies: tuple[str, ...] = ()
    unchanged_shared: tuple[SharedRead, ...] = ()

    @classmethod
    def summarize(
        cls,
        *,
        transaction_digest: str,
        status: ExecutionStatus,
        epoch: int,
        gas_used: GasCost,
        gas_object: str | None,
        lamport_version: int,
        inputs: Mapping[str, StoredObject],
        created: Sequence[StoredObject],
        mutated: Sequence[StoredObject],
        deleted: Sequence[str],
        events: Sequence[ChainEvent],
    ) -> TransactionEffects:
        """Effects of a transaction whose input objects (as read before it ran) are `inputs`."""

        def before(object_id: str) -> ObjectState | None:
            obj = inputs.get(object_id)
            return None if obj is None else ObjectState.of(obj)

        def written(obj: StoredObject, op: ChangeOp) -> ObjectChange:
            state = before(obj.object_id)
            op = "created" if state is None else op
            return ObjectChange(obj.object_id, op, state, ObjectState.of(obj), obj.type)

        changed = [
            *(written(obj, "created") for obj in created),
            *(written(obj, "mutated") for obj in mutated),
            *(ObjectChange(i, "deleted", before(i), None, None) for i in deleted),
        ]
        changed.sort(key=lambda c: c.object_id)
        touched = {c.object_id for c in changed}
        read_only = [
            SharedRead(obj.object_id, obj.version, obj.digest())
            for obj in sorted(inputs.values(), key=lambda o: o.object_id)
            if isinstance(obj.owner, SharedOwner) and obj.object_id not in touched
        ]
        dependencies = sorted(
            {obj.previous_transaction for obj in inputs.values() if obj.previous_transaction},
            key=digest_bytes,
        )
        summary = cls(
            transaction_digest, status, epoch, gas_used, gas_object, lamport_version,
            tuple(changed), _events_digest(events), digest="",
            dependencies=tuple(dependencies), unchanged_shared=tuple(read_only),
        )  # fmt: skip
        return replace(summary, digest=digest_to_base58(effects_digest(summary.bcs())))

    def sui_effects(self) -> SuiEffects:
        """This record as Sui's `TransactionEffects` V2."""
        changes = tuple(c.sui_change() for c in self.changed)
        gas_index = next(
            (i for i, c in enumerate(self.changed) if c.object_id == self.gas_object), None
        )
        return SuiEffects(
            executed_epoch=self.epoch,
            gas_used=GasCostSummary(
                self.gas_used.computation, self.gas_used.storage, self.gas_used.rebate, 0
            ),
            transaction_digest=digest_bytes(self.transaction_digest),
            lamport_version=self.lamport_version,
            changed_objects=changes,
            events_digest=None if self.events_digest is None else digest_bytes(self.events_digest),
            failure=self.status.sui_failure(),
            gas_object_index=gas_index,
            dependencies=tuple(digest_bytes(d) for d in self.dependencies),
            unchanged_shared_objects=tuple(
                UnchangedSharedObject(
                    r.object_id, UnchangedKind.READ_ONLY_ROOT, r.version, digest_bytes(r.digest)
                )
                for r in self.unchanged_shared
            ),
        )

    def bcs(self) -> bytes:
        """The effects BCS a checkpoint commits to (GetTransaction's `effects.bcs`)."""
        return self.sui_effects().encode()

    def _body(self) -> dict[str, Any]:
        return {
            "transaction_digest": self.transaction_digest,
            "status": self.status.to_json(),
            "epoch": self.epoch,
            "gas_used": self.gas_used.to_json(),
            "gas_object": self.gas_object,
            "lamport_version": self.lamport_version,
            "changed": [c.to_json() for c in self.changed],
            "events_digest": self.events_digest,
            "dependencies": list(self.dependencies),
            "unchanged_shared": [r.to_json() for r in self.unchanged_shared],
        }

    def to_json(self) -> dict[str, Any]:
        """What the ledger stores in `transactions.effects` (canonical JSON)."""
        return {**self._body(), "digest": self.digest}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TransactionEffects:
        return cls(
            transaction_digest=str(data["transaction_digest"]),
            status=ExecutionStatus.from_json(data["status"]),
            epoch=int(data["epoch"]),
            gas_used=GasCost.from_json(data["gas_used"]),
            gas_object=data.get("gas_object"),
            lamport_version=int(data["lamport_version"]),
            changed=tuple(ObjectChange.from_json(c) for c in data["changed"]),
            events_digest=data.get("events_digest"),
            digest=str(data["digest"]),
            dependencies=tuple(str(d) for d in data.get("dependencies", ())),
            unchanged_shared=tuple(
                SharedRead.from_json(r) for r in data.get("unchanged_shared", ())
            ),
        )


@dataclass(frozen=True)
class ExecutedTransaction:
    """A transaction and everything it writes; `Ledger.commit` applies it atomically.

    On failure only the gas coin is mutated (gas charged, merged gas coins deleted), events
    are empty and no table changes are made."""

    kind: TxKind
    sender: str
    tx_bytes: bytes
    signatures: list[bytes]
    effects: TransactionEffects
    created: list[StoredObject] = field(default_factory=list)
    mutated: list[StoredObject] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    events: list[ChainEvent] = field(default_factory=list)
    table_changes: list[TableChange] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """The transaction digest."""
        return self.effects.transaction_digest
