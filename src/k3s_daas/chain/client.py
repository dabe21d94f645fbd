"""Async Sui gRPC v2 client over pysui's raw stubs: endpoints with failover, pooled channels,
per-call timeouts, bounded retries for reads only, and transaction execution with decoded effects.

Why our own thin client: pysui's high-level client forces TLS and makes extra round trips; the
product needs plaintext on loopback (the devnet), TLS for real networks, and failover between
several full nodes. See docs/chain.md for the exact retry and failover rules.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import ProtocolError, StreamTerminatedError
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.deployment import Deployment
from k3s_daas.chain.errors import (
    ChainError,
    ChainUnavailable,
    MoveAbortError,
    TransactionFailed,
    TransactionOutcomeUnknown,
    TransactionRejected,
)
from k3s_daas.chain.keys import KeyError_, normalize_address, transaction_digest
from k3s_daas.chain.transactions import ObjectRef
from k3s_daas.chain.views import ObjectData, normalize_type
from k3s_daas.log import get_logger

if TYPE_CHECKING:
    from k3s_daas.chain.events import CursorStore

log = get_logger(__name__)

T = TypeVar("T")

SUI_COIN_TYPE = normalize_type("0x2::coin::Coin<0x2::sui::SUI>")
FRAMEWORK_PACKAGES = frozenset(normalize_address(a) for a in ("0x1", "0x2", "0x3"))

#: What every object read asks for (Sui sends only object_id/version/digest by default).
OBJECT_MASK = ("object_id", "version", "digest", "object_type", "owner", "json", "balance")
EPOCH_MASK = ("epoch", "reference_gas_price", "start")
EXECUTE_MASK = ("digest", "effects", "events", "checkpoint", "objects")
TX_MASK = ("digest", "effects", "events", "checkpoint")
CHECKPOINT_MASK = ("sequence_number", "transactions.digest", "transactions.events")
PAGE_SIZE = 500
MAX_PAGES = 10_000

#: gRPC statuses after which a read moves on to the next endpoint.
RETRYABLE = frozenset({Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED})
#: Transport failures (no gRPC status): the connection broke or never came up.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    StreamTerminatedError,
    ProtocolError,
    ConnectionError,
)
#: The request bytes cannot have left the process: the connection was never established.
NOT_SENT: tuple[type[BaseException], ...] = (
    ConnectionRefusedError,
    socket.gaierror,
    ssl.SSLCertVerificationError,
)


def mask(paths: Sequence[str]) -> FieldMask:
    return FieldMask(paths=list(paths))


# -- endpoints ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """One full node: `host:port` (plaintext) or `https://host[:port]` (TLS)."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        raw = text.strip()
        if "://" not in raw:
            raw = "http://" + raw
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError as exc:
            raise ChainError(f"bad endpoint {text!r}: {exc}", reason="bad_endpoint") from exc
        if parts.scheme not in ("http", "https", "grpc", "grpcs") or not parts.hostname:
            raise ChainError(
                f"bad endpoint {text!r}: use host:port or https://host:port",
                reason="bad_endpoint",
            )
        tls = parts.scheme in ("https", "grpcs")
        if port is None:
            if not tls:
                raise ChainError(f"endpoint {text!r} needs a port", reason="bad_endpoint")
            port = 443
        return cls(parts.hostname, port, tls)

    def __str__(self) -> str:
        return f"{'https://' if self.tls else ''}{self.host}:{self.port}"


# -- results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EpochInfo:
    epoch: int
    reference_gas_price: int
    start_ms: int


@dataclass(frozen=True)
class EventData:
    """One Move event with the coordinates that identify it: (checkpoint, tx_digest, index)."""

    checkpoint: int
    tx_digest: str
    index: int
    type: str  # full, normalised: <package>::<module>::<Name>
    module: str
    name: str  # e.g. "StakeSlashed"
    fields: dict[str, Any] = field(repr=False)
    sender: str = ""
    package_id: str = ""

    @property
    def key(self) -> tuple[str, int]:
        """The idempotency key a consumer should record: (tx digest, event index)."""
        return (self.tx_digest, self.index)


@dataclass(frozen=True)
class ObjectChange:
    """One entry of a transaction's changed objects (its state after the transaction)."""

    object_id: str
    type: str | None
    owner: str | None
    shared: bool
    version: int | None
    digest: str | None
    initial_shared_version: int | None = None

    @property
    def ref(self) -> ObjectRef:
        if self.version is None or self.digest is None:
            raise ChainError(f"object {self.object_id} has no output version", reason="bad_effects")
        return ObjectRef(self.object_id, self.version, self.digest)


@dataclass(frozen=True)
class TxResult:
    """A successfully executed transaction (failures raise instead)."""

    digest: str
    checkpoint: int | None
    created: list[ObjectChange]
    mutated: list[ObjectChange]
    deleted: list[str]
    events: list[EventData]
    objects: dict[str, ObjectData] = field(repr=False)
    gas_object: ObjectChange | None = None

    def created_of_type(self, type_: str) -> list[ObjectChange]:
        wanted = normalize_type(type_)
        return [c for c in self.created if c.type is not None and normalize_type(c.type) == wanted]


# -- conversions ----------------------------------------------------------------------------------
def _owner(owner: v2.Owner | None) -> tuple[str | None, bool, int | None]:
    if owner is None or owner.kind is None:
        return None, False, None
    if owner.kind == v2.OwnerOwnerKind.SHARED:
        return None, True, owner.version
    if owner.kind in (v2.OwnerOwnerKind.ADDRESS, v2.OwnerOwnerKind.OBJECT) and owner.address:
        return normalize_address(owner.address), False, None
    return None, False, None


def object_data(obj: v2.Object) -> ObjectData:
    """A v2.Object (read with OBJECT_MASK) as ObjectData."""
    if not obj.object_id or obj.version is None or not obj.object_type:
        raise ChainError("object without id, version or type in the answer", reason="bad_answer")
    owner, shared, initial = _owner(obj.owner)
    fields = obj.json.to_dict() if obj.json is not None else {}
    if not isinstance(fields, dict):
        fields = {"value": fields}
    return ObjectData(
        object_id=normalize_address(obj.object_id),
        version=int(obj.version),
        type=normalize_type(obj.object_type),
        owner=owner,
        shared=shared,
        fields=fields,
        initial_shared_version=initial,
        digest=obj.digest,
        balance=obj.balance,
    )


def event_data(event: v2.Event, checkpoint: int, tx_digest: str, index: int) -> EventData:
    type_ = normalize_type(event.event_type or "")
    parts = type_.split("<", 1)[0].split("::")
    fields = event.json.to_dict() if event.json is not None else {}
    return EventData(
        checkpoint=checkpoint if event.checkpoint is None else int(event.checkpoint),
        tx_digest=event.transaction_digest or tx_digest,
        index=index if event.event_index is None else int(event.event_index),
        type=type_,
        module=event.module or (parts[1] if len(parts) > 1 else ""),
        name=parts[2] if len(parts) > 2 else "",
        fields=fields if isinstance(fields, dict) else {"value": fields},
        sender=normalize_address(event.sender) if event.sender else "",
        package_id=normalize_address(event.package_id) if event.package_id else parts[0],
    )


def transaction_events(tx: v2.ExecutedTransaction, checkpoint: int) -> list[EventData]:
    digest = tx.digest or ""
    events = tx.events.events if tx.events is not None else []
    return [event_data(e, checkpoint, digest, i) for i, e in enumerate(events)]


def _change(change: v2.ChangedObject) -> ObjectChange:
    owner, shared, initial = _owner(change.output_owner)
    return ObjectChange(
        object_id=normalize_address(change.object_id or "0x0"),
        type=normalize_type(change.object_type) if change.object_type else None,
        owner=owner,
        shared=shared,
        version=change.output_version,
        digest=change.output_digest,
        initial_shared_version=initial,
    )


def tx_result(tx: v2.ExecutedTransaction, package_id: str | None) -> TxResult:
    """Effects -> TxResult, or the failure decoded into MoveAbortError / TransactionFailed."""
    effects = tx.effects
    digest = tx.digest or (effects.transaction_digest if effects else None) or ""
    if effects is None or effects.status is None:
        raise ChainError(f"transaction {digest}: no effects in the answer", reason="bad_answer")
    if not effects.status.success:
        raise failure_error(digest, effects.status.error, package_id)
    created, mutated, deleted = [], [], []
    ops = v2.ChangedObjectIdOperation
    out_states = v2.ChangedObjectOutputObjectState
    for change in effects.changed_objects:
        item = _change(change)
        if change.id_operation == ops.CREATED:
            created.append(item)
        elif change.id_operation == ops.DELETED or change.output_state in (
            out_states.DOES_NOT_EXIST,
            None,
        ):
            deleted.append(item.object_id)
        else:
            mutated.append(item)
    checkpoint = tx.checkpoint
    objects = {}
    if tx.objects is not None:
        for obj in tx.objects.objects:
            if obj.object_id and obj.object_type and obj.version is not None:
                data = object_data(obj)
                objects[data.object_id] = data
    gas = _change(effects.gas_object) if effects.gas_object is not None else None
    return TxResult(
        digest=digest,
        checkpoint=checkpoint,
        created=created,
        mutated=mutated,
        deleted=deleted,
        events=transaction_events(tx, checkpoint if checkpoint is not None else -1),
        objects=objects,
        gas_object=gas,
    )


def failure_error(
    digest: str, error: v2.ExecutionError | None, package_id: str | None
) -> TransactionFailed:
    """Failed effects as a Python exception that names the Move error when it is ours."""
    if error is not None and error.abort is not None and error.abort.abort_code is not None:
        location = error.abort.location or v2.MoveLocation()
        package = normalize_address(location.package) if location.package else ""
        ours = (
            package == normalize_address(package_id)
            if package_id
            else bool(package) and package not in FRAMEWORK_PACKAGES
        )
        return MoveAbortError(
            digest=digest,
            package=package,
            module=location.module or "",
            function=location.function_name or "",
            code=int(error.abort.abort_code),
            ours=ours,
        )
    description = (error.description if error else None) or "execution failed"
    kind = error.kind.name if error is not None and error.kind is not None else ""
    return TransactionFailed(
        f"transaction {digest} failed: {description}", digest=digest, kind=kind
    )


# -- the client -----------------------------------------------------------------------------------
class ChainClient:
    """One client per event loop; share it (channels are pooled per endpoint and reused)."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout: float = 5.0,
        retries: int = 2,
        tls_ca: Path | None = None,
        package_id: str | None = None,
        write_timeout: float | None = None,
    ) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ChainError("at least one chain endpoint is required", reason="bad_endpoint")
        self.endpoints = [Endpoint.parse(e) for e in endpoints]
        self.timeout = timeout
        self.write_timeout = write_timeout if write_timeout is not None else max(timeout, 15.0)
        self.retries = max(0, retries)
        self.tls_ca = tls_ca
        self.package_id = normalize_address(package_id) if package_id else None
        self._channels: dict[int, Channel] = {}
        self._preferred = 0
        self._ssl: ssl.SSLContext | None = None
        self._epoch_cache: tuple[float, EpochInfo] | None = None
        self._shared_versions: dict[str, int] = {}

    @classmethod
    def from_deployment(cls, dep: Deployment, **kw: Any) -> ChainClient:
        kw.setdefault("package_id", dep.package_id)
        return cls(dep.grpc_endpoints, **kw)

    async def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport ---------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(
                cafile=str(self.tls_ca) if self.tls_ca is not None else None
            )
            ctx.set_alpn_protocols(["h2"])
            self._ssl = ctx
        return self._ssl

    def channel(self, index: int) -> Channel:
        """The pooled channel of endpoint `index` (grpclib reconnects it when it drops)."""
        channel = self._channels.get(index)
        if channel is None:
            endpoint = self.endpoints[index]
            channel = Channel(
                endpoint.host, endpoint.port, ssl=self._ssl_context() if endpoint.tls else None
            )
            self._channels[index] = channel
        return channel

    def _order(self) -> list[int]:
        n = len(self.endpoints)
        return [(self._preferred + i) % n for i in range(n)]

    def _demote(self, index: int) -> None:
        if self._preferred == index:
            self._preferred = (index + 1) % len(self.endpoints)

    async def read(self, call: Callable[[Channel], Awaitable[T]], what: str) -> T:
        """Run an idempotent call with failover: every endpoint once, plus `retries` more
        attempts (with a short backoff), moving on after UNAVAILABLE/DEADLINE_EXCEEDED or a
        transport error. Other gRPC errors are answers, not outages: they propagate at once."""
        attempts = len(self.endpoints) + self.retries
        last: BaseException | None = None
        order = self._order()
        for attempt in range(attempts):
            index = order[attempt % len(order)]
            if attempt >= len(order):
                await asyncio.sleep(min(1.0, 0.05 * 2 ** (attempt - len(order))))
            try:
                result = await call(self.channel(index))
            except GRPCError as exc:
                if exc.status not in RETRYABLE:
                    raise
                last = exc
            except TRANSPORT_ERRORS as exc:
                last = exc
            else:
                self._preferred = index
                return result
            log.debug("chain read failed", what=what, endpoint=str(self.endpoints[index]))
            self._demote(index)
        raise ChainUnavailable(
            f"{what}: no chain endpoint answered ({_describe(last)}; "
            f"tried {', '.join(str(e) for e in self.endpoints)})"
        )

    # -- reads -------------------------------------------------------------------------------
    async def get_object(self, object_id: str) -> ObjectData | None:
        """The live object, or None if it does not exist (deleted objects included)."""
        oid = _object_id(object_id)
        request = v2.GetObjectRequest(object_id=oid, read_mask=mask(OBJECT_MASK))

        async def call(ch: Channel) -> v2.GetObjectResponse:
            return await v2.LedgerServiceStub(ch).get_object(request, timeout=self.timeout)

        try:
            response = await self.read(call, f"GetObject {oid}")
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND:
                return None
            raise _answer_error(exc, "GetObject") from None
        return object_data(response.object) if response.object is not None else None

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectData | None]:
        """Many objects in one BatchGetObjects round trip, in the order asked (None = absent)."""
        ids = [_object_id(i) for i in object_ids]
        if not ids:
            return []
        request = v2.BatchGetObjectsRequest(
            requests=[v2.GetObjectRequest(object_id=i) for i in ids], read_mask=mask(OBJECT_MASK)
        )

        async def call(ch: Channel) -> v2.BatchGetObjectsResponse:
            return await v2.LedgerServiceStub(ch).batch_get_objects(request, timeout=self.timeout)

        try:
            response = await self.read(call, f"BatchGetObjects x{len(ids)}")
        except GRPCError as exc:
            raise _answer_error(exc, "BatchGetObjects") from None
        if len(response.objects) != len(ids):
            raise ChainError("BatchGetObjects answered a different count", reason="bad_answer")
        out: list[ObjectData | None] = []
        for result in response.objects:
            if result.object is not None:
                out.append(object_data(result.object))
            elif result.error is not None and result.error.code == Status.NOT_FOUND.value:
                out.append(None)
            else:
                message = result.error.message if result.error else "no object"
                raise ChainError(f"BatchGetObjects: {message}", reason="bad_answer")
        return out

    async def list_owned_objects(
        self, owner: str, object_type: str | None = None
    ) -> list[ObjectData]:
        """Every object `owner` owns (all pages), optionally of one type (or type prefix)."""
        address = _address(owner)
        out: list[ObjectData] = []
        token: bytes | None = None
        for _ in range(MAX_PAGES):
            request = v2.ListOwnedObjectsRequest(
                owner=address,
                page_size=PAGE_SIZE,
                page_token=token,
                read_mask=mask(OBJECT_MASK),
                object_type=object_type,
            )

            async def call(
                ch: Channel, request: v2.ListOwnedObjectsRequest = request
            ) -> v2.ListOwnedObjectsResponse:
                return await v2.StateServiceStub(ch).list_owned_objects(
                    request, timeout=self.timeout
                )

            try:
                page = await self.read(call, f"ListOwnedObjects {address}")
            except GRPCError as exc:
                raise _answer_error(exc, "ListOwnedObjects") from None
            out += [object_data(o) for o in page.objects]
            token = page.next_page_token
            if not token:
                return out
        raise ChainError("ListOwnedObjects: too many pages", reason="bad_answer")

    async def get_balance(self, owner: str) -> int:
        """Total SUI (MIST) owned by `owner`."""
        request = v2.GetBalanceRequest(owner=_address(owner), coin_type="0x2::sui::SUI")

        async def call(ch: Channel) -> v2.GetBalanceResponse:
            return await v2.StateServiceStub(ch).get_balance(request, timeout=self.timeout)

        try:
            response = await self.read(call, "GetBalance")
        except GRPCError as exc:
            raise _answer_error(exc, "GetBalance") from None
        balance = response.balance
        return int(balance.balance or 0) if balance is not None else 0

    async def get_epoch(self) -> EpochInfo:
        request = v2.GetEpochRequest(read_mask=mask(EPOCH_MASK))

        async def call(ch: Channel) -> v2.GetEpochResponse:
            return await v2.LedgerServiceStub(ch).get_epoch(request, timeout=self.timeout)

        try:
            response = await self.read(call, "GetEpoch")
        except GRPCError as exc:
            raise _answer_error(exc, "GetEpoch") from None
        epoch = response.epoch
        if epoch is None or epoch.epoch is None:
            raise ChainError("GetEpoch answered no epoch", reason="bad_answer")
        start_ms = int(epoch.start.timestamp() * 1000) if epoch.start is not None else 0
        info = EpochInfo(int(epoch.epoch), int(epoch.reference_gas_price or 0), start_ms)
        self._epoch_cache = (time.monotonic(), info)
        return info

    async def current_epoch(self) -> int:
        return (await self.get_epoch()).epoch

    async def reference_gas_price(self, max_age: float = 5.0) -> int:
        """The epoch's reference gas price, cached for `max_age` seconds (it changes per epoch)."""
        cached = self._epoch_cache
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1].reference_gas_price
        return (await self.get_epoch()).reference_gas_price

    async def initial_shared_version(self, object_id: str) -> int:
        """A shared object's initial version (never changes, so it is cached)."""
        oid = _object_id(object_id)
        if oid not in self._shared_versions:
            obj = await self.get_object(oid)
            if obj is None:
                from k3s_daas.chain.errors import ObjectNotFound

                raise ObjectNotFound(f"object {oid} not found")
            if not obj.shared or obj.initial_shared_version is None:
                raise ChainError(f"object {oid} is not shared", reason="not_shared")
            self._shared_versions[oid] = obj.initial_shared_version
        return self._shared_versions[oid]

    def remember_shared(self, object_id: str, initial_shared_version: int) -> None:
        self._shared_versions[_object_id(object_id)] = initial_shared_version

    async def get_transaction(self, digest: str) -> TxResult | None:
        """An executed transaction by digest (None if unknown); failed ones raise their error."""
        request = v2.GetTransactionRequest(digest=digest, read_mask=mask(TX_MASK))

        async def call(ch: Channel) -> v2.GetTransactionResponse:
            return await v2.LedgerServiceStub(ch).get_transaction(request, timeout=self.timeout)

        try:
            response = await self.read(call, "GetTransaction")
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND:
                return None
            raise _answer_error(exc, "GetTransaction") from None
        if response.transaction is None:
            return None
        return tx_result(response.transaction, self.package_id)

    async def get_checkpoint(self, sequence_number: int | None = None) -> v2.Checkpoint | None:
        """A checkpoint with its transactions' events (None = not found); no number = latest."""
        request = v2.GetCheckpointRequest(
            sequence_number=sequence_number, read_mask=mask(CHECKPOINT_MASK)
        )

        async def call(ch: Channel) -> v2.GetCheckpointResponse:
            return await v2.LedgerServiceStub(ch).get_checkpoint(request, timeout=self.timeout)

        try:
            response = await self.read(call, f"GetCheckpoint {sequence_number}")
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND:
                return None
            raise _answer_error(exc, "GetCheckpoint") from None
        return response.checkpoint

    async def latest_checkpoint(self) -> int:
        info = await self.service_info()
        return int(info.checkpoint_height or 0)

    async def service_info(self) -> v2.GetServiceInfoResponse:
        async def call(ch: Channel) -> v2.GetServiceInfoResponse:
            return await v2.LedgerServiceStub(ch).get_service_info(
                v2.GetServiceInfoRequest(), timeout=self.timeout
            )

        try:
            return await self.read(call, "GetServiceInfo")
        except GRPCError as exc:
            raise _answer_error(exc, "GetServiceInfo") from None

    async def list_dynamic_fields(self, parent: str) -> list[v2.DynamicField]:
        """Every dynamic field of `parent` (all pages). Raises GRPCError(UNIMPLEMENTED) as is,
        so callers can fall back on servers that do not serve it."""
        out: list[v2.DynamicField] = []
        token: bytes | None = None
        for _ in range(MAX_PAGES):
            request = v2.ListDynamicFieldsRequest(
                parent=_object_id(parent),
                page_size=PAGE_SIZE,
                page_token=token,
                read_mask=mask(("field_id", "name", "value", "value_type", "child_id")),
            )

            async def call(
                ch: Channel, request: v2.ListDynamicFieldsRequest = request
            ) -> v2.ListDynamicFieldsResponse:
                return await v2.StateServiceStub(ch).list_dynamic_fields(
                    request, timeout=self.timeout
                )

            page = await self.read(call, "ListDynamicFields")
            out += list(page.dynamic_fields)
            token = page.next_page_token
            if not token:
                return out
        raise ChainError("ListDynamicFields: too many pages", reason="bad_answer")

    # -- writes ------------------------------------------------------------------------------
    async def execute(self, tx_bytes: bytes, signatures: Sequence[bytes]) -> TxResult:
        """Execute signed BCS; never re-sent blindly (docs/chain.md "writes").

        - the connection to an endpoint could not be opened (refused, DNS, TLS verify): the
          bytes never left, so the next endpoint is tried;
        - the node rejected it (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND):
          `TransactionRejected`, nothing happened;
        - anything else after sending (timeout, reset, UNAVAILABLE): the outcome is unknown, so
          the client asks every endpoint for the digest (idempotent) until `write_timeout`;
          found -> its result, else `TransactionOutcomeUnknown`.
        Failed effects raise `MoveAbortError` / `TransactionFailed` (gas was charged).
        """
        digest = transaction_digest(tx_bytes)
        request = v2.ExecuteTransactionRequest(
            transaction=v2.Transaction(bcs=v2.Bcs(name="TransactionData", value=tx_bytes)),
            signatures=[
                v2.UserSignature(bcs=v2.Bcs(name="UserSignatureBytes", value=s)) for s in signatures
            ],
            read_mask=mask(EXECUTE_MASK),
        )
        sent_error: BaseException | None = None
        not_sent: BaseException | None = None
        for index in self._order():
            try:
                response = await v2.TransactionExecutionServiceStub(
                    self.channel(index)
                ).execute_transaction(request, timeout=self.write_timeout)
            except NOT_SENT as exc:
                not_sent = exc
                self._demote(index)
                continue
            except GRPCError as exc:
                if exc.status in (
                    Status.INVALID_ARGUMENT,
                    Status.FAILED_PRECONDITION,
                    Status.NOT_FOUND,
                    Status.PERMISSION_DENIED,
                    Status.UNAUTHENTICATED,
                ):
                    raise TransactionRejected(
                        f"transaction {digest} rejected: {exc.message or exc.status.name}",
                        status=exc.status.name,
                    ) from None
                sent_error = exc
            except TRANSPORT_ERRORS as exc:
                sent_error = exc
            else:
                self._preferred = index
                if response.transaction is None:
                    raise ChainError(f"transaction {digest}: empty answer", reason="bad_answer")
                return tx_result(response.transaction, self.package_id)
            break
        if sent_error is None:
            raise ChainUnavailable(
                f"transaction {digest} not sent: no endpoint reachable ({_describe(not_sent)})"
            )
        log.warning("transaction outcome unknown; looking it up", digest=digest)
        return await self._resolve(digest, sent_error)

    async def _resolve(self, digest: str, cause: BaseException) -> TxResult:
        deadline = time.monotonic() + self.write_timeout
        delay = 0.1
        while time.monotonic() < deadline:
            try:
                found = await self.get_transaction(digest)
            except ChainUnavailable:
                found = None
            if found is not None:
                return found
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)
        raise TransactionOutcomeUnknown(
            f"transaction {digest}: sent, but no answer ({_describe(cause)}) and no endpoint "
            "knows it yet; look it up before building another",
            digest=digest,
        )

    # -- events ------------------------------------------------------------------------------
    def events(
        self,
        *,
        cursor: CursorStore,
        package_id: str | None = None,
        start: int | None = None,
    ) -> AsyncIterator[EventData]:
        """Events from checkpoints, resumed from `cursor` without loss or duplication of whole
        checkpoints; see `chain.events.subscribe` and docs/chain.md for the exact guarantee."""
        from k3s_daas.chain.events import subscribe

        return subscribe(self, cursor=cursor, package_id=package_id, start=start)


# -- helpers --------------------------------------------------------------------------------------
def _object_id(text: str) -> str:
    try:
        return normalize_address(text)
    except KeyError_ as exc:
        raise ChainError(f"not an object id: {text[:80]!r}", reason="invalid_object_id") from exc


def _address(text: str) -> str:
    try:
        return normalize_address(text)
    except KeyError_ as exc:
        raise ChainError(f"not a Sui address: {text[:80]!r}", reason="invalid_address") from exc


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no attempt"
    if isinstance(exc, GRPCError):
        return f"{exc.status.name}: {exc.message or ''}".strip(": ")
    return f"{exc.__class__.__name__}: {exc}".strip(": ")


def _answer_error(exc: GRPCError, what: str) -> ChainError:
    """A non-retryable gRPC error from a read: the node answered, and the answer is an error."""
    reason = {
        Status.INVALID_ARGUMENT: "bad_request",
        Status.NOT_FOUND: "not_found",
        Status.UNIMPLEMENTED: "unimplemented",
    }.get(exc.status, "chain_error")
    return ChainError(f"{what}: {exc.status.name}: {exc.message or ''}".rstrip(": "), reason=reason)


def jitter(seconds: float) -> float:
    """Full jitter for reconnect backoff (many clients must not reconnect in lockstep)."""
    return random.uniform(0, seconds)


__all__ = [
    "ChainClient",
    "Endpoint",
    "EpochInfo",
    "EventData",
    "ObjectChange",
    "TxResult",
]
