"""The sui.rpc.v2 gRPC services of the devnet, served by grpclib with pysui's message classes.

Each service object maps EVERY route of its pysui stub (`routes.stub_routes`); methods it does not
implement answer UNIMPLEMENTED. Expected errors become gRPC statuses with a reason; anything else
is INTERNAL without a traceback on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import grpclib.const
from grpclib import GRPCError
from grpclib.const import Cardinality, Status
from grpclib.server import Stream
from pysui.sui.sui_grpc.suimsgs.google import rpc as grpc_rpc
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas import __version__
from k3s_daas.devnet.certified_render import render_checkpoint, render_committee
from k3s_daas.devnet.convert import parse_address, to_transaction_data
from k3s_daas.devnet.errors import BadRequest, NotFound, rpc_error
from k3s_daas.devnet.execute import (
    CHECKPOINT_WAIT,
    checkpoint_wait,
    render_execution,
    signatures_of,
)
from k3s_daas.devnet.execute import DEFAULT_MASK as EXECUTE_DEFAULT_MASK
from k3s_daas.devnet.ids import CHAIN_NAME, PACKAGE_ID, PROTOCOL_VERSION, SERVER_NAME
from k3s_daas.devnet.ledger import EventRow
from k3s_daas.devnet.node import DevnetNode
from k3s_daas.devnet.object_wire import Encoded, error_result, object_result, servable
from k3s_daas.devnet.owned import list_owned_page
from k3s_daas.devnet.package import FUNCTIONS
from k3s_daas.devnet.render import (
    ObjectRenderer,
    json_value,
    parse_mask,
    project,
    render_effects,
    render_events,
    render_transaction,
    structured_transaction,
    timestamp,
)
from k3s_daas.devnet.routes import STUBS, Route, stub_routes
from k3s_daas.devnet.signatures import FRAMEWORK_FUNCTIONS, function_descriptor
from k3s_daas.devnet.user_signatures import SchemeUnimplemented, verify_signature
from k3s_daas.log import get_logger
from k3s_daas.seal.encoding import uleb128
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.sui import (
    MOVE_STDLIB,
    SUI_FRAMEWORK,
    SUI_TYPE,
    derive_dynamic_field_id,
    normalize_type,
)

log = get_logger(__name__)

OBJECT_DEFAULT_MASK = ["object_id", "version", "digest"]
TX_DEFAULT_MASK = ["digest"]
CHECKPOINT_DEFAULT_MASK = ["sequence_number", "digest"]
MAX_BATCH = 1000
DEFAULT_PAGE = 50
MAX_PAGE = 1000
_TABLE_PREFIX = b"k3s-daas/table/v1:"
_TYPE_RE = re.compile(r"^0x[0-9a-f]{64}::[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*(<.+>)?)?$")
_DIGEST_RE = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")


def _type(text: str, what: str) -> str:
    normal = normalize_type(text)
    if len(normal) > 512 or not _TYPE_RE.match(normal):
        raise BadRequest(f"{what}: not a Move type: {text[:100]!r}")
    return normal


def _digest(text: str | None, what: str) -> str:
    if not text or not _DIGEST_RE.match(text):
        raise BadRequest(f"{what}: not a base58 digest")
    return text


Handler = Callable[[Stream[Any, Any]], Awaitable[None]]


class _Service:
    """Base: builds `__mapping__` from the pysui stub, wraps handlers with error mapping."""

    NAME = ""
    #: Methods called as `impl(request, metadata)` returning (response, response metadata).
    WITH_METADATA: ClassVar[frozenset[str]] = frozenset()
    #: Methods that answer `Encoded` bytes (written without message objects).
    ENCODED: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, node: DevnetNode, renderer: ObjectRenderer) -> None:
        self.node = node
        self.ledger = node.ledger
        self.objects = renderer

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        mapping: dict[str, grpclib.const.Handler] = {}
        for route in stub_routes(STUBS[self.NAME]):
            impl = getattr(self, route.method, None)
            handler = (
                self._unary(route, impl)
                if route.cardinality == Cardinality.UNARY_UNARY
                else (self._stream(route, impl))
            )
            reply = Encoded if route.method in self.ENCODED else route.response
            mapping[route.path] = grpclib.const.Handler(
                handler, route.cardinality, route.request, reply
            )
        return mapping

    def _unary(self, route: Route, impl: Any) -> Handler:
        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            if impl is None:
                raise GRPCError(Status.UNIMPLEMENTED, f"{route.path} is not served by the devnet")
            headers: dict[str, str] | None = None
            try:
                if route.method in self.WITH_METADATA:
                    response, headers = await impl(request, stream.metadata)
                else:
                    response = await impl(request)
            except K3sDaasError as exc:
                raise GRPCError(*rpc_error(exc)) from None
            except GRPCError:
                raise
            except Exception:
                log.exception("rpc failed", route=route.path)
                raise GRPCError(Status.INTERNAL, "internal error") from None
            if headers:
                await stream.send_initial_metadata(metadata=headers)
            await stream.send_message(response)

        return handle

    def _stream(self, route: Route, impl: Any) -> Handler:
        async def handle(stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            if impl is None:
                raise GRPCError(Status.UNIMPLEMENTED, f"{route.path} is not served by the devnet")
            try:
                await impl(request, stream)
            except K3sDaasError as exc:
                raise GRPCError(*rpc_error(exc)) from None
            except GRPCError:
                raise
            except Exception:
                log.exception("stream failed", route=route.path)
                raise GRPCError(Status.INTERNAL, "internal error") from None

        return handle


class LedgerService(_Service):
    """Objects, transactions, checkpoints, epochs, service info."""

    NAME = "LedgerService"
    ENCODED = frozenset({"batch_get_objects"})

    async def get_service_info(
        self, request: v2.GetServiceInfoRequest
    ) -> v2.GetServiceInfoResponse:
        latest = self.ledger.latest_checkpoint()
        return v2.GetServiceInfoResponse(
            chain_id=self.node.chain_id,
            chain=CHAIN_NAME,
            epoch=self.ledger.epoch(),
            checkpoint_height=latest.seq if latest else 0,
            timestamp=timestamp(latest.timestamp_ms if latest else self.ledger.timestamp_ms()),
            lowest_available_checkpoint=0,
            lowest_available_checkpoint_objects=0,
            server=f"{SERVER_NAME}/{__version__}",
        )

    def _object(self, object_id: str | None, version: int | None) -> Any:
        oid = parse_address(object_id, "object_id")
        row = self.ledger.object_row(oid, version)
        if row is None:
            at = f" with version {version}" if version is not None else ""
            raise NotFound(f"Object {oid}{at} not found")
        return row

    async def get_object(self, request: v2.GetObjectRequest) -> v2.GetObjectResponse:
        tree = parse_mask(request.read_mask, v2.Object, OBJECT_DEFAULT_MASK)
        row = self._object(request.object_id, request.version)
        return v2.GetObjectResponse(object=self.objects.render(row, tree))

    async def batch_get_objects(self, request: v2.BatchGetObjectsRequest) -> Encoded:
        if len(request.requests) > MAX_BATCH:
            raise BadRequest(f"at most {MAX_BATCH} objects per batch")
        tree = parse_mask(request.read_mask, v2.Object, OBJECT_DEFAULT_MASK)
        if servable(tree) and all(item.version is None for item in request.requests):
            return self._stored_objects(request, tree or {})
        results: list[v2.GetObjectResult] = []
        for item in request.requests:
            try:
                row = self._object(item.object_id, item.version)
                results.append(v2.GetObjectResult(object=self.objects.render(row, tree)))
            except (BadRequest, NotFound) as exc:
                status, message = rpc_error(exc)
                results.append(
                    v2.GetObjectResult(error=grpc_rpc.Status(code=status.value, message=message))
                )
        return Encoded(bytes(v2.BatchGetObjectsResponse(objects=results)))

    def _stored_objects(self, request: v2.BatchGetObjectsRequest, tree: dict[str, Any]) -> Encoded:
        """The latest versions, written from stored bytes in one query (`devnet.object_wire`)."""
        ids: list[str | None] = []
        errors: dict[int, bytes] = {}
        for i, item in enumerate(request.requests):
            try:
                ids.append(parse_address(item.object_id, "object_id"))
            except BadRequest as exc:
                ids.append(None)
                errors[i] = error_result(Status.INVALID_ARGUMENT.value, exc.message)
        stored = self.ledger.live_object_bcs([i for i in ids if i is not None])
        out: list[bytes] = []
        for i, oid in enumerate(ids):
            row = stored.get(oid) if oid is not None else None
            if oid is None:
                out.append(errors[i])
            elif row is None:
                out.append(error_result(Status.NOT_FOUND.value, f"Object {oid} not found"))
            else:
                out.append(object_result(tree, oid, *row))
        return Encoded(b"".join(out))

    async def get_transaction(self, request: v2.GetTransactionRequest) -> v2.GetTransactionResponse:
        tree = parse_mask(request.read_mask, v2.ExecutedTransaction, TX_DEFAULT_MASK)
        digest = _digest(request.digest, "digest")
        tx = self.ledger.transaction(digest)
        if tx is None:
            raise NotFound(f"Transaction {digest} not found")
        return v2.GetTransactionResponse(
            transaction=render_transaction(tx, self.ledger, self.objects, tree)
        )

    async def get_checkpoint(self, request: v2.GetCheckpointRequest) -> v2.GetCheckpointResponse:
        tree = parse_mask(request.read_mask, v2.Checkpoint, CHECKPOINT_DEFAULT_MASK)
        if request.sequence_number is not None:
            cp = self.ledger.checkpoint(request.sequence_number)
            what = f"checkpoint {request.sequence_number}"
        elif request.digest:
            cp = self.ledger.checkpoint_by_digest(_digest(request.digest, "digest"))
            what = f"checkpoint {request.digest}"
        else:
            cp = self.ledger.latest_checkpoint()
            what = "latest checkpoint"
        if cp is None:
            raise NotFound(f"{what} not found")
        return v2.GetCheckpointResponse(
            checkpoint=render_checkpoint(cp, self.ledger, self.objects, tree)
        )

    async def get_epoch(self, request: v2.GetEpochRequest) -> v2.GetEpochResponse:
        tree = parse_mask(request.read_mask, v2.Epoch, None)
        number = self.ledger.epoch() if request.epoch is None else request.epoch
        info = self.ledger.epoch_info(number)
        if info is None:
            raise NotFound(f"Epoch {number} not found")
        following = self.ledger.epoch_info(number + 1)
        epoch = v2.Epoch(
            epoch=info.epoch,
            first_checkpoint=info.first_checkpoint,
            last_checkpoint=(
                following.first_checkpoint - 1
                if following
                else self.ledger.epoch_last_checkpoint(number)
            ),
            start=timestamp(info.start_ms),
            end=timestamp(following.start_ms) if following else None,
            reference_gas_price=info.reference_gas_price,
            protocol_config=v2.ProtocolConfig(protocol_version=PROTOCOL_VERSION),
            committee=render_committee(info.committee),
        )
        return v2.GetEpochResponse(epoch=project(epoch, tree))


class StateService(_Service):
    """Owned objects (paged) and balances."""

    NAME = "StateService"

    async def list_owned_objects(
        self, request: v2.ListOwnedObjectsRequest
    ) -> v2.ListOwnedObjectsResponse:
        """Sui's rules: full StructTag filter, pages of [1, 1000] objects and ~512 KiB."""
        objects, token = list_owned_page(request, self.ledger, self.objects)
        return v2.ListOwnedObjectsResponse(objects=objects, next_page_token=token)

    async def list_dynamic_fields(
        self, request: v2.ListDynamicFieldsRequest
    ) -> v2.ListDynamicFieldsResponse:
        """Entries of our package's `Table<String, ID>` (the pool's `node_stakes`)."""
        parent = parse_address(request.parent, "parent")
        size = max(1, min(request.page_size or DEFAULT_PAGE, MAX_PAGE))
        after: str | None = None
        if request.page_token:
            token = bytes(request.page_token)
            if not token.startswith(_TABLE_PREFIX):
                raise BadRequest("page_token was not issued by this server")
            after = token[len(_TABLE_PREFIX) :].decode("utf-8", "replace")
        rows = self.ledger.table_entries(parent, after, size + 1)
        more = len(rows) > size
        rows = rows[:size]
        fields = []
        for key, value in rows:
            name = key.encode()
            field_id = derive_dynamic_field_id(parent, name)
            fields.append(
                v2.DynamicField(
                    kind=v2.DynamicFieldDynamicFieldKind.FIELD,
                    parent=parent,
                    field_id=field_id,
                    name=v2.Bcs(
                        name=f"{MOVE_STDLIB}::string::String", value=uleb128(len(name)) + name
                    ),
                    value=v2.Bcs(
                        name=f"{SUI_FRAMEWORK}::object::ID", value=bytes.fromhex(value[2:])
                    ),
                    value_type=f"{SUI_FRAMEWORK}::object::ID",
                )
            )
        return v2.ListDynamicFieldsResponse(
            dynamic_fields=fields,
            next_page_token=(_TABLE_PREFIX + rows[-1][0].encode()) if more else None,
        )

    async def get_balance(self, request: v2.GetBalanceRequest) -> v2.GetBalanceResponse:
        owner = parse_address(request.owner, "owner")
        coin_type = _type(request.coin_type or SUI_TYPE, "coin_type")
        total, _count = self.ledger.balance(owner, coin_type)
        return v2.GetBalanceResponse(
            balance=v2.Balance(
                coin_type=coin_type, balance=total, address_balance=0, coin_balance=total
            )
        )


class MovePackageService(_Service):
    """GetFunction for `k3s_daas` and the framework functions pysui's builder asks about."""

    NAME = "MovePackageService"

    async def get_function(self, request: v2.GetFunctionRequest) -> v2.GetFunctionResponse:
        package = parse_address(request.package_id, "package_id")
        module, name = request.module_name or "", request.name or ""
        signature: Any
        if package == PACKAGE_ID:
            signature = FUNCTIONS.get((module, name))
        elif package == SUI_FRAMEWORK:
            signature = FRAMEWORK_FUNCTIONS.get((module, name))
        else:
            raise NotFound(f"package {package} is not published on this devnet")
        if signature is None:
            raise NotFound(f"function {package}::{module}::{name} not found")
        return v2.GetFunctionResponse(function=function_descriptor(signature))


class TransactionExecutionService(_Service):
    """ExecuteTransaction (signed BCS) and SimulateTransaction (structured or BCS)."""

    NAME = "TransactionExecutionService"
    WITH_METADATA = frozenset({"execute_transaction"})

    async def execute_transaction(
        self, request: v2.ExecuteTransactionRequest, metadata: Any
    ) -> tuple[v2.ExecuteTransactionResponse, dict[str, str]]:
        """See `devnet.execute`: the mask, the objects and the checkpoint as on Sui."""
        waited = checkpoint_wait(metadata)
        tx = request.transaction
        if tx is None or tx.bcs is None or not tx.bcs.value:
            raise BadRequest("transaction.bcs is required (signed BCS TransactionData)")
        signatures = signatures_of(request)
        tree = parse_mask(request.read_mask, v2.ExecutedTransaction, EXECUTE_DEFAULT_MASK)
        record = await self.node.execute(bytes(tx.bcs.value), signatures)
        executed = render_execution(record, self.ledger, self.objects, tree, waited=waited)
        response = v2.ExecuteTransactionResponse(transaction=executed)
        return response, {CHECKPOINT_WAIT: "true"}

    async def simulate_transaction(
        self, request: v2.SimulateTransactionRequest
    ) -> v2.SimulateTransactionResponse:
        tree = parse_mask(request.read_mask, v2.ExecutedTransaction, None)
        if request.transaction is None:
            raise BadRequest("transaction is required")
        gas_price = self.ledger.reference_gas_price()
        data = to_transaction_data(
            request.transaction,
            lambda oid: self.ledger.object_row(oid),
            lambda owner, exclude: self.ledger.coins_of(owner, exclude),
            gas_price,
        )
        executed, preview = self.node.simulate(data)
        out = v2.ExecutedTransaction(
            digest=preview.digest,
            transaction=structured_transaction(preview),
            effects=render_effects(preview),
            events=render_events(
                preview,
                [
                    EventRow(
                        preview.digest, i, 0, e.package_id, e.module, e.sender, e.event_type,
                        e.fields, e.bcs(),
                    )
                    for i, e in enumerate(executed.events)
                ],
                with_json=True,
            ),
        )  # fmt: skip
        return v2.SimulateTransactionResponse(
            transaction=project(out, tree), command_outputs=[], suggested_gas_price=gas_price
        )


class SubscriptionService(_Service):
    """SubscribeCheckpoints: every checkpoint committed after the stream opened, in order.
    `enabled=False` is a full node without the subscription service (UNIMPLEMENTED)."""

    NAME = "SubscriptionService"

    def __init__(self, node: DevnetNode, renderer: ObjectRenderer, *, enabled: bool = True) -> None:
        super().__init__(node, renderer)
        self.enabled = enabled

    async def subscribe_checkpoints(
        self, request: v2.SubscribeCheckpointsRequest, stream: Stream[Any, Any]
    ) -> None:
        if not self.enabled:  # sui-rpc-api subscription_service.rs: the same code and message
            raise GRPCError(Status.UNIMPLEMENTED, "subscription service not enabled")
        # Like a node: no mask validation and no default, so with no mask a frame is only `cursor`.
        tree = parse_mask(request.read_mask, v2.Checkpoint, [], validate=False)
        subscriber = self.node.subscribe()
        try:
            latest = self.ledger.latest_checkpoint()
            next_seq = 0 if latest is None else latest.seq + 1
            while True:
                await subscriber.wait()
                tip = self.ledger.latest_checkpoint()
                while tip is not None and next_seq <= tip.seq:  # from the ledger: never skips
                    cp = self.ledger.checkpoint(next_seq)
                    next_seq += 1
                    if cp is None:
                        continue
                    await stream.send_message(
                        v2.SubscribeCheckpointsResponse(
                            cursor=cp.seq,
                            checkpoint=render_checkpoint(cp, self.ledger, self.objects, tree),
                        )
                    )
        finally:
            self.node.unsubscribe(subscriber)


class SignatureVerificationService(_Service):
    """VerifySignature for Ed25519, Secp256k1, Secp256r1 and MultiSig (`user_signatures`);
    zkLogin and passkey answer UNIMPLEMENTED with a sentence saying why."""

    NAME = "SignatureVerificationService"

    async def verify_signature(
        self, request: v2.VerifySignatureRequest
    ) -> v2.VerifySignatureResponse:
        try:
            return verify_signature(request)
        except SchemeUnimplemented as exc:
            raise GRPCError(Status.UNIMPLEMENTED, exc.message) from None


class NameService(_Service):
    """Not served: every RPC answers UNIMPLEMENTED."""

    NAME = "NameService"


def all_services(node: DevnetNode, *, subscriptions: bool = True) -> list[_Service]:
    """Every service; `subscriptions=False` answers SubscribeCheckpoints with UNIMPLEMENTED."""
    renderer = ObjectRenderer()
    return [
        cls(node, renderer)
        if cls is not SubscriptionService
        else SubscriptionService(node, renderer, enabled=subscriptions)
        for cls in (
            LedgerService,
            StateService,
            MovePackageService,
            TransactionExecutionService,
            SubscriptionService,
            SignatureVerificationService,
            NameService,
        )
    ]


__all__ = ["all_services", "json_value"]
