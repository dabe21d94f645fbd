"""How the client reads a refused transaction, by gRPC code AND Sui's text (codes moved between
Sui versions): a stale input is rebuilt once, locked inputs fail at once with a clear error, an
unknown outcome is looked up by digest. And how it picks the outputs from an execute answer's
object set (which holds input and output versions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import grpclib.const
import pytest
from grpclib import GRPCError
from grpclib.const import Cardinality, Status
from grpclib.server import Server, Stream
from pysui.sui.sui_grpc.suimsgs.google.protobuf import Value
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain import (
    ChainClient,
    Deployment,
    Endpoint,
    K3sDaasPackage,
    ObjectData,
    SuiKeyPair,
    TransactionRejected,
)
from k3s_daas.chain.convert import output_objects
from k3s_daas.chain.transport import rejection_kind
from k3s_daas.seal.sui import COIN_SUI_TYPE

A = "0x" + "aa" * 32
B = "0x" + "bb" * 32
PKG = "0x" + "0d" * 32
STALE = (
    "Transaction execution failed due to issues with transaction inputs, please review the "
    f"errors and try again: Object ID {A} Version 0x3 Digest 11111111111111111111111111111111 "
    "is not available for consumption, current version: 0x4."
)
LOCKED_QD = (
    "Failed to sign transaction by a quorum of validators because of locked objects. "
    "Conflicting Transactions:\n{}"
)
LOCKED_TD = (
    "Transaction is rejected as invalid by more than 1/3 of validators by stake "
    f"(non-retriable). Non-retriable errors: [Object ({A}, SequenceNumber(3), o#1) already locked "
    "by a different transaction: TransactionDigest(abc) with 6700 stake]."
)


class FakeNode:
    """ExecuteTransaction answers (status, message); GetTransaction finds the transaction."""

    def __init__(self) -> None:
        self.answer: tuple[Status, str] = (Status.OK, "")
        self.lookups = 0

    async def execute(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        raise GRPCError(*self.answer)

    async def get_transaction(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        self.lookups += 1
        effects = v2.TransactionEffects(status=v2.ExecutionStatus(success=True))
        executed = v2.ExecutedTransaction(digest=request.digest, effects=effects)
        await stream.send_message(v2.GetTransactionResponse(transaction=executed))

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        unary = Cardinality.UNARY_UNARY
        return {
            "/sui.rpc.v2.TransactionExecutionService/ExecuteTransaction": grpclib.const.Handler(
                self.execute, unary, v2.ExecuteTransactionRequest, v2.ExecuteTransactionResponse
            ),
            "/sui.rpc.v2.LedgerService/GetTransaction": grpclib.const.Handler(
                self.get_transaction, unary, v2.GetTransactionRequest, v2.GetTransactionResponse
            ),
        }


@pytest.fixture
async def node() -> AsyncIterator[tuple[FakeNode, ChainClient]]:
    fake = FakeNode()
    server = Server([fake])
    await server.start("127.0.0.1", 0)
    port = next(iter(getattr(server._server, "sockets", ()))).getsockname()[1]
    client = ChainClient(f"127.0.0.1:{port}", timeout=2.0, write_timeout=2.0)
    yield fake, client
    await client.close()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (Status.INVALID_ARGUMENT, STALE, "stale_object"),
        (Status.FAILED_PRECONDITION, LOCKED_QD, "objects_locked"),
        (Status.INVALID_ARGUMENT, LOCKED_TD, "objects_locked"),
        (Status.FAILED_PRECONDITION, "something else", "objects_locked"),
        (Status.INVALID_ARGUMENT, "Invalid user signature: Signature is not valid", "rejected"),
        (Status.NOT_FOUND, "Could not find the referenced object", "rejected"),
    ],
)
async def test_rejections_are_classified_and_never_looked_up(
    node: tuple[FakeNode, ChainClient], status: Status, message: str, kind: str
) -> None:
    fake, client = node
    fake.answer = (status, message)
    with pytest.raises(TransactionRejected) as err:
        await client.execute(b"tx", [b"sig"])
    assert err.value.kind == kind
    assert err.value.status == status.name
    assert err.value.stale_object == (kind == "stale_object")
    assert err.value.objects_locked == (kind == "objects_locked")
    if kind == "objects_locked":
        assert err.value.reason == "objects_locked"
        assert "locked by another transaction" in err.value.message
    assert fake.lookups == 0  # a refusal is an answer: nothing to look up


@pytest.mark.parametrize(
    "status", [Status.UNAVAILABLE, Status.ABORTED, Status.DEADLINE_EXCEEDED, Status.INTERNAL]
)
async def test_an_unknown_outcome_is_resolved_by_digest(
    node: tuple[FakeNode, ChainClient], status: Status
) -> None:
    fake, client = node
    fake.answer = (status, "timed-out before finality could be reached")
    result = await client.execute(b"tx", [b"sig"])
    assert fake.lookups == 1
    assert result.checkpoint is None  # GetTransaction here answered no checkpoint either


def test_rejection_kind_reads_the_text_before_the_code() -> None:
    assert rejection_kind(Status.FAILED_PRECONDITION, STALE) == "stale_object"
    assert rejection_kind(Status.UNKNOWN, STALE) == "stale_object"
    assert rejection_kind(Status.INVALID_ARGUMENT, "bad bcs") == "rejected"


# -- the package: rebuild once on a stale input, never on locked inputs ---------------------------
class RefusingChain:
    """Just enough of ChainClient for `K3sDaasPackage.stake_for_user`; execute always refuses."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.package_id: str | None = None
        self.executed = 0
        self.listed = 0

    async def list_owned_objects(self, owner: str, object_type: str) -> list[ObjectData]:
        assert object_type == COIN_SUI_TYPE
        self.listed += 1
        version = 3 + self.listed
        return [
            ObjectData(A, version, COIN_SUI_TYPE, owner, False, {}, digest="1" * 32, balance=10**12)
        ]

    async def reference_gas_price(self) -> int:
        return 1000

    async def initial_shared_version(self, object_id: str) -> int:
        return 1

    async def execute(self, tx_bytes: bytes, signatures: Any, **_: Any) -> Any:
        self.executed += 1
        raise TransactionRejected("refused", status="INVALID_ARGUMENT", kind=self.kind)


@pytest.mark.parametrize(("kind", "attempts"), [("stale_object", 2), ("objects_locked", 1)])
async def test_transact_rebuilds_only_stale_inputs(kind: str, attempts: int) -> None:
    chain = RefusingChain(kind)
    deployment = Deployment(
        chain_id="c", grpc_endpoints=[Endpoint.parse("127.0.0.1:1")], package_id=PKG, pool_id=B,
        enclave_config_id=B,
    )  # fmt: skip
    pkg = K3sDaasPackage(cast(ChainClient, chain), deployment)
    with pytest.raises(TransactionRejected) as err:
        await pkg.stake_for_user(SuiKeyPair.generate(), 500)
    assert err.value.kind == kind
    assert chain.executed == attempts
    assert chain.listed == attempts  # a rebuild reads the gas coins afresh


# -- the object set of an execute answer ---------------------------------------------------------
def _object(object_id: str, version: int) -> v2.Object:
    return v2.Object(
        object_id=object_id,
        version=version,
        digest="1" * 32,
        object_type=COIN_SUI_TYPE,
        owner=v2.Owner(kind=v2.OwnerOwnerKind.ADDRESS, address=B),
        json=Value.from_dict({"id": object_id, "balance": str(version)}),
    )


def test_output_objects_keep_the_written_versions() -> None:
    gone = "0x" + "cc" * 32
    tx = v2.ExecutedTransaction(
        objects=v2.ObjectSet(
            objects=[_object(A, 5), _object(A, 9), _object(B, 9), _object(gone, 4)]
        )
    )
    picked = output_objects(tx, deleted=[gone])
    assert {i: o.version for i, o in picked.items()} == {A: 9, B: 9}
    assert picked[A].fields["balance"] == "9"
    assert output_objects(v2.ExecutedTransaction(), deleted=[]) == {}
