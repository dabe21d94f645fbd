"""A running devnet is a committee-certified chain: what it serves over sui.rpc.v2
(GetCheckpoint `summary.bcs`/`signature`/`contents.bcs`, GetEpoch `committee`, effects, events
and object BCS) verifies with `chain.verifier` from the committee in devnet.json, across epoch
changes, a validator key rotation and a restart; a stake + mint's StakeRecord and SealToken are
proven down to their object digests, and tampered answers are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from grpclib.client import Channel
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess, attestation_document
from k3s_daas.chain import (
    ChainClient,
    Committee,
    CommitteeMember,
    K3sDaasPackage,
    ObjectRef,
    ProgrammableTransaction,
    SuiKeyPair,
    sign,
)
from k3s_daas.chain.certified import (
    ROARING_COOKIE,
    AuthorityStrongQuorumSignInfo,
    CheckpointSummary,
    MoveObject,
    Object,
    digest_to_base58,
    object_digest,
    parse_type,
)
from k3s_daas.chain.errors import FailedCheck, UnverifiedChainData
from k3s_daas.chain.verifier import (
    CheckpointVerifier,
    VerifiedEffects,
    parse_certificate,
    verify_effects,
    verify_events,
    verify_object,
)
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.sui import COIN_SUI_TYPE

CHECKPOINT_MASK = FieldMask(
    paths=[
        "sequence_number",
        "digest",
        "summary.bcs",
        "summary.digest",
        "signature",
        "contents.bcs",
    ]
)
TX_MASK = FieldMask(paths=["digest", "checkpoint", "effects.bcs", "events.bcs"])
OBJECT_MASK = FieldMask(paths=["object_id", "version", "digest", "bcs"])
FUND = 50 * 10**9


@dataclass(frozen=True)
class Served:
    """One checkpoint as GetCheckpoint serves it to a verifier."""

    seq: int
    summary: bytes
    certificate: AuthorityStrongQuorumSignInfo
    contents: bytes
    bitmap: bytes


@pytest.fixture
async def ledger(devnet: DevnetProcess) -> AsyncIterator[v2.LedgerServiceStub]:
    channel = Channel(devnet.grpc_host, devnet.grpc_port)
    yield v2.LedgerServiceStub(channel)
    channel.close()


async def served(ledger: v2.LedgerServiceStub, seq: int) -> Served:
    cp = (
        await ledger.get_checkpoint(
            v2.GetCheckpointRequest(sequence_number=seq, read_mask=CHECKPOINT_MASK)
        )
    ).checkpoint
    assert cp is not None
    assert cp.summary is not None and cp.summary.bcs is not None and cp.summary.bcs.value
    assert cp.summary.bcs.name == "CheckpointSummary"
    assert cp.contents is not None and cp.contents.bcs is not None and cp.contents.bcs.value
    assert cp.contents.bcs.name == "CheckpointContents"
    assert cp.signature is not None
    assert cp.signature.epoch is not None and cp.signature.signature and cp.signature.bitmap
    assert cp.digest == cp.summary.digest
    certificate = parse_certificate(
        cp.signature.epoch, bytes(cp.signature.signature), bytes(cp.signature.bitmap)
    )
    return Served(
        seq,
        bytes(cp.summary.bcs.value),
        certificate,
        bytes(cp.contents.bcs.value),
        bytes(cp.signature.bitmap),
    )


async def tip(ledger: v2.LedgerServiceStub) -> int:
    latest = (await ledger.get_checkpoint(v2.GetCheckpointRequest())).checkpoint
    assert latest is not None and latest.sequence_number is not None
    return latest.sequence_number


async def follow_all(
    ledger: v2.LedgerServiceStub, verifier: CheckpointVerifier, start: int = 0
) -> list[Served]:
    out = []
    for seq in range(start, await tip(ledger) + 1):
        cp = await served(ledger, seq)
        verifier.follow(cp.summary, cp.certificate, cp.contents)
        out.append(cp)
    return out


async def served_committee(ledger: v2.LedgerServiceStub, epoch: int) -> Committee:
    answer = (
        await ledger.get_epoch(
            v2.GetEpochRequest(epoch=epoch, read_mask=FieldMask(paths=["epoch", "committee"]))
        )
    ).epoch
    assert answer is not None and answer.committee is not None
    assert answer.committee.epoch == epoch
    members = [
        CommitteeMember(bytes(m.public_key or b""), m.weight or 0) for m in answer.committee.members
    ]
    return Committee(epoch, tuple(members))  # served in committee order: refused otherwise


async def test_the_served_chain_verifies_from_devnet_json_across_epochs(
    devnet: DevnetProcess, ledger: v2.LedgerServiceStub
) -> None:
    start_epoch = (await ledger.get_epoch(v2.GetEpochRequest())).epoch
    assert start_epoch is not None and start_epoch.epoch is not None
    for i in range(6):
        devnet.faucet("0x" + f"{i + 1:064x}", 1_000)
    first = devnet.advance_epoch(rotate=1)  # validator 1 signs the next epoch with a new key
    for i in range(3):
        devnet.faucet("0x" + f"{i + 1:064x}", 2_000)
    second = devnet.advance_epoch()
    devnet.faucet("0x" + "0c" * 32, 3_000)
    verifier = CheckpointVerifier(devnet.committee())
    chain = await follow_all(ledger, verifier)
    assert len(chain) >= 12
    epochs = [CheckpointSummary.decode(cp.summary).epoch for cp in chain]
    assert epochs[-1] == second == first + 1
    for epoch in range(second + 1):  # GetEpoch serves the committee the chain handed over
        verifier.check_committee(await served_committee(ledger, epoch))
    before, after = verifier.committee(first - 1), verifier.committee(first)
    assert before is not None and after is not None
    assert len({m.public_key for m in after.members} - {m.public_key for m in before.members}) == 1
    for cp in chain:  # sui.rpc.v2's bitmap: raw roaring bytes, no BCS length prefix
        assert cp.bitmap[:4] == ROARING_COOKIE.to_bytes(4, "little")
        assert cp.certificate.signers == (0, 1, 2, 3)  # every validator signs
    info = await ledger.get_service_info(v2.GetServiceInfoRequest())
    genesis = (await ledger.get_checkpoint(v2.GetCheckpointRequest(sequence_number=0))).checkpoint
    assert genesis is not None
    assert info.chain_id == devnet.deployment.chain_id == genesis.digest


async def test_a_stake_and_mint_is_proven_down_to_its_objects(
    devnet: DevnetProcess, ledger: v2.LedgerServiceStub
) -> None:
    staker = SuiKeyPair.generate()
    devnet.faucet(staker.address, FUND)
    async with ChainClient.from_deployment(devnet.deployment) as client:
        pkg = K3sDaasPackage(client, devnet.deployment)
        pcrs = (await pkg.get_enclave_config()).pcrs
        document = attestation_document(devnet, pcrs)
        await pkg.register_enclave(devnet.admin_key, document, "https://proof", Tier.PREMIUM)
        minted = await pkg.stake_and_create_worker_token(staker, 10_000, "proof-node")
    verifier = CheckpointVerifier(devnet.committee())
    await follow_all(ledger, verifier)
    tx = (
        await ledger.get_transaction(
            v2.GetTransactionRequest(digest=minted.digest, read_mask=TX_MASK)
        )
    ).transaction
    assert tx is not None and tx.checkpoint is not None
    assert tx.effects is not None and tx.effects.bcs is not None
    assert tx.effects.bcs.name == "TransactionEffects"
    assert tx.events is not None and tx.events.bcs is not None
    assert tx.events.bcs.name == "TransactionEvents"
    cp = await served(ledger, tx.checkpoint)
    checkpoint = verifier.certify(cp.summary, cp.certificate, cp.contents)
    effects = verify_effects(checkpoint, bytes(tx.effects.bcs.value or b""))
    assert digest_to_base58(effects.effects.transaction_digest) == minted.digest
    events = verify_events(effects, bytes(tx.events.bcs.value or b""))
    assert events is not None
    package = devnet.deployment.package_id
    assert [str(e.type) for e in events.data] == [
        str(parse_type(f"{package}::staking::StakeCreated")),
        str(parse_type(f"{package}::k8s_gateway::SealTokenCreated")),
    ]
    token = await proven_object(ledger, effects, minted.token_id)
    record = await proven_object(ledger, effects, minted.stake_record_id)
    assert isinstance(token.data, MoveObject) and isinstance(record.data, MoveObject)
    assert str(token.data.type) == devnet.deployment.type_of("k8s_gateway", "SealToken")
    assert token.owner.address == staker.address
    assert str(record.data.type) == devnet.deployment.type_of("staking", "StakeRecord")

    # tampering: any changed byte of what a node serves is caught by its link
    answer = (
        await ledger.get_object(
            v2.GetObjectRequest(object_id=minted.token_id, read_mask=OBJECT_MASK)
        )
    ).object
    assert answer is not None and answer.bcs is not None
    forged = bytearray(answer.bcs.value or b"")
    forged[-50] ^= 0x01  # inside the token's contents (its owner / node id)
    with pytest.raises(UnverifiedChainData, match=f"^{FailedCheck.OBJECT_MISMATCH}"):
        verify_object(effects, bytes(forged))
    forged_events = bytearray(tx.events.bcs.value or b"")
    forged_events[-1] ^= 0x01
    with pytest.raises(UnverifiedChainData, match=f"^{FailedCheck.EVENTS_MISMATCH}"):
        verify_events(effects, bytes(forged_events))
    two_signers = AuthorityStrongQuorumSignInfo(
        cp.certificate.epoch, cp.certificate.signature, cp.certificate.signers[:2]
    )
    with pytest.raises(UnverifiedChainData, match=f"^{FailedCheck.NO_QUORUM}"):
        verifier.certify(cp.summary, two_signers)
    replay = await served(ledger, tx.checkpoint - 1)  # an old checkpoint served as the next
    with pytest.raises(UnverifiedChainData, match=f"^{FailedCheck.WRONG_SEQUENCE}"):
        verifier.follow(replay.summary, replay.certificate)


async def proven_object(
    ledger: v2.LedgerServiceStub, effects: VerifiedEffects, object_id: str
) -> Object:
    answer = (
        await ledger.get_object(v2.GetObjectRequest(object_id=object_id, read_mask=OBJECT_MASK))
    ).object
    assert answer is not None and answer.bcs is not None and answer.bcs.value
    assert answer.bcs.name == "Object"
    raw = bytes(answer.bcs.value)
    assert answer.digest == digest_to_base58(object_digest(raw))
    obj = verify_object(effects, raw)
    assert (obj.object_id, obj.version) == (answer.object_id, answer.version)
    return obj


async def test_execute_transaction_serves_effects_and_events_bcs(
    devnet: DevnetProcess, ledger: v2.LedgerServiceStub
) -> None:
    alice = SuiKeyPair.generate()
    devnet.faucet(alice.address, FUND)
    async with ChainClient.from_deployment(devnet.deployment) as client:
        [coin] = await client.list_owned_objects(alice.address, COIN_SUI_TYPE)
        assert coin.digest is not None
        pool_version = await client.initial_shared_version(devnet.deployment.pool_id)
    ptb = ProgrammableTransaction()
    pool = ptb.shared(devnet.deployment.pool_id, pool_version, mutable=True)
    ptb.move_call(
        devnet.deployment.package_id, "staking", "stake_for_user", [pool, ptb.split_gas(300)]
    )
    raw = ptb.build(
        sender=alice.address,
        gas=[ObjectRef(coin.object_id, coin.version, coin.digest)],
        gas_price=1000,
        gas_budget=50_000_000,
    )
    signed = sign(raw, alice)
    channel = Channel(devnet.grpc_host, devnet.grpc_port)
    try:
        executed = (
            await v2.TransactionExecutionServiceStub(channel).execute_transaction(
                v2.ExecuteTransactionRequest(
                    transaction=v2.Transaction(bcs=v2.Bcs(value=signed.tx_bytes)),
                    signatures=[v2.UserSignature(bcs=v2.Bcs(value=s)) for s in signed.signatures],
                    read_mask=FieldMask(paths=["effects.bcs", "events.bcs", "checkpoint"]),
                ),
                metadata={"x-sui-checkpoint-wait": "true"},
            )
        ).transaction
    finally:
        channel.close()
    assert executed is not None and executed.checkpoint is not None
    assert executed.effects is not None and executed.effects.bcs is not None
    assert executed.events is not None and executed.events.bcs is not None
    verifier = CheckpointVerifier(devnet.committee())
    await follow_all(ledger, verifier)
    cp = await served(ledger, executed.checkpoint)
    effects = verify_effects(
        verifier.certify(cp.summary, cp.certificate, cp.contents),
        bytes(executed.effects.bcs.value or b""),
    )
    assert digest_to_base58(effects.effects.transaction_digest) == signed.digest
    assert verify_events(effects, bytes(executed.events.bcs.value or b"")) is not None
    gas = effects.effects.output_reference(coin.object_id)  # the gas coin, at the lamport version
    assert gas is not None and gas[0] == effects.effects.lamport_version


async def test_a_restarted_devnet_signs_on_with_the_same_keys(
    devnet_factory: Callable[[], DevnetProcess],
) -> None:
    devnet = devnet_factory()
    for i in range(3):
        devnet.faucet("0x" + f"{i + 7:064x}", 10)
    channel = Channel(devnet.grpc_host, devnet.grpc_port)
    stub = v2.LedgerServiceStub(channel)
    verifier = CheckpointVerifier(devnet.committee())
    try:
        before = await follow_all(stub, verifier)
        committee = await served_committee(stub, 0)
    finally:
        channel.close()
    anchor = devnet.deployment.committee
    devnet.restart()
    assert devnet.deployment.committee == anchor  # devnet.json keeps the genesis committee
    devnet.faucet("0x" + "0e" * 32, 11)
    epoch = devnet.advance_epoch()
    devnet.faucet("0x" + "0f" * 32, 12)
    channel = Channel(devnet.grpc_host, devnet.grpc_port)
    stub = v2.LedgerServiceStub(channel)
    try:
        after = await asyncio.wait_for(follow_all(stub, verifier, before[-1].seq + 1), 30)
        assert len(after) == 3  # a grant, the epoch's closing checkpoint, a grant
        assert await served_committee(stub, 0) == committee
        verifier.check_committee(await served_committee(stub, epoch))
    finally:
        channel.close()
