"""ExecuteTransaction answered the way a Sui full node answers it.

- The read mask defaults to `effects` (no digest, no events, no objects).
- `objects` is filled only under the mask subtree `objects.objects` (or `*`): the mask `objects`
  alone selects nothing. The set holds every input AND output version the transaction touched,
  so a client must pick the outputs itself.
- `checkpoint` is set only when the request metadata carries `x-sui-checkpoint-wait: true` and
  the mask selects `checkpoint`. Any other header value is INVALID_ARGUMENT. Every answer carries
  `x-sui-checkpoint-wait: true`, because this node supports waiting. `timestamp` is never set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.devnet.errors import BadRequest, InvalidTransaction
from k3s_daas.devnet.ledger import Ledger, ObjectRow, TxRecord
from k3s_daas.devnet.render import MaskTree, ObjectRenderer, render_transaction, subtree, wants
from k3s_daas.devnet.user_signatures import SchemeUnimplemented, signature_bytes

CHECKPOINT_WAIT: Final = "x-sui-checkpoint-wait"
DEFAULT_MASK: Final = ["effects"]
#: The sender's signature plus an optional sponsor's.
MAX_SIGNATURES: Final = 2
_SET_HERE: Final = frozenset({"objects", "checkpoint", "timestamp", "transaction_index"})
_FIELDS: Final = tuple(getattr(v2.ExecutedTransaction, "_betterproto").meta_by_field_name)  # noqa: B009


def checkpoint_wait(metadata: Mapping[str, Any] | None) -> bool:
    """Whether the client asked to wait for the checkpoint; only the value `true` is valid."""
    if metadata is None:
        return False
    getall = getattr(metadata, "getall", None)
    values = list(getall(CHECKPOINT_WAIT, [])) if getall else [metadata.get(CHECKPOINT_WAIT)]
    values = [v for v in values if v is not None]
    if not values:
        return False
    if values == ["true"]:
        return True
    raise BadRequest("invalid transaction checkpoint wait metadata")


def signatures_of(request: v2.ExecuteTransactionRequest) -> list[bytes]:
    """The serialized signatures of a request (at most MAX_SIGNATURES)."""
    if len(request.signatures) > MAX_SIGNATURES:
        raise BadRequest(
            f"{len(request.signatures)} provided signatures exceeds the maximum allowed of "
            f"{MAX_SIGNATURES}"
        )
    out: list[bytes] = []
    for sig in request.signatures:
        try:
            out.append(signature_bytes(sig))
        except SchemeUnimplemented as exc:  # zkLogin / passkey: the devnet cannot check them
            raise InvalidTransaction(exc.message, reason="bad_signature") from None
    if not out:
        raise BadRequest("at least one signature is required")
    return out


def object_set(record: TxRecord, ledger: Ledger) -> list[ObjectRow]:
    """Every version the transaction read or wrote (inputs of changed objects, then outputs),
    ordered by (id, version) like Sui's ObjectSet."""
    keys: set[tuple[str, int]] = set()
    for change in record.effects.changed:
        for state in (change.input, change.output):
            if state is not None:
                keys.add((change.object_id, state.version))
    rows = [ledger.object_row(object_id, version) for object_id, version in sorted(keys)]
    return [row for row in rows if row is not None]


def render_execution(
    record: TxRecord,
    ledger: Ledger,
    renderer: ObjectRenderer,
    tree: MaskTree,
    *,
    waited: bool,
) -> v2.ExecutedTransaction:
    """The `transaction` of an ExecuteTransactionResponse for the parsed read mask."""
    names: Sequence[str] = _FIELDS if tree is None else list(tree)
    rest = {n: (None if tree is None else tree[n]) for n in names if n not in _SET_HERE}
    out = render_transaction(record, ledger, renderer, rest)
    if waited and wants(tree, "checkpoint"):
        out.checkpoint = record.checkpoint
    present, objects_tree = subtree(tree, "objects.objects")
    if present:
        rows = object_set(record, ledger)
        out.objects = v2.ObjectSet(objects=[renderer.render(r, objects_tree) for r in rows])
    return out


__all__ = [
    "CHECKPOINT_WAIT",
    "DEFAULT_MASK",
    "checkpoint_wait",
    "object_set",
    "render_execution",
    "signatures_of",
]
