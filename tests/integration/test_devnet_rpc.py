"""The devnet's sui.rpc.v2 surface over the raw pysui stubs: every served RPC, read masks,
UNIMPLEMENTED for the rest, and malformed requests answered with gRPC errors while serving on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess

COIN_SHORT = "0x2::coin::Coin<0x2::sui::SUI>"


@pytest.fixture
async def channel(devnet: DevnetProcess) -> AsyncIterator[Channel]:
    ch = Channel(devnet.grpc_host, devnet.grpc_port)
    yield ch
    ch.close()


def mask(*paths: str) -> FieldMask:
    return FieldMask(paths=list(paths))


async def test_service_info_and_epoch(devnet: DevnetProcess, channel: Channel) -> None:
    info = await v2.LedgerServiceStub(channel).get_service_info()
    assert info.chain == "k3s-daas-devnet"
    assert info.chain_id == devnet.deployment.chain_id
    assert info.checkpoint_height is not None
    epoch = (await v2.LedgerServiceStub(channel).get_epoch(v2.GetEpochRequest())).epoch
    assert epoch is not None
    assert epoch.epoch == info.epoch
    assert epoch.reference_gas_price and epoch.reference_gas_price > 0
    assert epoch.start is not None


async def test_get_object_read_masks(devnet: DevnetProcess, channel: Channel) -> None:
    ledger = v2.LedgerServiceStub(channel)
    pool = devnet.deployment.pool_id
    full = (
        await ledger.get_object(v2.GetObjectRequest(object_id=pool, read_mask=mask("*")))
    ).object
    assert full is not None
    assert full.object_id == pool
    assert full.object_type == devnet.deployment.type_of("staking", "StakingPool")
    assert full.owner is not None
    assert full.owner.kind == v2.OwnerOwnerKind.SHARED
    assert full.owner.version is not None
    assert full.json is not None
    assert full.json.to_dict()["min_stake"] == "100"  # u64 as a decimal string
    assert full.contents is not None
    assert full.contents.value
    default = (await ledger.get_object(v2.GetObjectRequest(object_id=pool))).object
    assert default is not None
    assert (default.object_id, default.version, default.digest) == (
        full.object_id,
        full.version,
        full.digest,
    )
    assert default.json is None
    assert default.owner is None
    nested = (
        await ledger.get_object(
            v2.GetObjectRequest(object_id=pool, read_mask=mask("owner.kind", "object_type"))
        )
    ).object
    assert nested is not None
    assert nested.owner is not None
    assert nested.owner.kind == v2.OwnerOwnerKind.SHARED
    assert nested.owner.version is None
    assert nested.object_id is None
    for bad in ("nope", "owner.nope", "object_id.x"):
        with pytest.raises(GRPCError) as err:
            await ledger.get_object(v2.GetObjectRequest(object_id=pool, read_mask=mask(bad)))
        assert err.value.status == Status.INVALID_ARGUMENT
    with pytest.raises(GRPCError) as err:
        await ledger.get_object(v2.GetObjectRequest(object_id="0x" + "ab" * 32))
    assert err.value.status == Status.NOT_FOUND
    with pytest.raises(GRPCError) as err:
        await ledger.get_object(v2.GetObjectRequest(object_id="not-an-id"))
    assert err.value.status == Status.INVALID_ARGUMENT


async def test_batch_get_objects(devnet: DevnetProcess, channel: Channel) -> None:
    dep = devnet.deployment
    missing = "0x" + "cd" * 32
    ids = [dep.pool_id, dep.enclave_config_id, str(dep.admin_cap_id), dep.clock_id, missing]
    response = await v2.LedgerServiceStub(channel).batch_get_objects(
        v2.BatchGetObjectsRequest(
            requests=[v2.GetObjectRequest(object_id=i) for i in ids],
            read_mask=mask("object_id", "object_type", "owner"),
        )
    )
    assert [r.object.object_id for r in response.objects[:4] if r.object] == ids[:4]
    cap = response.objects[2].object
    assert cap is not None
    assert cap.owner is not None
    assert cap.owner.kind == v2.OwnerOwnerKind.ADDRESS
    assert cap.owner.address == devnet.admin_key.address
    assert response.objects[4].object is None
    assert response.objects[4].error is not None
    assert response.objects[4].error.code == Status.NOT_FOUND.value


async def test_list_owned_objects_paged_and_filtered(
    devnet: DevnetProcess, channel: Channel
) -> None:
    state = v2.StateServiceStub(channel)
    owner = devnet.admin_key.address
    seen: list[str] = []
    token: bytes | None = None
    while True:
        page = await state.list_owned_objects(
            v2.ListOwnedObjectsRequest(
                owner=owner,
                page_size=2,
                page_token=token,
                object_type=COIN_SHORT,
                read_mask=mask("object_id", "balance", "object_type"),
            )
        )
        assert len(page.objects) <= 2
        seen += [o.object_id for o in page.objects if o.object_id]
        assert all(o.balance and o.balance > 0 for o in page.objects)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 5  # genesis funds the admin with 5 coins
    long_form = COIN_SHORT.replace("0x2", "0x" + "2".rjust(64, "0"))
    everything = await state.list_owned_objects(
        v2.ListOwnedObjectsRequest(owner=owner, page_size=10_000_000, object_type=long_form)
    )
    assert sorted(o.object_id for o in everything.objects if o.object_id) == sorted(seen)
    caps = await state.list_owned_objects(
        v2.ListOwnedObjectsRequest(
            owner=owner, object_type=devnet.deployment.type_of("staking", "AdminCap")
        )
    )
    assert [o.object_id for o in caps.objects] == [devnet.deployment.admin_cap_id]
    prefix = await state.list_owned_objects(
        v2.ListOwnedObjectsRequest(owner=owner, object_type="0x2::coin::Coin")
    )
    assert len(prefix.objects) == len(seen)
    for bad in (
        v2.ListOwnedObjectsRequest(owner=owner, page_token=b"garbage"),
        v2.ListOwnedObjectsRequest(owner=owner, object_type="not a type"),
        v2.ListOwnedObjectsRequest(owner="0xZZ"),
        v2.ListOwnedObjectsRequest(),
    ):
        with pytest.raises(GRPCError) as err:
            await state.list_owned_objects(bad)
        assert err.value.status == Status.INVALID_ARGUMENT


async def test_get_balance(devnet: DevnetProcess, channel: Channel) -> None:
    state = v2.StateServiceStub(channel)
    balance = (
        await state.get_balance(v2.GetBalanceRequest(owner=devnet.admin_key.address))
    ).balance
    assert balance is not None
    assert balance.balance is not None
    assert balance.balance >= 5 * 1_000 * 10**9 - 10**10  # minus whatever gas tests spent
    nobody = "0x" + "12" * 32
    empty = await state.get_balance(v2.GetBalanceRequest(owner=nobody, coin_type="0x2::sui::SUI"))
    assert empty.balance is not None
    assert empty.balance.balance == 0


async def test_get_function(devnet: DevnetProcess, channel: Channel) -> None:
    packages = v2.MovePackageServiceStub(channel)
    fn = (
        await packages.get_function(
            v2.GetFunctionRequest(
                package_id=devnet.deployment.package_id,
                module_name="staking",
                name="stake_for_node",
            )
        )
    ).function
    assert fn is not None
    assert fn.name == "stake_for_node"
    types = [p.body.type_name for p in fn.parameters if p.body and p.body.type_name]
    assert devnet.deployment.type_of("staking", "StakingPool") in types
    split = (
        await packages.get_function(
            v2.GetFunctionRequest(package_id="0x2", module_name="coin", name="split")
        )
    ).function
    assert split is not None
    assert split.parameters[0].reference == v2.OpenSignatureReference.MUTABLE
    for request in (
        v2.GetFunctionRequest(
            package_id=devnet.deployment.package_id, module_name="staking", name="nope"
        ),
        v2.GetFunctionRequest(package_id="0x" + "99" * 32, module_name="m", name="f"),
    ):
        with pytest.raises(GRPCError) as err:
            await packages.get_function(request)
        assert err.value.status == Status.NOT_FOUND


async def test_list_dynamic_fields_needs_a_parent(channel: Channel) -> None:
    with pytest.raises(GRPCError) as err:
        await v2.StateServiceStub(channel).list_dynamic_fields(v2.ListDynamicFieldsRequest())
    assert err.value.status == Status.INVALID_ARGUMENT


async def test_unimplemented_rpcs(channel: Channel) -> None:
    calls = [  # (VerifySignature is served: tests/integration/test_devnet_signatures.py)
        v2.NameServiceStub(channel).lookup_name(v2.LookupNameRequest(name="x.sui")),
        v2.MovePackageServiceStub(channel).get_package(v2.GetPackageRequest()),
    ]
    for call in calls:
        with pytest.raises(GRPCError) as err:
            await call
        assert err.value.status == Status.UNIMPLEMENTED
    with pytest.raises(GRPCError) as err:
        async for _ in v2.SubscriptionServiceStub(channel).subscribe_events(
            v2.SubscribeEventsRequest()
        ):
            pass
    assert err.value.status == Status.UNIMPLEMENTED


async def test_garbage_transactions_are_rejected_and_server_keeps_serving(
    channel: Channel,
) -> None:
    execution = v2.TransactionExecutionServiceStub(channel)
    bad_requests = [
        v2.ExecuteTransactionRequest(
            transaction=v2.Transaction(bcs=v2.Bcs(value=b"\x00garbage")),
            signatures=[v2.UserSignature(bcs=v2.Bcs(value=b"\x00" * 97))],
        ),
        v2.ExecuteTransactionRequest(transaction=v2.Transaction(bcs=v2.Bcs(value=b"x"))),
        v2.ExecuteTransactionRequest(),
    ]
    for request in bad_requests:
        with pytest.raises(GRPCError) as err:
            await execution.execute_transaction(request)
        assert err.value.status == Status.INVALID_ARGUMENT
    with pytest.raises(GRPCError) as err:
        await execution.simulate_transaction(
            v2.SimulateTransactionRequest(transaction=v2.Transaction(bcs=v2.Bcs(value=b"zz")))
        )
    assert err.value.status == Status.INVALID_ARGUMENT
    info = await v2.LedgerServiceStub(channel).get_service_info()
    assert info.chain == "k3s-daas-devnet"


async def test_faucet_transaction_checkpoint_and_subscription(
    devnet: DevnetProcess, channel: Channel
) -> None:
    received: list[v2.SubscribeCheckpointsResponse] = []

    async def consume() -> None:
        stream = v2.SubscriptionServiceStub(channel).subscribe_checkpoints(
            v2.SubscribeCheckpointsRequest(
                read_mask=mask(
                    "sequence_number", "summary.epoch", "summary.end_of_epoch_data", "transactions"
                )
            )
        )
        async for message in stream:
            received.append(message)
            summary = message.checkpoint.summary if message.checkpoint else None
            if summary is not None and summary.end_of_epoch_data is not None:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.5)  # let the subscription open at the current tip
    recipient = "0x" + "42" * 32
    async with httpx.AsyncClient() as http:
        grant = await http.post(
            f"{devnet.faucet_url}/v2/gas", json={"FixedAmountRequest": {"recipient": recipient}}
        )
        assert grant.status_code == 200
        body = grant.json()
        assert body["status"] == "Success"
        (coin,) = body["coins_sent"]
        epoch = await http.post(f"{devnet.admin_url}/epoch")
        assert epoch.status_code == 200
        for bad in (
            {"FixedAmountRequest": {"recipient": "0xnothex"}},
            {"FixedAmountRequest": {"recipient": recipient, "amount": 10**30}},
            {"FixedAmountRequest": {"recipient": recipient}, "extra": 1},
            {"wrong": 1},
        ):
            refused = await http.post(f"{devnet.faucet_url}/v2/gas", json=bad)
            assert refused.status_code == 400
            assert refused.json()["reason"]
    await asyncio.wait_for(task, 10)
    # The grant's checkpoint, then the epoch's closing one; between them at most the devnet's
    # empty heartbeats (it certifies a checkpoint every second when idle, as Sui does).
    [first] = [r for r in received if r.checkpoint and r.checkpoint.transactions]
    second = received[-1]
    between = received[received.index(first) + 1 : -1]
    assert [r.cursor for r in (first, *between, second)] == list(
        range(first.cursor or 0, (second.cursor or 0) + 1)
    )
    assert all(r.checkpoint and not r.checkpoint.transactions for r in between)
    assert first.checkpoint is not None
    assert [t.digest for t in first.checkpoint.transactions] == [coin["transferTxDigest"]]
    assert second.checkpoint is not None
    assert second.checkpoint.summary is not None
    # the epoch's last checkpoint closes it and names the next committee (as on Sui)
    assert second.checkpoint.summary.epoch == epoch.json()["epoch"] - 1
    assert second.checkpoint.summary.end_of_epoch_data is not None
    assert second.checkpoint.summary.end_of_epoch_data.next_epoch_committee
    assert second.cursor == epoch.json()["checkpoint"]
    assert second.checkpoint.transactions == []

    ledger = v2.LedgerServiceStub(channel)
    tx = (
        await ledger.get_transaction(
            v2.GetTransactionRequest(digest=coin["transferTxDigest"], read_mask=mask("*"))
        )
    ).transaction
    assert tx is not None
    assert tx.effects is not None
    assert tx.effects.status is not None
    assert tx.effects.status.success
    created = [
        c
        for c in tx.effects.changed_objects
        if c.id_operation == v2.ChangedObjectIdOperation.CREATED
    ]
    assert [c.object_id for c in created] == [coin["id"]]
    assert tx.checkpoint == first.cursor
    granted = (
        await ledger.get_object(v2.GetObjectRequest(object_id=coin["id"], read_mask=mask("*")))
    ).object
    assert granted is not None
    assert granted.balance == coin["amount"]
    assert granted.owner is not None
    assert granted.owner.address == recipient
    cp = (
        await ledger.get_checkpoint(
            v2.GetCheckpointRequest(sequence_number=first.cursor, read_mask=mask("*"))
        )
    ).checkpoint
    assert cp is not None
    assert cp.contents is not None
    assert [t.transaction for t in cp.contents.transactions] == [coin["transferTxDigest"]]
    latest = (await ledger.get_checkpoint(v2.GetCheckpointRequest())).checkpoint
    assert latest is not None
    assert latest.sequence_number is not None
    assert latest.sequence_number >= (second.cursor or 0)
    with pytest.raises(GRPCError) as err:
        await ledger.get_checkpoint(v2.GetCheckpointRequest(sequence_number=10**9))
    assert err.value.status == Status.NOT_FOUND
    with pytest.raises(GRPCError) as err:
        await ledger.get_transaction(v2.GetTransactionRequest(digest="1" * 44))
    assert err.value.status == Status.NOT_FOUND
