"""Certified checkpoints and committees as sui.rpc.v2 serves them (`checkpoint.proto`,
`checkpoint_summary.proto`, `checkpoint_contents.proto`, `signature.proto`).

`summary.bcs` and `contents.bcs` are the bytes the committee signed and committed to (`Bcs.name`
"CheckpointSummary" / "CheckpointContents", as sui-rpc names them); `signature` is the quorum
certificate as `ValidatorAggregatedSignature` (epoch, the 48-byte aggregate, the signers'
roaring bitmap without a length prefix). The structured fields are decoded from those bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.certified import (
    CheckpointSummary,
    CommitmentKind,
    CommitteeMember,
    GasCostSummary,
    digest_to_base58,
)
from k3s_daas.devnet.ledger import CheckpointRecord, Ledger
from k3s_daas.devnet.render import (
    MaskTree,
    ObjectRenderer,
    project,
    render_transaction,
    sub,
    timestamp,
    user_signature,
    wants,
)
from k3s_daas.devnet.validators import EpochCommittee

_KIND = v2.CheckpointCommitmentCheckpointCommitmentKind
_COMMITMENT_KINDS = {
    CommitmentKind.ECMH_LIVE_OBJECT_SET: _KIND.ECMH_LIVE_OBJECT_SET,
    CommitmentKind.CHECKPOINT_ARTIFACTS: _KIND.CHECKPOINT_ARTIFACTS,
}


def _members(members: Iterable[CommitteeMember]) -> list[v2.ValidatorCommitteeMember]:
    return [v2.ValidatorCommitteeMember(public_key=m.public_key, weight=m.stake) for m in members]


def render_committee(committee: EpochCommittee) -> v2.ValidatorCommittee:
    """GetEpoch's `committee`, members in committee order (sorted by public key)."""
    return v2.ValidatorCommittee(epoch=committee.epoch, members=_members(committee.members()))


def _gas(gas: GasCostSummary) -> v2.GasCostSummary:
    return v2.GasCostSummary(
        computation_cost=gas.computation_cost,
        storage_cost=gas.storage_cost,
        storage_rebate=gas.storage_rebate,
        non_refundable_storage_fee=gas.non_refundable_storage_fee,
    )


def render_summary(cp: CheckpointRecord, summary: CheckpointSummary) -> v2.CheckpointSummary:
    """The summary: its BCS and the fields decoded from it."""
    end = summary.end_of_epoch_data
    return v2.CheckpointSummary(
        bcs=v2.Bcs(name="CheckpointSummary", value=cp.summary),
        digest=cp.digest,
        epoch=summary.epoch,
        sequence_number=summary.sequence_number,
        total_network_transactions=summary.network_total_transactions,
        content_digest=digest_to_base58(summary.content_digest),
        previous_digest=None
        if summary.previous_digest is None
        else digest_to_base58(summary.previous_digest),
        epoch_rolling_gas_cost_summary=_gas(summary.epoch_rolling_gas_cost_summary),
        timestamp=timestamp(summary.timestamp_ms),
        commitments=[
            v2.CheckpointCommitment(
                kind=_COMMITMENT_KINDS[c.kind], digest=digest_to_base58(c.digest)
            )
            for c in summary.checkpoint_commitments
        ],
        end_of_epoch_data=None
        if end is None
        else v2.EndOfEpochData(
            next_epoch_committee=_members(end.next_epoch_committee),
            next_epoch_protocol_version=end.next_epoch_protocol_version,
            epoch_commitments=[],
        ),
        version_specific_data=summary.version_specific_data,
    )


def render_checkpoint(
    cp: CheckpointRecord, ledger: Ledger, objects: ObjectRenderer, tree: MaskTree
) -> v2.Checkpoint:
    """A certified Checkpoint with what the mask asks (transactions cost extra reads)."""
    out = v2.Checkpoint(sequence_number=cp.seq, digest=cp.digest)
    summary = CheckpointSummary.decode(cp.summary)
    if wants(tree, "summary"):
        out.summary = render_summary(cp, summary)
    if wants(tree, "signature"):
        out.signature = v2.ValidatorAggregatedSignature(
            epoch=cp.certificate.epoch,
            signature=cp.certificate.signature,
            bitmap=cp.certificate.bitmap(),
        )
    txs = (
        [t for t in (ledger.transaction(d) for d in cp.tx_digests) if t is not None]
        if (wants(tree, "contents") or wants(tree, "transactions"))
        else []
    )
    if wants(tree, "contents"):
        out.contents = v2.CheckpointContents(
            bcs=v2.Bcs(name="CheckpointContents", value=cp.contents),
            digest=digest_to_base58(summary.content_digest),
            version=1,
            transactions=[
                v2.CheckpointedTransactionInfo(
                    transaction=t.digest,
                    effects=t.effects.digest,
                    signatures=[user_signature(s) for s in t.signatures],
                )
                for t in txs
            ],
        )
    if wants(tree, "transactions"):
        out.transactions = [
            render_transaction(t, ledger, objects, sub(tree, "transactions"), event_json=False)
            for t in txs
        ]
    if wants(tree, "objects"):
        out.objects = v2.ObjectSet(objects=[])
    return project(out, tree)


__all__ = ["render_checkpoint", "render_committee", "render_summary"]
