"""The devnet answers the way a real Sui full node does, and the product copes (docs/chain.md,
"Where the devnet behaves like a real full node"): ExecuteTransaction's read mask, object set and
checkpoint header; Sui's error codes and texts; object JSON against the Move sources;
ListOwnedObjects' StructTag filter, order and pages; the round trips the client saves."""

from __future__ import annotations

import asyncio
import base64
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.events import SendRequest, listen
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess, attestation_document
from k3s_daas.chain import (
    ChainClient,
    ChainError,
    K3sDaasPackage,
    ObjectRef,
    ProgrammableTransaction,
    SuiKeyPair,
    TransactionRejected,
    sign,
)
from k3s_daas.chain.convert import output_objects
from k3s_daas.chain.transactions import SignedTransaction
from k3s_daas.seal.encoding import read_uleb128
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.sui import COIN_SUI_TYPE, normalize_address

FUND = 50 * 10**9
BUDGET = 1_000_000_000  # 61 commands cost more than the product's default budget
EXECUTE = "/sui.rpc.v2.TransactionExecutionService/ExecuteTransaction"
WAIT = "x-sui-checkpoint-wait"
INPUT_ERRORS = (
    "Transaction execution failed due to issues with transaction inputs, please review the "
    "errors and try again: "
)
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "sources"


@pytest.fixture
async def channel(devnet: DevnetProcess) -> AsyncIterator[Channel]:
    ch = Channel(devnet.grpc_host, devnet.grpc_port)
    yield ch
    ch.close()


@pytest.fixture
async def client(devnet: DevnetProcess) -> AsyncIterator[ChainClient]:
    async with ChainClient.from_deployment(devnet.deployment) as c_:
        yield c_


@pytest.fixture(scope="module")
def enclave(devnet: DevnetProcess) -> str:
    """One BASIC enclave, so stakes of 100..999 MIST can mint."""

    async def register() -> str:
        async with ChainClient.from_deployment(devnet.deployment) as c_:
            pkg = K3sDaasPackage(c_, devnet.deployment)
            document = attestation_document(devnet, (await pkg.get_enclave_config()).pcrs)
            return await pkg.register_enclave(
                devnet.admin_key, document, "https://master-real-node", Tier.BASIC
            )

    return asyncio.run(register())


def funded(devnet: DevnetProcess) -> SuiKeyPair:
    key = SuiKeyPair.generate()
    devnet.faucet(key.address, FUND)
    return key


async def coin_ref(client: ChainClient, key: SuiKeyPair) -> ObjectRef:
    coin = (await client.list_owned_objects(key.address, COIN_SUI_TYPE))[0]
    assert coin.digest is not None
    return ObjectRef(coin.object_id, coin.version, coin.digest)


async def split_tx(
    client: ChainClient, key: SuiKeyPair, amounts: list[int], gas: ObjectRef | None = None
) -> SignedTransaction:
    """A signed PTB splitting `amounts` off the gas coin into new coins for the sender."""
    ptb = ProgrammableTransaction()
    ptb.transfer([ptb.split_gas(a) for a in amounts], key.address)
    raw = ptb.build(
        sender=key.address,
        gas=[gas or await coin_ref(client, key)],
        gas_price=await client.reference_gas_price(),
        gas_budget=BUDGET,
    )
    return sign(raw, key)


async def execute_raw(
    channel: Channel,
    signed: SignedTransaction,
    paths: list[str] | None,
    headers: dict[str, str] | None = None,
    *,
    signatures: list[bytes] | None = None,
) -> tuple[v2.ExecutedTransaction, dict[str, Any]]:
    """ExecuteTransaction over the raw channel: the answer and its response metadata."""
    request = v2.ExecuteTransactionRequest(
        transaction=v2.Transaction(bcs=v2.Bcs(name="TransactionData", value=signed.tx_bytes)),
        signatures=[
            v2.UserSignature(bcs=v2.Bcs(name="UserSignatureBytes", value=s))
            for s in (signatures if signatures is not None else signed.signatures)
        ],
        read_mask=None if paths is None else FieldMask(paths=paths),
    )
    async with channel.request(
        EXECUTE,
        Cardinality.UNARY_UNARY,
        v2.ExecuteTransactionRequest,
        v2.ExecuteTransactionResponse,
        metadata=headers,
    ) as stream:
        await stream.send_message(request, end=True)
        response = await stream.recv_message()
        metadata = dict(stream.initial_metadata or {})
    assert response is not None
    assert response.transaction is not None
    return response.transaction, metadata


async def test_execute_read_mask_objects_and_checkpoint(
    devnet: DevnetProcess, channel: Channel, client: ChainClient
) -> None:
    key = funded(devnet)
    signed = await split_tx(client, key, [7_000])
    # default mask `effects`: no digest, events, objects, checkpoint or timestamp
    default, metadata = await execute_raw(channel, signed, None)
    assert metadata.get(WAIT) == "true"  # this node supports waiting for the checkpoint
    effects = default.effects
    assert effects is not None
    assert effects.status is not None
    assert effects.status.success
    assert (default.digest, default.events, default.objects) == (None, None, None)
    assert (default.checkpoint, default.timestamp) == (None, None)
    # the mask `objects` selects nothing: objects live under `objects.objects`
    only_objects, _ = await execute_raw(channel, signed, ["objects"])
    assert only_objects.objects is None
    full, _ = await execute_raw(channel, signed, ["effects", "objects.objects"])
    assert full.objects is not None
    seen = {(o.object_id, o.version) for o in full.objects.objects}
    inputs = {(c.object_id, c.input_version) for c in effects.changed_objects if c.input_version}
    outputs = {(c.object_id, c.output_version) for c in effects.changed_objects if c.output_version}
    assert seen == inputs | outputs  # input AND output versions, as Sui's ObjectSet
    assert effects.gas_object is not None
    gas_id = effects.gas_object.object_id
    assert len([v for i, v in seen if i == gas_id]) == 2
    assert all(o.json is not None and o.contents is not None for o in full.objects.objects)
    picked = output_objects(full, deleted=[])  # the client keeps the outputs
    assert {(i, o.version) for i, o in picked.items()} == {
        (normalize_address(str(i)), v) for i, v in outputs
    }
    narrow, _ = await execute_raw(
        channel, signed, ["objects.objects.object_id", "objects.objects.version"]
    )
    assert narrow.objects is not None
    assert {(o.object_id, o.version) for o in narrow.objects.objects} == seen
    assert all(o.json is None and o.owner is None for o in narrow.objects.objects)
    star, _ = await execute_raw(channel, signed, ["*"])
    assert star.objects is not None
    assert star.digest == signed.digest
    assert (star.checkpoint, star.timestamp) == (None, None)  # not waited for
    # checkpoint: only when waited for AND in the mask
    waited, metadata = await execute_raw(channel, signed, ["digest", "checkpoint"], {WAIT: "true"})
    assert metadata.get(WAIT) == "true"
    recorded = (
        await v2.LedgerServiceStub(channel).get_transaction(
            v2.GetTransactionRequest(
                digest=signed.digest, read_mask=FieldMask(paths=["checkpoint"])
            )
        )
    ).transaction
    assert recorded is not None
    assert recorded.checkpoint is not None
    assert waited.checkpoint == recorded.checkpoint
    unmasked, _ = await execute_raw(channel, signed, ["digest"], {WAIT: "true"})
    assert unmasked.checkpoint is None
    for value in ("false", "yes", "TRUE"):
        with pytest.raises(GRPCError) as err:
            await execute_raw(channel, signed, ["checkpoint"], {WAIT: value})
        assert (err.value.status, err.value.message) == (
            Status.INVALID_ARGUMENT,
            "invalid transaction checkpoint wait metadata",
        )
    with pytest.raises(GRPCError) as err:
        await execute_raw(channel, signed, ["objects.nope"])
    assert (err.value.status, err.value.message) == (
        Status.INVALID_ARGUMENT,
        "invalid read_mask path: objects.nope",
    )
    with pytest.raises(GRPCError) as err:
        await execute_raw(channel, signed, None, signatures=[signed.signatures[0]] * 3)
    assert (err.value.status, err.value.message) == (
        Status.INVALID_ARGUMENT,
        "3 provided signatures exceeds the maximum allowed of 2",
    )


async def test_rejections_carry_suis_codes_and_texts(
    devnet: DevnetProcess, channel: Channel, client: ChainClient
) -> None:
    key = funded(devnet)
    gas = await coin_ref(client, key)
    first = await split_tx(client, key, [1_000], gas)
    second = await split_tx(client, key, [2_000], gas)  # another transaction, same coin version
    await execute_raw(channel, first, None)
    current = await coin_ref(client, key)
    with pytest.raises(GRPCError) as err:
        await execute_raw(channel, second, None)
    assert err.value.status == Status.INVALID_ARGUMENT
    assert err.value.message == (
        f"{INPUT_ERRORS}Object ID {gas.object_id} Version {gas.version:#x} Digest {gas.digest} "
        f"is not available for consumption, current version: {current.version:#x}."
    )
    with pytest.raises(TransactionRejected) as rejected:  # the product sees a stale input
        await client.execute(second.tx_bytes, second.signatures)
    assert rejected.value.stale_object
    assert not rejected.value.objects_locked
    assert rejected.value.status == "INVALID_ARGUMENT"
    ahead = ObjectRef(current.object_id, current.version + 5, current.digest)
    with pytest.raises(GRPCError) as err:
        await execute_raw(channel, await split_tx(client, key, [3_000], ahead), None)
    assert err.value.status == Status.INVALID_ARGUMENT
    assert err.value.message == (
        f"{INPUT_ERRORS}Could not find the referenced object {current.object_id} at version "
        f"Some(SequenceNumber({current.version + 5}))."
    )
    forged = await split_tx(client, key, [4_000])
    other = SuiKeyPair.generate().sign_transaction(forged.tx_bytes)
    with pytest.raises(GRPCError) as err:
        await execute_raw(channel, forged, None, signatures=[other])
    assert err.value.status == Status.INVALID_ARGUMENT
    assert (err.value.message or "").startswith("Invalid user signature: ")

    ledger = v2.LedgerServiceStub(channel)
    missing = "0x" + "ab" * 32
    with pytest.raises(GRPCError) as err:
        await ledger.get_object(v2.GetObjectRequest(object_id=missing))
    assert (err.value.status, err.value.message) == (
        Status.NOT_FOUND,
        f"Object {missing} not found",
    )
    with pytest.raises(GRPCError) as err:
        await ledger.get_object(v2.GetObjectRequest(object_id=current.object_id, version=10**6))
    assert (err.value.status, err.value.message) == (
        Status.NOT_FOUND,
        f"Object {current.object_id} with version 1000000 not found",
    )
    with pytest.raises(GRPCError) as err:
        await ledger.get_object(
            v2.GetObjectRequest(object_id=current.object_id, read_mask=FieldMask(paths=["nope"]))
        )
    assert (err.value.status, err.value.message) == (
        Status.INVALID_ARGUMENT,
        "invalid read_mask path: nope",
    )
    unknown = "1" * 44
    with pytest.raises(GRPCError) as err:
        await ledger.get_transaction(v2.GetTransactionRequest(digest=unknown))
    assert (err.value.status, err.value.message) == (
        Status.NOT_FOUND,
        f"Transaction {unknown} not found",
    )


# -- object JSON, against the Move sources -------------------------------------------------------
FRAMEWORK_STRUCTS = {
    "coin::Coin": [("id", "UID"), ("balance", "Balance<SUI>")],
    "clock::Clock": [("id", "UID"), ("timestamp_ms", "u64")],
}


def move_structs() -> dict[str, list[tuple[str, str]]]:
    """`module::Struct` -> [(field, Move type)], read from contracts/sources/*.move."""
    out = dict(FRAMEWORK_STRUCTS)
    for path in CONTRACTS.glob("*.move"):
        text = path.read_text()
        module = re.search(r"^module\s+\w+::(\w+)", text, re.M)
        assert module is not None
        for name, body in re.findall(r"public struct (\w+) has [^{]*\{([^}]*)\}", text):
            fields = re.findall(r"(\w+)\s*:\s*([\w<>, :]+?)\s*(?:,|$)", body.strip())
            out[f"{module.group(1)}::{name}"] = fields
    return out


def sui_json(type_: str, data: bytes, pos: int) -> tuple[Any, int]:
    """Decode BCS of `type_` and render it as Sui's JSON (crates/sui-types/src/rpc_visitor):
    u8 a number; u64 and Balance a decimal string; UID/ID/address 0x + 64 hex; String a string;
    vector<u8> base64; other vectors a list; Table {id, size}."""
    if type_ in ("UID", "ID", "address"):
        return "0x" + data[pos : pos + 32].hex(), pos + 32
    if type_ == "u8":
        return data[pos], pos + 1
    if type_ == "u64" or type_.startswith("Balance<"):
        return str(int.from_bytes(data[pos : pos + 8], "little")), pos + 8
    if type_ == "String":
        n, pos = read_uleb128(data, pos)
        return data[pos : pos + n].decode(), pos + n
    if type_ == "vector<u8>":
        n, pos = read_uleb128(data, pos)
        return base64.b64encode(data[pos : pos + n]).decode(), pos + n
    if type_.startswith("vector<"):
        n, pos = read_uleb128(data, pos)
        items = []
        for _ in range(n):
            item, pos = sui_json(type_[len("vector<") : -1], data, pos)
            items.append(item)
        return items, pos
    if type_.startswith("Table<"):
        table_id, pos = sui_json("UID", data, pos)
        size, pos = sui_json("u64", data, pos)
        return {"id": table_id, "size": size}, pos
    raise AssertionError(f"no rule for {type_}")


async def test_object_json_follows_suis_rules(
    devnet: DevnetProcess, channel: Channel, client: ChainClient, enclave: str
) -> None:
    pkg = K3sDaasPackage(client, devnet.deployment)
    staker = funded(devnet)
    minted = await pkg.stake_and_create_worker_token(staker, 300, "json-rules-node")
    await pkg.slash(devnet.admin_key, minted.stake_record_id, 100)  # a non-zero Balance left
    dep = devnet.deployment
    coin = (await coin_ref(client, staker)).object_id
    ids = [dep.pool_id, dep.enclave_config_id, str(dep.admin_cap_id), dep.clock_id, coin]
    ids += [minted.stake_record_id, minted.token_id, enclave]
    structs = move_structs()
    checked = set()
    for object_id in ids:
        obj = (
            await v2.LedgerServiceStub(channel).get_object(
                v2.GetObjectRequest(
                    object_id=object_id,
                    read_mask=FieldMask(paths=["object_type", "contents", "json"]),
                )
            )
        ).object
        assert obj is not None
        assert obj.object_type is not None
        assert obj.contents is not None
        assert obj.contents.value is not None
        assert obj.json is not None
        name = "::".join(obj.object_type.split("<", 1)[0].split("::")[1:])
        contents = bytes(obj.contents.value)
        expected: dict[str, Any] = {}
        pos = 0
        for field, move_type in structs[name]:
            expected[field], pos = sui_json(move_type, contents, pos)
        assert pos == len(contents)
        rendered = obj.json.to_dict()
        assert rendered == expected, name
        for field, move_type in structs[name]:  # the JSON kinds, not only the values
            kind = (int, float) if move_type == "u8" else type(expected[field])
            assert isinstance(rendered[field], kind), (name, field)
        checked.add(name)
    assert {"staking::StakingPool", "staking::StakeRecord", "coin::Coin"} <= checked
    assert len(checked) == 8
    record = await pkg.get_stake_record(minted.stake_record_id)  # the views parse that JSON
    assert (record.balance, record.amount) == (200, 300)


# -- ListOwnedObjects ----------------------------------------------------------------------------
async def list_owned(channel: Channel, **kw: Any) -> v2.ListOwnedObjectsResponse:
    return await v2.StateServiceStub(channel).list_owned_objects(v2.ListOwnedObjectsRequest(**kw))


async def test_list_owned_objects_like_sui(
    devnet: DevnetProcess, channel: Channel, client: ChainClient
) -> None:
    key = funded(devnet)
    amounts = [10_000 + 37 * i for i in range(60)]
    await client.execute(*_parts(await split_tx(client, key, amounts)))
    owner = key.address
    first = await list_owned(channel, owner=owner)  # 61 coins: default page of 50
    assert len(first.objects) == 50
    assert first.next_page_token
    sample = first.objects[0]
    assert (sample.object_id, sample.version, sample.object_type) != (None, None, None)
    assert (sample.digest, sample.owner, sample.json) == (None, None, None)  # default mask
    rest = await list_owned(channel, owner=owner, page_token=first.next_page_token)
    assert len(rest.objects) == 11
    assert not rest.next_page_token
    assert len(await _all_ids(channel, owner, page_size=7)) == 61
    assert len((await list_owned(channel, owner=owner, page_size=0)).objects) == 1
    assert len((await list_owned(channel, owner=owner, page_size=10**6)).objects) == 61
    # coins of one type: largest balance first
    balances = [
        int(o.balance or 0)
        for o in (
            await list_owned(
                channel, owner=owner, page_size=1000, read_mask=FieldMask(paths=["balance"])
            )
        ).objects
    ]
    assert balances == sorted(balances, reverse=True)
    assert len(set(balances)) == 61
    # a full StructTag: no params = every instantiation; params = exactly; nothing else
    for object_type, count in (
        ("0x2::coin::Coin", 61),
        ("0x2::coin::Coin<0x2::sui::SUI>", 61),
        (COIN_SUI_TYPE, 61),
        ("0x2::coin::Coin<0x2::sui::NOPE>", 0),
        ("0x2::coin::Balance", 0),
    ):
        found = await list_owned(channel, owner=owner, object_type=object_type, page_size=1000)
        assert len(found.objects) == count, object_type
    for bad in ("0x2::coin", "0x2", "coin::Coin", "0x2::coin::Coin<", "", "0x2::coin::Coin x"):
        with pytest.raises(GRPCError) as err:
            await list_owned(channel, owner=owner, object_type=bad)
        assert err.value.status == Status.INVALID_ARGUMENT
        assert (err.value.message or "").startswith("invalid object_type: "), bad
    # a page token belongs to its owner and filter
    token = first.next_page_token
    for kw in (
        {"owner": devnet.admin_key.address, "page_token": token},
        {"owner": owner, "page_token": token, "object_type": "0x2::coin::Coin"},
        {"owner": owner, "page_token": b"garbage"},
    ):
        with pytest.raises(GRPCError) as err:
            await list_owned(channel, **kw)
        assert (err.value.status, err.value.message) == (
            Status.INVALID_ARGUMENT,
            "invalid page_token",
        )
    # the product passes full StructTags and follows pages
    coins = await client.list_owned_objects(owner, "0x2::coin::Coin<0x2::sui::SUI>")
    assert [c.balance for c in coins] == balances
    with pytest.raises(ChainError) as refused:
        await client.list_owned_objects(owner, "0x2::coin")
    assert refused.value.reason == "invalid_type"


def _parts(signed: SignedTransaction) -> tuple[bytes, tuple[bytes, ...]]:
    return signed.tx_bytes, signed.signatures


async def _all_ids(channel: Channel, owner: str, page_size: int) -> list[str]:
    ids: list[str] = []
    token: bytes | None = None
    while True:
        page = await list_owned(channel, owner=owner, page_size=page_size, page_token=token)
        assert len(page.objects) <= page_size
        ids += [str(o.object_id) for o in page.objects]
        token = page.next_page_token
        if not token:
            assert len(set(ids)) == len(ids)
            return ids


# -- what the product saves and how it copes -----------------------------------------------------
def count_rpcs(client: ChainClient) -> Counter[str]:
    """RPCs the client sends on its (only) endpoint, by method name."""
    counts: Counter[str] = Counter()

    async def on_send(event: SendRequest) -> None:
        counts[event.method_name.rsplit("/", 1)[-1]] += 1

    listen(client.transport.channel(0), SendRequest, on_send)
    return counts


async def test_execute_answers_the_objects_no_get_object_needed(
    devnet: DevnetProcess, client: ChainClient, enclave: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = K3sDaasPackage(client, devnet.deployment)
    staker = funded(devnet)
    for shared in (devnet.deployment.pool_id, devnet.deployment.enclave_config_id):
        await client.initial_shared_version(shared)  # warm the caches (read once per process)
    await client.reference_gas_price()
    counts = count_rpcs(client)
    minted = await pkg.stake_and_create_worker_token(staker, 200, "round-trip-node")
    assert counts["ExecuteTransaction"] == 1
    assert counts["GetObject"] == 0, counts  # the SealToken view came with the execute answer
    record = await pkg.request_unstake(staker, minted.stake_record_id)
    assert record.status_name == "withdrawing"
    assert counts["GetObject"] == 0
    # with the old mask (`objects`) a real node answers no objects: one GetObject per view
    monkeypatch.setattr(
        "k3s_daas.chain.client.EXECUTE_MASK", ("digest", "effects", "events", "objects")
    )
    await pkg.stake_and_create_worker_token(staker, 200, "round-trip-node-2")
    assert counts["GetObject"] == 1


async def test_stale_gas_from_another_process_is_rebuilt_once(
    devnet: DevnetProcess, client: ChainClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes (two packages, two clients) share one signer with one coin: the second
    built on the coin version the first spent; Sui's stale text makes it rebuild, and both land."""
    key = funded(devnet)
    async with ChainClient.from_deployment(devnet.deployment) as other:
        first = K3sDaasPackage(client, devnet.deployment)
        second = K3sDaasPackage(other, devnet.deployment)
        counts = count_rpcs(other)
        selected, spent = asyncio.Event(), asyncio.Event()
        original = second.select_gas
        builds = 0

        async def select_then_wait(owner: str, need: int) -> list[ObjectRef]:
            nonlocal builds
            refs = await original(owner, need)
            builds += 1
            if builds == 1:
                selected.set()
                await spent.wait()  # the first process spends the coin meanwhile
            return refs

        monkeypatch.setattr(second, "select_gas", select_then_wait)
        late = asyncio.create_task(second.stake_for_user(key, 400))
        await selected.wait()
        await first.stake_for_user(key, 300)
        spent.set()
        record = await asyncio.wait_for(late, 30)
        assert record.amount == 400
        assert builds == 2
        assert counts["ExecuteTransaction"] == 2  # the stale one, then the rebuilt one
