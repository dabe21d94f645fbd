"""A master that trusts no RPC node: the validator reads a real devnet through `LyingNode`, a
real gRPC server that tells one lie at a time, and `VerifiedChain` catches each one.

Honest, the proxy changes nothing byte for byte and verified answers carry their checkpoint.
Each lie (a changed object, a dropped slash event, a forged summary, a replayed checkpoint, a
wrong committee, withheld checkpoints, the issue's un-slash and forge) ends in the token refused
(`unverified_chain_data`) or the endpoint abandoned; never in an accepted token. The forge is
also shown fooling a master that does not verify, so the lie itself is real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess, attestation_document
from harness.lying_node import (
    BATCH_GET_OBJECTS,
    GET_CHECKPOINT,
    GET_EPOCH,
    LyingNode,
    RawCodec,
    change_object,
    drop_events,
    forge_summaries,
    forged_token,
    freeze_object,
    in_turn,
    replay_checkpoints,
    serve_object,
    withhold_after,
    wrong_committee,
)
from harness.master import chain, new_staker
from k3s_daas.chain import (
    ChainClient,
    ChainReader,
    Deployment,
    FailedCheck,
    K3sDaasPackage,
    UnverifiedChainData,
    VerifiedChain,
)
from k3s_daas.chain.certified import MoveObject, bcs
from k3s_daas.chain.transport import mask
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.settings import ValidatorSettings
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.protocol import Reason

pytestmark = pytest.mark.timeout(180)
SETTINGS = ValidatorSettings(batch_window_ms=0, coalesce=False, cache_ttl=0.001, staleness=0)


@pytest.fixture(scope="module")
def enclaves(devnet: DevnetProcess) -> None:
    async def register() -> None:
        async with ChainClient.from_deployment(devnet.deployment) as client:
            pkg = K3sDaasPackage(client, devnet.deployment)
            pcrs = (await pkg.get_enclave_config()).pcrs
            for tier in Tier:
                document = attestation_document(devnet, pcrs)
                await pkg.register_enclave(devnet.admin_key, document, "https://m", tier)

    asyncio.run(register())


@pytest.fixture
def node(devnet: DevnetProcess, enclaves: None) -> Iterator[LyingNode]:
    with LyingNode(devnet.grpc_port) as proxy:
        yield proxy


@pytest.fixture
async def package(devnet: DevnetProcess) -> AsyncIterator[K3sDaasPackage]:
    client, pkg = chain(devnet)
    yield pkg
    await client.close()


def through(devnet: DevnetProcess, *endpoints: str) -> Deployment:
    return devnet.deployment.with_endpoints(list(endpoints))


def verified(deployment: Deployment) -> VerifiedChain:
    return VerifiedChain(ChainClient.from_deployment(deployment, timeout=3, retries=0), deployment)


def validator(reader: ChainReader, deployment: Deployment) -> Validator:
    return Validator(reader, deployment.package_id, deployment.pool_id, Metrics(), SETTINGS)


async def refused(v: Validator, token: str) -> Reason:
    with pytest.raises(TokenRejected) as caught:
        await v.validate(token)
    return caught.value.reason


async def test_honest_it_changes_nothing_byte_for_byte(
    devnet: DevnetProcess, node: LyingNode
) -> None:
    direct = Channel("127.0.0.1", devnet.grpc_port, codec=RawCodec())
    proxied = Channel("127.0.0.1", node.port, codec=RawCodec())
    asks = [
        (GET_CHECKPOINT, v2.GetCheckpointRequest(sequence_number=0, read_mask=mask(["*"]))),
        (GET_EPOCH, v2.GetEpochRequest(epoch=0, read_mask=mask(["epoch", "committee"]))),
        (
            BATCH_GET_OBJECTS,
            v2.BatchGetObjectsRequest(
                requests=[v2.GetObjectRequest(object_id=devnet.deployment.pool_id)],
                read_mask=mask(["*"]),
            ),
        ),
    ]
    try:
        for path, request in asks:
            answers = []
            for channel in (direct, proxied):
                async with channel.request(path, Cardinality.UNARY_UNARY, bytes, bytes) as stream:
                    await stream.send_message(bytes(request), end=True)
                    answers.append(await stream.recv_message())
            assert answers[0] and answers[0] == answers[1], path
    finally:
        direct.close()
        proxied.close()


async def test_honest_answers_are_verified_and_carry_their_checkpoint(
    devnet: DevnetProcess, node: LyingNode, package: K3sDaasPackage
) -> None:
    staker = await new_staker(package, devnet, "honest-node")
    deployment = through(devnet, node.address)
    chain_ = verified(deployment)
    claims = await validator(chain_, deployment).validate(staker.token)
    assert claims.token_id == staker.minted.token_id
    assert claims.checkpoint is not None and claims.checkpoint == chain_.height
    assert node.calls, "the reads went through the proxy"
    # the verified SealTokenCreated event named its StakeRecord: both were read in one batch
    assert chain_.stake_of(staker.minted.token_id) == staker.minted.stake_record_id


async def test_a_changed_object_is_refused(
    devnet: DevnetProcess, node: LyingNode, package: K3sDaasPackage
) -> None:
    staker = await new_staker(package, devnet, "changed-node")
    deployment = through(devnet, node.address)
    check = validator(verified(deployment), deployment)
    node.lie = change_object(staker.minted.stake_record_id, _premium_balance)
    assert await refused(check, staker.token) == Reason.UNVERIFIED_CHAIN_DATA
    node.lie = None
    assert (await check.validate(staker.token)).token_id == staker.minted.token_id


async def test_a_dropped_slash_event_is_caught_and_the_token_refused(
    devnet: DevnetProcess, node: LyingNode, package: K3sDaasPackage
) -> None:
    staker = await new_staker(package, devnet, "dropped-node")
    deployment = through(devnet, node.address)
    chain_ = verified(deployment)
    await chain_.sync()
    node.lie = drop_events("::StakeSlashed")
    await package.slash(devnet.admin_key, staker.minted.stake_record_id)
    with pytest.raises(UnverifiedChainData) as caught:
        await chain_.sync()
    assert caught.value.check == FailedCheck.EVENTS_MISMATCH
    assert await refused(validator(chain_, deployment), staker.token) == (
        Reason.UNVERIFIED_CHAIN_DATA
    )


@pytest.mark.parametrize(
    ("lie", "check"),
    [
        (forge_summaries, FailedCheck.BAD_SIGNATURE),
        (replay_checkpoints, FailedCheck.WRONG_SEQUENCE),
    ],
)
async def test_a_forged_or_replayed_checkpoint_is_caught(
    devnet: DevnetProcess, node: LyingNode, package: K3sDaasPackage, lie: object, check: FailedCheck
) -> None:
    staker = await new_staker(package, devnet, f"cp-{check.value.replace('_', '-')}")
    deployment = through(devnet, node.address)
    chain_ = verified(deployment)
    height = await chain_.sync()
    assert height is not None
    node.lie = lie(height + 1)  # type: ignore[operator]
    await package.slash(devnet.admin_key, staker.minted.stake_record_id)
    fresh = verified(deployment)  # follows from genesis: honest up to `height`, then the lie
    for each in (fresh, chain_):
        with pytest.raises(UnverifiedChainData) as caught:
            await each.sync()
        assert caught.value.check == check
        assert each.height == height  # nothing past the lie was taken in
        assert await refused(validator(each, deployment), staker.token) == (
            Reason.UNVERIFIED_CHAIN_DATA
        )


async def test_a_wrong_committee_abandons_the_endpoint(
    devnet: DevnetProcess, node: LyingNode, package: K3sDaasPackage
) -> None:
    staker = await new_staker(package, devnet, "committee-node")
    node.lie = wrong_committee()
    alone = verified(through(devnet, node.address))
    with pytest.raises(UnverifiedChainData) as caught:
        await alone.sync()
    assert caught.value.check == FailedCheck.WRONG_COMMITTEE and alone.abandoned == {0}
    deployment = through(devnet, node.address, devnet.grpc_target)
    chain_ = verified(deployment)  # the liar first: abandoned, the honest devnet used
    claims = await validator(chain_, deployment).validate(staker.token)
    assert claims.token_id == staker.minted.token_id and chain_.abandoned == {0}


async def test_withheld_checkpoints_leave_a_newer_object_unproven(
    devnet: DevnetProcess, node: LyingNode, package: K3sDaasPackage
) -> None:
    staker = await new_staker(package, devnet, "withheld-node")
    deployment = through(devnet, node.address)
    chain_ = verified(deployment)
    height = await chain_.sync()
    assert height is not None
    node.lie = withhold_after(height)
    await package.slash(devnet.admin_key, staker.minted.stake_record_id)
    with pytest.raises(UnverifiedChainData) as caught:
        await chain_.get_objects([staker.minted.stake_record_id])
    assert caught.value.check == FailedCheck.OBJECT_MISMATCH and chain_.height == height
    assert await refused(validator(chain_, deployment), staker.token) == (
        Reason.UNVERIFIED_CHAIN_DATA
    )


async def test_unslash_a_pre_slash_stake_record_is_refused(
    devnet: DevnetProcess, node: LyingNode, package: K3sDaasPackage
) -> None:
    staker = await new_staker(package, devnet, "unslash-node")
    deployment = through(devnet, node.address)
    chain_ = verified(deployment)
    check = validator(chain_, deployment)
    node.lie = freeze_object(staker.minted.stake_record_id)
    assert (await check.validate(staker.token)).token_id == staker.minted.token_id  # pre-slash
    await package.slash(devnet.admin_key, staker.minted.stake_record_id)
    await chain_.sync()  # the honest checkpoints name the slashing write
    with pytest.raises(UnverifiedChainData) as caught:
        await chain_.get_objects([staker.minted.stake_record_id])
    assert caught.value.check == FailedCheck.STALE_OBJECT
    fresh = validator(verified(deployment), deployment)  # first presented after the slash
    assert await refused(fresh, staker.token) == Reason.UNVERIFIED_CHAIN_DATA
    assert await refused(check, staker.token) == Reason.UNVERIFIED_CHAIN_DATA
    node.lie = None
    assert await refused(check, staker.token) == Reason.STAKE_SLASHED


async def test_forge_a_made_up_token_fools_a_plain_reader_but_not_a_verified_one(
    devnet: DevnetProcess, node: LyingNode, package: K3sDaasPackage
) -> None:
    attacker = await new_staker(package, devnet, "attacker-node")
    forged, made_up = forged_token(devnet.deployment, attacker.key.address,
                                   attacker.minted.view.enclave)  # fmt: skip
    node.lie = in_turn(*(serve_object(o) for o in made_up))
    deployment = through(devnet, node.address)
    plain = ChainClient.from_deployment(deployment, timeout=3)
    try:
        claims = await validator(plain, deployment).validate(forged)  # the lie is effective
        assert claims.tier == Tier.PREMIUM and "*:*" in claims.permissions
    finally:
        await plain.close()
    assert await refused(validator(verified(deployment), deployment), forged) == (
        Reason.UNVERIFIED_CHAIN_DATA
    )


# -- helpers ---------------------------------------------------------------------------------------
def _premium_balance(obj: MoveObject) -> MoveObject:
    """The StakeRecord with its balance raised (bytes after id, pool, staker, node id, type)."""
    reader = bcs.Reader(obj.contents, 96)
    reader.string()
    reader.u8()
    at = reader.pos
    contents = obj.contents[:at] + bcs.u64(10**18) + obj.contents[at + 8 :]
    return replace(obj, contents=contents)
