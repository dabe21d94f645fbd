"""Sui gRPC v2 answers (protobuf) -> our records, and failed effects -> Python exceptions.

One place decodes the wire, so the client, the checkpoint subscription and the package's history
scan agree on ids (normalised), types (normalised), event coordinates and event fields (decoded
from BCS with `event_layouts`).
"""

from __future__ import annotations

from typing import Any

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.errors import ChainError, MoveAbortError, TransactionFailed
from k3s_daas.chain.event_layouts import EventDecodeError, layout_of
from k3s_daas.chain.records import EventData, ObjectChange, ObjectData, TxResult
from k3s_daas.seal import sui
from k3s_daas.seal.sui import MOVE_STDLIB, SUI_FRAMEWORK, normalize_type

#: Aborts from these packages reuse small codes: they are never named after our constants.
FRAMEWORK_PACKAGES = frozenset({MOVE_STDLIB, SUI_FRAMEWORK, sui.normalize_address("0x3")})


def normalize_address(text: str) -> str:
    """An address or id from an answer, normalised; one that is not is a bad answer."""
    try:
        return sui.normalize_address(text)
    except ValueError as exc:
        raise ChainError(f"answer with {exc}", reason="bad_answer") from None


def _owner(owner: v2.Owner | None) -> tuple[str | None, bool, int | None]:
    if owner is None or owner.kind is None:
        return None, False, None
    if owner.kind == v2.OwnerOwnerKind.SHARED:
        return None, True, owner.version
    if owner.kind in (v2.OwnerOwnerKind.ADDRESS, v2.OwnerOwnerKind.OBJECT) and owner.address:
        return normalize_address(owner.address), False, None
    return None, False, None


def object_data(obj: v2.Object) -> ObjectData:
    """A v2.Object (read with the client's OBJECT_MASK) as ObjectData."""
    if not obj.object_id or obj.version is None or not obj.object_type:
        raise ChainError("object without id, version or type in the answer", reason="bad_answer")
    owner, shared, initial = _owner(obj.owner)
    fields = obj.json.to_dict() if obj.json is not None else {}
    if not isinstance(fields, dict):
        fields = {"value": fields}
    return ObjectData(
        object_id=normalize_address(obj.object_id),
        version=int(obj.version),
        type=normalize_type(obj.object_type),
        owner=owner,
        shared=shared,
        fields=fields,
        initial_shared_version=initial,
        digest=obj.digest,
        balance=obj.balance,
    )


def event_fields(event_type: str, contents: v2.Bcs | None, package: str | None) -> dict[str, Any]:
    """The fields of one of `package`'s events, decoded from its BCS `contents` with the layout
    of its full type; {} for any other event. `Event.json` is never read: nodes omit it."""
    layout = layout_of(event_type, package) if package else None
    if layout is None:
        return {}
    if contents is None or contents.value is None:
        raise ChainError(f"event {event_type} without contents in the answer", reason="bad_answer")
    try:
        return layout.decode(bytes(contents.value))
    except EventDecodeError as exc:
        raise ChainError(f"event {event_type}: {exc}", reason="bad_answer") from None


def event_data(
    event: v2.Event, checkpoint: int, tx_digest: str, index: int, package: str | None
) -> EventData:
    """One event with its coordinates; a node fills only package, module, sender, type and
    contents, so the coordinates come from the enclosing checkpoint and transaction."""
    type_ = normalize_type(event.event_type or "")
    parts = type_.split("<", 1)[0].split("::")
    return EventData(
        checkpoint=checkpoint if event.checkpoint is None else int(event.checkpoint),
        tx_digest=event.transaction_digest or tx_digest,
        index=index if event.event_index is None else int(event.event_index),
        type=type_,
        module=event.module or "",
        name=parts[2] if len(parts) > 2 else "",
        fields=event_fields(type_, event.contents, package),
        sender=normalize_address(event.sender) if event.sender else "",
        package_id=normalize_address(event.package_id) if event.package_id else "",
    )


def transaction_events(
    tx: v2.ExecutedTransaction, checkpoint: int, package: str | None
) -> list[EventData]:
    """A transaction's events in order, `package`'s decoded (`index` counts every event)."""
    digest = tx.digest or ""
    events = tx.events.events if tx.events is not None else []
    return [event_data(e, checkpoint, digest, i, package) for i, e in enumerate(events)]


def _matches(event: EventData, package: str | None) -> bool:
    return package is None or event.type.startswith(package + "::")


def checkpoint_events(cp: v2.Checkpoint, package: str | None) -> list[EventData]:
    """The events of a checkpoint's transactions, in order; when `package` (a normalised id) is
    given, only the events whose type it defines, decoded."""
    seq = int(cp.sequence_number or 0)
    out: list[EventData] = []
    for tx in cp.transactions:
        out += [e for e in transaction_events(tx, seq, package) if _matches(e, package)]
    return out


def _change(change: v2.ChangedObject) -> ObjectChange:
    owner, shared, initial = _owner(change.output_owner)
    return ObjectChange(
        object_id=normalize_address(change.object_id or "0x0"),
        type=normalize_type(change.object_type) if change.object_type else None,
        owner=owner,
        shared=shared,
        version=change.output_version,
        digest=change.output_digest,
        initial_shared_version=initial,
    )


def _package(package_id: str | None) -> str | None:
    return normalize_address(package_id) if package_id else None


def tx_result(tx: v2.ExecutedTransaction, package_id: str | None) -> TxResult:
    """Effects -> TxResult, or the failure decoded into MoveAbortError / TransactionFailed."""
    effects = tx.effects
    digest = tx.digest or (effects.transaction_digest if effects else None) or ""
    if effects is None or effects.status is None:
        raise ChainError(f"transaction {digest}: no effects in the answer", reason="bad_answer")
    if not effects.status.success:
        raise failure_error(digest, effects.status.error, package_id)
    created, mutated, deleted = [], [], []
    ops = v2.ChangedObjectIdOperation
    out_states = v2.ChangedObjectOutputObjectState
    for change in effects.changed_objects:
        item = _change(change)
        if change.id_operation == ops.CREATED:
            created.append(item)
        elif change.id_operation == ops.DELETED or change.output_state in (
            out_states.DOES_NOT_EXIST,
            None,
        ):
            deleted.append(item.object_id)
        else:
            mutated.append(item)
    checkpoint = tx.checkpoint
    gas = _change(effects.gas_object) if effects.gas_object is not None else None
    return TxResult(
        digest=digest,
        checkpoint=checkpoint,
        created=created,
        mutated=mutated,
        deleted=deleted,
        events=transaction_events(
            tx, checkpoint if checkpoint is not None else -1, _package(package_id)
        ),
        objects=output_objects(tx, deleted),
        gas_object=gas,
    )


def output_objects(tx: v2.ExecutedTransaction, deleted: list[str]) -> dict[str, ObjectData]:
    """The objects as the transaction left them, by id. A node's ObjectSet holds every version
    the transaction read AND wrote, so keep the highest version of each id, minus deleted ids."""
    out: dict[str, ObjectData] = {}
    for obj in tx.objects.objects if tx.objects is not None else []:
        if obj.object_id and obj.object_type and obj.version is not None:
            data = object_data(obj)
            kept = out.get(data.object_id)
            if kept is None or data.version > kept.version:
                out[data.object_id] = data
    for object_id in deleted:
        out.pop(object_id, None)
    return out


def failure_error(
    digest: str, error: v2.ExecutionError | None, package_id: str | None
) -> TransactionFailed:
    """Failed effects as a Python exception that names the Move error when it is ours."""
    if error is not None and error.abort is not None and error.abort.abort_code is not None:
        location = error.abort.location or v2.MoveLocation()
        package = normalize_address(location.package) if location.package else ""
        ours = (
            package == normalize_address(package_id)
            if package_id
            else bool(package) and package not in FRAMEWORK_PACKAGES
        )
        return MoveAbortError(
            digest=digest,
            package=package,
            module=location.module or "",
            function=location.function_name or "",
            code=int(error.abort.abort_code),
            ours=ours,
        )
    description = (error.description if error else None) or "execution failed"
    kind = error.kind.name if error is not None and error.kind is not None else ""
    return TransactionFailed(
        f"transaction {digest} failed: {description}", digest=digest, kind=kind
    )


__all__ = [
    "FRAMEWORK_PACKAGES",
    "checkpoint_events",
    "event_data",
    "event_fields",
    "failure_error",
    "object_data",
    "output_objects",
    "transaction_events",
    "tx_result",
]
