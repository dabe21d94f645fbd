"""One served checkpoint, proven: its summary, certificate and contents, then every transaction's
effects and events, and the checkpoint rebuilt from those proven bytes only.

`chain.verified` fetches a checkpoint with `FULL_CHECKPOINT_MASK` and hands it here. Nothing the
node sent outside the BCS it committed to is kept: the events consumers see are decoded from
the `TransactionEvents` BCS whose digest the verified effects name, so a node cannot drop,
change or add an event; and every transaction the contents list must come with its effects, so
it cannot leave one (and its writes) out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    OutputKind,
    TransactionEvents,
    digest_to_base58,
)
from k3s_daas.chain.errors import FailedCheck, UnverifiedChainData
from k3s_daas.chain.verifier import (
    VerifiedCheckpoint,
    VerifiedEffects,
    parse_certificate,
    verify_effects,
    verify_events,
)

#: What a verified read asks GetCheckpoint / SubscribeCheckpoints for: the certified bytes.
FULL_CHECKPOINT_MASK = (
    "sequence_number",
    "summary.bcs",
    "signature",
    "contents.bcs",
    "transactions.digest",
    "transactions.effects.bcs",
    "transactions.events.bcs",
)

#: One object write a verified checkpoint proves: (version, digest), or None for a deletion.
Write = tuple[int, bytes] | None


@dataclass(frozen=True)
class ServedCheckpoint:
    """The certified bytes of one served checkpoint (`malformed` when a part is missing)."""

    sequence_number: int
    summary: bytes
    certificate: AuthorityStrongQuorumSignInfo
    contents: bytes
    transactions: tuple[tuple[bytes, bytes | None], ...]  # (effects BCS, events BCS or None)

    @classmethod
    def of(cls, cp: v2.Checkpoint, asked: int | None) -> ServedCheckpoint:
        summary = cp.summary.bcs.value if cp.summary and cp.summary.bcs else None
        contents = cp.contents.bcs.value if cp.contents and cp.contents.bcs else None
        signature = cp.signature
        if not summary or not contents or signature is None or signature.epoch is None:
            raise UnverifiedChainData(
                f"checkpoint {asked}: summary, signature or contents missing",
                check=FailedCheck.MALFORMED,
            )
        certificate = parse_certificate(
            int(signature.epoch), bytes(signature.signature or b""), bytes(signature.bitmap or b"")
        )
        txs: list[tuple[bytes, bytes | None]] = []
        for tx in cp.transactions:
            effects = tx.effects.bcs.value if tx.effects and tx.effects.bcs else None
            if not effects:
                raise UnverifiedChainData(
                    f"checkpoint {asked}: a transaction without its effects",
                    check=FailedCheck.EFFECTS_MISMATCH,
                )
            events = tx.events.bcs.value if tx.events and tx.events.bcs else None
            txs.append((bytes(effects), bytes(events) if events else None))
        return cls(
            int(cp.sequence_number if cp.sequence_number is not None else -1),
            bytes(summary),
            certificate,
            bytes(contents),
            tuple(txs),
        )


@dataclass(frozen=True)
class ProvenCheckpoint:
    """A verified checkpoint: the rebuilt v2 message consumers read, and the object writes."""

    sequence_number: int
    message: v2.Checkpoint
    writes: dict[str, Write]


def prove_transactions(
    checkpoint: VerifiedCheckpoint, served: ServedCheckpoint
) -> ProvenCheckpoint:
    """Every transaction of the verified contents, with its effects and events, or
    `UnverifiedChainData` naming the first link that does not hold."""
    assert checkpoint.contents is not None
    listed = checkpoint.contents.transactions
    if len(served.transactions) != len(listed):
        raise UnverifiedChainData(
            f"checkpoint {checkpoint.sequence_number} lists {len(listed)} transactions, "
            f"{len(served.transactions)} were served",
            check=FailedCheck.EFFECTS_MISMATCH,
        )
    proven: list[tuple[VerifiedEffects, TransactionEvents | None]] = []
    for effects_bcs, events_bcs in served.transactions:
        effects = verify_effects(checkpoint, effects_bcs)
        proven.append((effects, verify_events(effects, events_bcs)))
    order = {t.effects: i for i, t in enumerate(listed)}
    if {e.digest for e, _ in proven} != set(order):
        raise UnverifiedChainData(
            f"checkpoint {checkpoint.sequence_number}: a listed transaction is missing",
            check=FailedCheck.EFFECTS_MISMATCH,
        )
    return ProvenCheckpoint(
        checkpoint.sequence_number,
        _rebuilt(checkpoint, proven),
        _writes(e for e, _ in sorted(proven, key=lambda p: order[p[0].digest])),
    )


def _writes(proven: Iterable[VerifiedEffects]) -> dict[str, Write]:
    """The last write of each object in the checkpoint (transactions in contents order)."""
    out: dict[str, Write] = {}
    for verified in proven:
        effects = verified.effects
        for change in effects.changed_objects:
            output = change.output_state
            if output.kind == OutputKind.NOT_EXIST:
                out[change.object_id] = None
            else:
                ref = effects.output_reference(change.object_id)
                if ref is not None:
                    out[change.object_id] = ref
    return out


def _rebuilt(
    checkpoint: VerifiedCheckpoint,
    proven: list[tuple[VerifiedEffects, TransactionEvents | None]],
) -> v2.Checkpoint:
    """The checkpoint as `chain.convert.checkpoint_events` reads it, from proven bytes only."""
    listed = checkpoint.contents.transactions if checkpoint.contents is not None else ()
    order = {t.effects: i for i, t in enumerate(listed)}
    proven = sorted(proven, key=lambda p: order[p[0].digest])
    transactions = []
    for effects, events in proven:
        rendered = [
            v2.Event(
                package_id=e.package_id,
                module=e.transaction_module,
                sender=e.sender,
                event_type=str(e.type),
                contents=v2.Bcs(name=str(e.type), value=e.contents),
            )
            for e in (events.data if events is not None else ())
        ]
        transactions.append(
            v2.ExecutedTransaction(
                digest=digest_to_base58(effects.effects.transaction_digest),
                events=v2.TransactionEvents(events=rendered) if rendered else None,
                checkpoint=checkpoint.sequence_number,
            )
        )
    return v2.Checkpoint(
        sequence_number=checkpoint.sequence_number,
        digest=digest_to_base58(checkpoint.digest),
        transactions=transactions,
    )


__all__ = [
    "FULL_CHECKPOINT_MASK",
    "ProvenCheckpoint",
    "ServedCheckpoint",
    "Write",
    "prove_transactions",
]
