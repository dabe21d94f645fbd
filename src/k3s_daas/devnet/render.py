"""Ledger rows and typed effects -> sui.rpc.v2 proto messages, and read masks (`*`, nested
paths, validation).

Object renderings are cached per (id, version): an object version never changes, and turning its
fields into a protobuf `Value` is the costliest part of a GetObject.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any, TypeVar

import betterproto2
from pysui.sui.sui_bcs import bcs as sbcs
from pysui.sui.sui_grpc.suimsgs.google import protobuf as pb
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.devnet.effects import ExecutionStatus, ObjectChange
from k3s_daas.devnet.errors import BadRequest
from k3s_daas.devnet.failures import abort_package
from k3s_daas.devnet.layouts import move_json
from k3s_daas.devnet.ledger import EventRow, Ledger, ObjectRow, TxRecord
from k3s_daas.devnet.objects import (
    AddressOwner,
    Owner,
    SharedOwner,
    coin_balance,
    has_public_transfer,
)
from k3s_daas.seal.sui import (
    COIN_SUI_TYPE,
    SUI_TYPE,
    normalize_address,
    normalize_type,
)

M = TypeVar("M", bound=betterproto2.Message)

#: A parsed read mask: None = everything; else field name -> sub-mask.
MaskTree = dict[str, Any] | None

MAX_MASK_PATHS = 64


# -- read masks -----------------------------------------------------------------------------------
def _field_class(cls: type[betterproto2.Message], name: str) -> type[Any] | None:
    meta: Any = getattr(cls, "_betterproto")  # noqa: B009 - betterproto2's per-class metadata
    if name not in meta.meta_by_field_name:
        return None
    found: type[Any] | None = meta.cls_by_field.get(name)
    return found


def parse_mask(
    mask: pb.FieldMask | None,
    cls: type[betterproto2.Message],
    default: list[str] | None,
    *,
    validate: bool = True,
) -> MaskTree:
    """Validate `mask` against `cls` and turn it into a tree; an unknown path is BadRequest
    `invalid read_mask path: <path>`, as on Sui. `default` applies when the client sent no mask
    (None = everything). `validate=False` drops unknown paths instead, as a node's checkpoint
    stream does (it never validates its mask).
    """
    paths = list(mask.paths) if mask is not None and mask.paths else default
    if paths is None:
        return None
    if len(paths) > MAX_MASK_PATHS:
        raise BadRequest(f"read_mask has more than {MAX_MASK_PATHS} paths")
    tree: dict[str, Any] = {}
    for raw in paths:
        for path in str(raw).split(","):
            path = path.strip()
            if path == "*":
                return None
            if not path:
                if not validate:
                    continue
                raise BadRequest("read_mask has an empty path")
            node: dict[str, Any] | None = tree
            current: type[Any] | None = cls
            parts = path.split(".")
            for i, part in enumerate(parts):
                if current is None or not issubclass(current, betterproto2.Message):
                    if not validate:
                        break
                    raise BadRequest(f"invalid read_mask path: {path[:200]}")
                field_cls = _field_class(current, part)
                if field_cls is None:
                    if not validate:
                        break
                    raise BadRequest(f"invalid read_mask path: {path[:200]}")
                last = i == len(parts) - 1
                if node is None:  # an ancestor is already selected whole
                    break
                if last:
                    node[part] = None
                else:
                    if part not in node:
                        node[part] = {}
                    node = node[part]
                current = field_cls
    return tree


def wants(tree: MaskTree, name: str) -> bool:
    return tree is None or name in tree


def sub(tree: MaskTree, name: str) -> MaskTree:
    return None if tree is None else tree.get(name)


def subtree(tree: MaskTree, path: str) -> tuple[bool, MaskTree]:
    """Sui's `FieldMaskTree::subtree`: (present, the sub-mask). A path that goes on below a
    selected leaf is absent: mask `objects` has no subtree `objects.objects`."""
    if tree is None:  # `*`: everything below
        return (True, None)
    node: MaskTree = tree
    for part in path.split("."):
        if node is None or part not in node:  # None here: a selected leaf was passed
            return (False, None)
        node = node[part]
    return (True, node)  # a leaf selects its whole subtree (None)


def project(message: M, tree: MaskTree) -> M:
    """A copy of `message` holding only the masked fields (shares unmasked sub-messages)."""
    if tree is None:
        return message
    out = type(message)()
    for name, subtree in tree.items():
        value = getattr(message, name)
        if subtree is None or value is None:
            setattr(out, name, value)
        elif isinstance(value, list):
            setattr(out, name, [project(v, subtree) for v in value])
        elif isinstance(value, betterproto2.Message):
            setattr(out, name, project(value, subtree))
        else:
            setattr(out, name, value)
    return out


# -- small helpers --------------------------------------------------------------------------------
def timestamp(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def render_owner(owner: Owner) -> v2.Owner:
    if isinstance(owner, AddressOwner):
        return v2.Owner(kind=v2.OwnerOwnerKind.ADDRESS, address=owner.address)
    if isinstance(owner, SharedOwner):
        return v2.Owner(kind=v2.OwnerOwnerKind.SHARED, version=owner.initial_shared_version)
    return v2.Owner(kind=v2.OwnerOwnerKind.IMMUTABLE)


def json_value(data: Any) -> pb.Value:
    return pb.Value.from_dict(data)


def user_signature(sig: bytes) -> v2.UserSignature:
    simple = v2.SimpleSignature(
        scheme=v2.SignatureScheme.ED25519, signature=sig[1:65], public_key=sig[65:]
    )
    return v2.UserSignature(
        bcs=v2.Bcs(name="UserSignatureBytes", value=sig),
        scheme=v2.SignatureScheme.ED25519,
        simple=simple,
    )


# -- objects --------------------------------------------------------------------------------------
class ObjectRenderer:
    """Full `Object` renderings cached per (id, version); a read mask is applied per call."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._cache: OrderedDict[tuple[str, int], v2.Object] = OrderedDict()
        self._capacity = capacity

    def full(self, row: ObjectRow) -> v2.Object:
        key = (row.obj.object_id, row.obj.version)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        obj = row.obj
        is_coin = obj.type == COIN_SUI_TYPE
        rendered = v2.Object(
            bcs=v2.Bcs(name="Object", value=row.object_bcs),
            object_id=obj.object_id,
            version=obj.version,
            digest=row.digest,
            owner=render_owner(obj.owner),
            object_type=obj.type,
            has_public_transfer=has_public_transfer(obj.type),
            contents=v2.Bcs(name=obj.type, value=row.bcs),
            previous_transaction=obj.previous_transaction,
            storage_rebate=obj.storage_rebate(),
            json=json_value(move_json(obj.type, obj.fields)),
            balance=coin_balance(obj) if is_coin else None,
        )
        self._cache[key] = rendered
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return rendered

    def render(self, row: ObjectRow, tree: MaskTree) -> v2.Object:
        return project(self.full(row), tree)


# -- transactions ---------------------------------------------------------------------------------
def _execution_status(status: ExecutionStatus) -> v2.ExecutionStatus:
    if status.success:
        return v2.ExecutionStatus(success=True)
    kinds = v2.ExecutionErrorExecutionErrorKind
    description = str(status.error or "execution failed")
    code = status.abort_code
    error = v2.ExecutionError(description=description, command=status.command_index)
    if code is not None:
        module = status.abort_module or ""
        package = abort_package(module)
        error.kind = kinds.MOVE_ABORT
        error.abort = v2.MoveAbort(
            abort_code=int(code),
            location=v2.MoveLocation(
                package=package,
                module=module,
                function=0,
                instruction=0,
                function_name=status.abort_function,
            ),
        )
        error.description = (
            f"MoveAbort in {package}::{module}::{status.abort_function} code {code}"
            + (f": {status.error}" if status.error else "")
        )
    elif "gas" in description.lower():
        error.kind = kinds.INSUFFICIENT_GAS
    elif "balance" in description.lower():
        error.kind = kinds.INSUFFICIENT_COIN_BALANCE
    else:
        error.kind = kinds.EXECUTION_ERROR_KIND_UNKNOWN
    return v2.ExecutionStatus(success=False, error=error)


def _changed_object(change: ObjectChange) -> v2.ChangedObject:
    before, after = change.input, change.output
    in_states, out_states = v2.ChangedObjectInputObjectState, v2.ChangedObjectOutputObjectState
    ops = v2.ChangedObjectIdOperation
    op = {"created": ops.CREATED, "deleted": ops.DELETED}.get(change.op, ops.NONE)
    return v2.ChangedObject(
        object_id=change.object_id,
        input_state=in_states.EXISTS if before else in_states.DOES_NOT_EXIST,
        input_version=before.version if before else None,
        input_digest=before.digest if before else None,
        input_owner=render_owner(before.owner) if before else None,
        output_state=out_states.OBJECT_WRITE if after else out_states.DOES_NOT_EXIST,
        output_version=after.version if after else None,
        output_digest=after.digest if after else None,
        output_owner=render_owner(after.owner) if after else None,
        id_operation=op,
        object_type=change.type,
    )


def render_effects(tx: TxRecord) -> v2.TransactionEffects:
    """The effects: `bcs` is Sui's `TransactionEffects` BCS the checkpoint commits to."""
    e = tx.effects
    changed = [_changed_object(c) for c in e.changed]
    gas_object = next((c for c in changed if c.object_id == e.gas_object), None)
    return v2.TransactionEffects(
        bcs=v2.Bcs(name="TransactionEffects", value=tx.effects_bcs),
        digest=e.digest,
        version=2,
        status=_execution_status(e.status),
        epoch=e.epoch,
        gas_used=v2.GasCostSummary(
            computation_cost=e.gas_used.computation,
            storage_cost=e.gas_used.storage,
            storage_rebate=e.gas_used.rebate,
            non_refundable_storage_fee=0,
        ),
        transaction_digest=tx.digest,
        gas_object=gas_object,
        events_digest=e.events_digest,
        dependencies=list(e.dependencies),
        lamport_version=e.lamport_version,
        changed_objects=changed,
        unchanged_consensus_objects=[
            v2.UnchangedConsensusObject(
                kind=v2.UnchangedConsensusObjectUnchangedConsensusObjectKind.READ_ONLY_ROOT,
                object_id=r.object_id,
                version=r.version,
                digest=r.digest,
            )
            for r in e.unchanged_shared
        ],
    )


def render_events(tx: TxRecord, events: list[EventRow], *, with_json: bool) -> v2.TransactionEvents:
    """A transaction's events: `bcs` is the `TransactionEvents` BCS its effects commit to."""
    return v2.TransactionEvents(
        bcs=None
        if tx.events_bcs is None
        else v2.Bcs(name="TransactionEvents", value=tx.events_bcs),
        digest=tx.effects.events_digest,
        events=[render_event(e, with_json=with_json) for e in events],
    )


def render_event(event: EventRow, *, with_json: bool) -> v2.Event:
    """An event as a full node renders one: package, calling module, sender, canonical type and
    the struct's raw BCS; `json` only where the node renders it (transaction reads, never
    checkpoints: sui-rpc-api `grpc/v2/render.rs`, sui-types `Merge<&Event>`)."""
    event_type = normalize_type(event.event_type)
    return v2.Event(
        package_id=normalize_address(event.package_id),
        module=event.module,
        sender=normalize_address(event.sender),
        event_type=event_type,
        contents=v2.Bcs(name=event_type, value=event.bcs),
        json=json_value(event.fields) if with_json else None,
    )


def structured_transaction(tx: TxRecord) -> v2.Transaction:
    """BCS plus the structured view pysui renders (system transactions: BCS only)."""
    out = v2.Transaction(
        bcs=v2.Bcs(name="TransactionData", value=tx.bcs), digest=tx.digest, version=1
    )
    out.sender = tx.sender
    if tx.kind != "programmable":
        return out
    try:
        data = sbcs.TransactionData.deserialize(tx.bcs).value
        ptb = data.TransactionKind.value
        inputs: list[v2.Input] = []
        for arg in ptb.Inputs:
            if arg.enum_name == "Pure":
                inputs.append(v2.Input(kind=v2.InputInputKind.PURE, pure=bytes(arg.value)))
            elif arg.enum_name == "Object":
                inputs.append(arg.value.value.to_grpc_input(arg.value.enum_name))
        gas = data.GasData
        out.kind = v2.TransactionKind(
            kind=v2.TransactionKindKind.PROGRAMMABLE_TRANSACTION,
            programmable_transaction=v2.ProgrammableTransaction(
                inputs=inputs, commands=[c.value.to_grpc_command() for c in ptb.Command]
            ),
        )
        out.gas_payment = v2.GasPayment(
            objects=[
                v2.ObjectReference(
                    object_id=ref.ObjectID.to_address_str(),
                    version=ref.SequenceNumber,
                    digest=ref.ObjectDigest.to_digest_str(),
                )
                for ref in gas.Payment
            ],
            owner=gas.Owner.to_address_str(),
            price=gas.Price,
            budget=gas.Budget,
        )
    except Exception:  # noqa: S110 - structured view is best effort; BCS is authoritative
        pass
    return out


def _balance_changes(tx: TxRecord, ledger: Ledger) -> list[v2.BalanceChange]:
    deltas: dict[str, int] = {}
    for change in tx.effects.changed:
        for state, sign in ((change.input, -1), (change.output, 1)):
            if state is None or not isinstance(state.owner, AddressOwner):
                continue
            row = ledger.object_row(change.object_id, state.version)
            amount = None if row is None else coin_balance(row.obj)
            if amount is not None:
                owner = state.owner.address
                deltas[owner] = deltas.get(owner, 0) + sign * amount
    return [
        v2.BalanceChange(address=a, coin_type=SUI_TYPE, amount=str(d))
        for a, d in sorted(deltas.items())
        if d != 0
    ]


def render_transaction(
    tx: TxRecord,
    ledger: Ledger,
    objects: ObjectRenderer,
    tree: MaskTree,
    *,
    event_json: bool = True,
) -> v2.ExecutedTransaction:
    """An ExecutedTransaction with only what the mask asks (events/objects cost extra reads);
    `event_json=False` inside checkpoints, where a full node renders no event JSON."""
    out = v2.ExecutedTransaction(digest=tx.digest)
    if wants(tree, "transaction"):
        out.transaction = structured_transaction(tx)
    if wants(tree, "signatures"):
        out.signatures = [user_signature(s) for s in tx.signatures]
    if wants(tree, "effects"):
        out.effects = render_effects(tx)
    if wants(tree, "events"):
        events = ledger.events_of(tx.digest)
        if events:
            out.events = render_events(tx, events, with_json=event_json)
    out.checkpoint = tx.checkpoint
    out.timestamp = timestamp(tx.timestamp_ms)
    out.transaction_index = 0
    if wants(tree, "balance_changes"):
        out.balance_changes = _balance_changes(tx, ledger)
    if wants(tree, "objects"):
        rows = [
            ledger.object_row(c.object_id, c.output.version)
            for c in tx.effects.changed
            if c.output is not None
        ]
        out.objects = v2.ObjectSet(objects=[objects.full(r) for r in rows if r is not None])
    return project(out, tree)
