"""Events as a real Sui full node serves them, and the product reading them (devnet over gRPC).

A node builds checkpoint events with sui-types `Merge<&Event>`: package, module, sender,
canonical type and the struct's raw BCS, never JSON; `Event.module` is the module of the
MoveCall that emitted the event; the stream honours its (unvalidated) read mask, so without one
a frame carries only its cursor. The product decodes the BCS by full event type.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess, attestation_document
from harness.master import chain, fund, new_staker
from k3s_daas.chain import ChainClient, K3sDaasPackage, SuiKeyPair, checkpoint_events
from k3s_daas.seal import constants as c
from k3s_daas.seal.encoding import uleb128
from k3s_daas.seal.permissions import Tier

pytestmark = pytest.mark.timeout(120)


def mask(*paths: str) -> FieldMask:
    return FieldMask(paths=list(paths))


@pytest.fixture
async def channel(devnet: DevnetProcess) -> AsyncIterator[Channel]:
    ch = Channel(devnet.grpc_host, devnet.grpc_port)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def enclaves(devnet: DevnetProcess) -> None:
    """One enclave per tier, so that a stake of any size can mint its token."""

    async def main() -> None:
        client, pkg = chain(devnet)
        try:
            pcrs = (await pkg.get_enclave_config()).pcrs
            for tier in Tier:
                document = attestation_document(devnet, pcrs)
                await pkg.register_enclave(devnet.admin_key, document, f"https://m-{tier}", tier)
        finally:
            await client.close()

    asyncio.run(main())


@pytest.fixture
async def package(
    devnet: DevnetProcess, enclaves: None
) -> AsyncIterator[tuple[ChainClient, K3sDaasPackage]]:
    client, pkg = chain(devnet)
    yield client, pkg
    await client.close()


def stake_created_bcs(stake_id: str, staker: str, node_id: str, amount: int) -> bytes:
    """StakeCreated{stake_id: ID, staker: address, node_id: String, stake_type: u8, amount: u64}
    by hand, in Move field order."""
    name = node_id.encode()
    return (
        bytes.fromhex(stake_id[2:])
        + bytes.fromhex(staker[2:])
        + uleb128(len(name))
        + name
        + bytes([c.STAKE_TYPE_NODE])
        + amount.to_bytes(8, "little")
    )


async def tx_events(channel: Channel, digest: str, read_mask: FieldMask) -> list[v2.Event]:
    """The events of transaction `digest` as GetCheckpoint serves them under `read_mask`."""
    ledger = v2.LedgerServiceStub(channel)
    tx = (
        await ledger.get_transaction(
            v2.GetTransactionRequest(digest=digest, read_mask=mask("checkpoint"))
        )
    ).transaction
    assert tx is not None and tx.checkpoint is not None
    cp = (
        await ledger.get_checkpoint(
            v2.GetCheckpointRequest(sequence_number=tx.checkpoint, read_mask=read_mask)
        )
    ).checkpoint
    assert cp is not None
    [ours] = [t for t in cp.transactions if t.digest == digest]
    assert ours.events is not None
    return ours.events.events


async def test_get_checkpoint_events_carry_bcs_no_json_and_the_calling_module(
    devnet: DevnetProcess, channel: Channel, package: tuple[ChainClient, K3sDaasPackage]
) -> None:
    """One-call stake + mint: StakeCreated (declared in `staking`) has module `k8s_gateway`."""
    _, pkg = package
    node = f"ev-{secrets.token_hex(3)}"
    staker = await new_staker(pkg, devnet, node, amount=1_234)
    pid = pkg.package_id
    for read_mask in (mask("*"), mask("transactions.events.events.json", "transactions.digest")):
        for event in await tx_events(channel, staker.minted.digest, read_mask):
            assert event.json is None
    created, minted = await tx_events(channel, staker.minted.digest, mask("*"))
    assert created.event_type == f"{pid}::staking::StakeCreated"
    assert minted.event_type == f"{pid}::k8s_gateway::SealTokenCreated"
    for event in (created, minted):
        assert (event.package_id, event.module) == (pid, "k8s_gateway")
        assert event.sender == staker.key.address
        assert event.contents is not None and event.contents.name == event.event_type
        # Merge<&Event> fills no coordinates: the product takes them from the checkpoint.
        assert (event.checkpoint, event.transaction_digest, event.event_index) == (None,) * 3
    assert created.contents is not None
    assert created.contents.value == stake_created_bcs(
        staker.minted.stake_record_id, staker.key.address, node, 1_234
    )


async def test_a_direct_staking_call_tags_its_events_with_staking(
    devnet: DevnetProcess, channel: Channel, package: tuple[ChainClient, K3sDaasPackage]
) -> None:
    client, pkg = package
    key = SuiKeyPair.generate()
    await fund(devnet, key.address)
    before = await client.latest_checkpoint()
    record = await pkg.stake_for_node(key, 500, f"ev-{secrets.token_hex(3)}")
    tip = await client.latest_checkpoint()
    found = []
    for seq in range(before + 1, tip + 1):
        cp = await client.get_checkpoint(seq)  # the product's own read mask
        assert cp is not None
        found += [e for e in checkpoint_events(cp, pkg.package_id) if e.name == "StakeCreated"]
    [event] = [e for e in found if e.fields["stake_id"] == record.id]
    assert event.module == "staking"
    assert event.fields == {
        "stake_id": record.id,
        "staker": key.address,
        "node_id": record.node_id,
        "stake_type": c.STAKE_TYPE_NODE,
        "amount": 500,
    }


async def test_stream_honours_its_mask_and_sends_no_event_json(
    devnet: DevnetProcess, channel: Channel, package: tuple[ChainClient, K3sDaasPackage]
) -> None:
    """No mask: frames carry only `cursor`. An unknown path is ignored (never validated).
    `*`: everything a checkpoint has, still without event JSON."""
    _, pkg = package
    stub = v2.SubscriptionServiceStub(channel)
    frames: dict[str, list[v2.SubscribeCheckpointsResponse]] = {"none": [], "bad": [], "all": []}
    target: list[int] = []

    async def follow(name: str, request: v2.SubscribeCheckpointsRequest) -> None:
        async for frame in stub.subscribe_checkpoints(request):
            frames[name].append(frame)
            if target and (frame.cursor or 0) >= target[0]:
                return

    requests = {
        "none": v2.SubscribeCheckpointsRequest(),
        "bad": v2.SubscribeCheckpointsRequest(read_mask=mask("sequence_number", "no_such.field")),
        "all": v2.SubscribeCheckpointsRequest(read_mask=mask("*")),
    }
    tasks = [asyncio.create_task(follow(n, r)) for n, r in requests.items()]
    await asyncio.sleep(0.5)  # the streams open at the tip
    staker = await new_staker(pkg, devnet, f"ev-{secrets.token_hex(3)}")
    ledger = v2.LedgerServiceStub(channel)
    tx = (
        await ledger.get_transaction(
            v2.GetTransactionRequest(digest=staker.minted.digest, read_mask=mask("checkpoint"))
        )
    ).transaction
    assert tx is not None and tx.checkpoint is not None
    target.append(tx.checkpoint)
    await fund(devnet, staker.key.address)  # one more checkpoint: every stream gets past it
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    for frame in frames["none"]:
        assert frame.cursor is not None
        assert frame.checkpoint == v2.Checkpoint()
    assert [f.checkpoint.sequence_number for f in frames["bad"] if f.checkpoint] == [
        f.cursor for f in frames["bad"]
    ]
    [ours] = [
        t
        for f in frames["all"]
        if f.checkpoint is not None
        for t in f.checkpoint.transactions
        if t.digest == staker.minted.digest
    ]
    assert ours.events is not None and len(ours.events.events) == 2
    assert all(e.json is None and e.contents is not None for e in ours.events.events)
    with pytest.raises(GRPCError) as err:  # GetCheckpoint does validate its mask
        await ledger.get_checkpoint(v2.GetCheckpointRequest(read_mask=mask("no_such.field")))
    assert err.value.status == Status.INVALID_ARGUMENT


async def test_node_stake_scan_finds_a_one_call_stake(
    devnet: DevnetProcess, package: tuple[ChainClient, K3sDaasPackage]
) -> None:
    """The history scan (used where ListDynamicFields is unavailable) matches StakeCreated by
    type: its `module` is `k8s_gateway` for a stake + mint in one call."""
    _, pkg = package
    node = f"ev-{secrets.token_hex(3)}"
    staker = await new_staker(pkg, devnet, node)
    found = await pkg._scan_for_node(node)  # the fallback path itself
    assert found is not None and found.id == staker.minted.stake_record_id
    assert await pkg._scan_for_node(f"none-{secrets.token_hex(3)}") is None
