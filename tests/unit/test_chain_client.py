"""Client pieces without a network: endpoint parsing, effects decoding (aborts named after the
Move constant, framework aborts not misnamed), event parsing and the persisted cursor."""

from __future__ import annotations

from pathlib import Path

import pytest
from pysui.sui.sui_grpc.suimsgs.google.protobuf import Value
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain import (
    BalanceReader,
    ChainClient,
    ChainError,
    ChainReader,
    CheckpointSource,
    Endpoint,
    FileCursorStore,
    MemoryCursorStore,
    MoveAbortError,
    TransactionFailed,
    checkpoint_events,
)
from k3s_daas.chain.convert import failure_error, tx_result

PKG = "0x" + "0d" * 32
A = "0x" + "aa" * 32
DIGEST = "4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi"


def abort(package: str, module: str, function: str, code: int) -> v2.ExecutionError:
    return v2.ExecutionError(
        description="abort",
        kind=v2.ExecutionErrorExecutionErrorKind.MOVE_ABORT,
        abort=v2.MoveAbort(
            abort_code=code,
            location=v2.MoveLocation(package=package, module=module, function_name=function),
        ),
    )


def test_endpoint_parsing() -> None:
    assert Endpoint.parse("127.0.0.1:9000") == Endpoint("127.0.0.1", 9000, False)
    assert Endpoint.parse("https://fullnode.sui.io") == Endpoint("fullnode.sui.io", 443, True)
    assert Endpoint.parse("https://node:8443").tls
    assert str(Endpoint.parse("https://node:8443")) == "https://node:8443"
    for bad in ("127.0.0.1", "ftp://x:1", "host:notaport", "://"):
        with pytest.raises(ChainError) as err:
            Endpoint.parse(bad)
        assert err.value.reason == "bad_endpoint"
    with pytest.raises(ChainError):
        ChainClient([])


def test_client_satisfies_the_read_protocols() -> None:
    client = ChainClient(["127.0.0.1:1", "https://node.example"])
    readers: tuple[ChainReader, BalanceReader, CheckpointSource] = (client, client, client)
    for reader, protocol in zip(
        readers, (ChainReader, BalanceReader, CheckpointSource), strict=True
    ):
        assert isinstance(reader, protocol)
    assert client.endpoints == client.transport.endpoints
    assert [str(e) for e in client.endpoints] == ["127.0.0.1:1", "https://node.example:443"]
    assert client.preferred_endpoint == 0


def test_abort_in_our_package_is_named() -> None:
    error = failure_error(DIGEST, abort(PKG, "staking", "stake_for_node", 7), PKG)
    assert isinstance(error, MoveAbortError)
    assert (error.module, error.function, error.code) == ("staking", "stake_for_node", 7)
    assert error.name == "E_NODE_ALREADY_STAKED"
    assert error.reason == "move_abort"
    assert "E_NODE_ALREADY_STAKED" in error.message
    assert error.digest == DIGEST


def test_framework_or_foreign_abort_is_not_misnamed() -> None:
    framework = failure_error(DIGEST, abort("0x2", "nitro_attestation", "load", 2), PKG)
    assert isinstance(framework, MoveAbortError)
    assert framework.name is None  # code 2 is E_NOT_STAKER only in OUR package
    assert "abort code 2" in framework.message
    foreign = failure_error(DIGEST, abort("0x" + "99" * 32, "staking", "x", 7), PKG)
    assert isinstance(foreign, MoveAbortError)
    assert foreign.name is None
    unknown_pkg = failure_error(DIGEST, abort("0x" + "99" * 32, "staking", "x", 7), None)
    assert isinstance(unknown_pkg, MoveAbortError)
    assert unknown_pkg.name == "E_NODE_ALREADY_STAKED"


def test_non_abort_failure() -> None:
    error = failure_error(
        DIGEST,
        v2.ExecutionError(
            description="InsufficientGas: budget",
            kind=v2.ExecutionErrorExecutionErrorKind.INSUFFICIENT_GAS,
        ),
        PKG,
    )
    assert type(error) is TransactionFailed
    assert error.kind == "INSUFFICIENT_GAS"
    assert "InsufficientGas" in error.message


def test_tx_result_decodes_changes_events_and_failures() -> None:
    ops = v2.ChangedObjectIdOperation
    shared = v2.Owner(kind=v2.OwnerOwnerKind.SHARED, version=5)
    tx = v2.ExecutedTransaction(
        digest=DIGEST,
        checkpoint=12,
        effects=v2.TransactionEffects(
            status=v2.ExecutionStatus(success=True),
            changed_objects=[
                v2.ChangedObject(
                    object_id=A,
                    id_operation=ops.CREATED,
                    output_state=v2.ChangedObjectOutputObjectState.OBJECT_WRITE,
                    output_version=5,
                    output_digest=DIGEST,
                    output_owner=shared,
                    object_type=f"{PKG}::staking::StakeRecord",
                ),
                v2.ChangedObject(object_id="0x5", id_operation=ops.DELETED),
            ],
        ),
        events=v2.TransactionEvents(
            events=[
                v2.Event(
                    package_id=PKG,
                    module="k8s_gateway",  # the calling module of a one-call stake + mint
                    sender=A,
                    event_type=f"{PKG}::staking::StakeCreated",
                    contents=v2.Bcs(
                        name=f"{PKG}::staking::StakeCreated",
                        value=bytes.fromhex(A[2:]) * 2
                        + b"\x02w1"
                        + b"\x01"
                        + (5).to_bytes(8, "little"),
                    ),
                    json=Value.from_dict({"amount": "999"}),  # never read
                )
            ]
        ),
    )
    result = tx_result(tx, PKG)
    assert result.checkpoint == 12
    [created] = result.created_of_type(f"{PKG}::staking::StakeRecord")
    assert (created.object_id, created.shared, created.initial_shared_version) == (A, True, 5)
    assert result.deleted == ["0x" + "5".rjust(64, "0")]
    [event] = result.events
    assert (event.name, event.module, event.checkpoint, event.index) == (
        "StakeCreated",
        "k8s_gateway",
        12,
        0,
    )
    assert event.key == (DIGEST, 0)
    assert event.fields == {
        "stake_id": A,
        "staker": A,
        "node_id": "w1",
        "stake_type": 1,
        "amount": 5,
    }
    assert tx.effects is not None
    tx.effects.status = v2.ExecutionStatus(
        success=False, error=abort(PKG, "k8s_gateway", "rotate_seal_token", 105)
    )
    with pytest.raises(MoveAbortError) as err:
        tx_result(tx, PKG)
    assert err.value.name == "E_NOT_TOKEN_OWNER"


def test_checkpoint_events_filter_by_package() -> None:
    def event(pkg: str) -> v2.Event:
        return v2.Event(package_id=pkg, module="m", event_type=f"{pkg}::m::E")

    cp = v2.Checkpoint(
        sequence_number=3,
        transactions=[
            v2.ExecutedTransaction(
                digest=DIGEST, events=v2.TransactionEvents(events=[event(PKG), event("0x2")])
            )
        ],
    )
    assert [e.index for e in checkpoint_events(cp, None)] == [0, 1]
    [ours] = checkpoint_events(cp, PKG)
    assert (ours.checkpoint, ours.index, ours.package_id) == (3, 0, PKG)


async def test_cursor_stores(tmp_path: Path) -> None:
    store = FileCursorStore(tmp_path / "sub" / "cursor.json")
    assert await store.load() is None
    await store.save(41)
    await store.save(42)
    assert await FileCursorStore(store.path).load() == 42
    store.path.write_text("{not json")
    with pytest.raises(ChainError) as err:
        await store.load()
    assert err.value.reason == "bad_cursor"
    store.path.write_text('{"checkpoint": -1}')
    with pytest.raises(ChainError):
        await store.load()
    memory = MemoryCursorStore()
    await memory.save(3)
    assert await memory.load() == 3
