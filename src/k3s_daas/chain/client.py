"""The Sui gRPC v2 API the product uses: object, epoch, balance, transaction and checkpoint reads,
and transaction execution with decoded effects, over pysui's raw stubs.

Why our own thin client: pysui's high-level client forces TLS and makes extra round trips; the
product needs plaintext on loopback (the devnet), TLS for real networks, and failover between
several full nodes (`chain.transport`). See docs/chain.md for the exact retry and failover rules.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.convert import object_data, tx_result
from k3s_daas.chain.deployment import Deployment
from k3s_daas.chain.endpoint import Endpoint
from k3s_daas.chain.errors import (
    ChainError,
    ChainUnavailable,
    ObjectNotFound,
    TransactionOutcomeUnknown,
    TransactionRejected,
)
from k3s_daas.chain.keys import transaction_digest
from k3s_daas.chain.records import EpochInfo, ObjectData, TxResult
from k3s_daas.chain.transport import (
    TRANSPORT_ERRORS,
    Transport,
    answer_error,
    describe,
    mask,
    rejection_kind,
)
from k3s_daas.chain.verification import Verdict, verify_remotely
from k3s_daas.log import get_logger
from k3s_daas.retry import Backoff, Retry
from k3s_daas.seal.sui import SUI_COIN_TAG, normalize_address, parse_struct_tag

log = get_logger(__name__)

#: What every object read asks for (Sui sends only object_id/version/digest by default).
OBJECT_MASK = ("object_id", "version", "digest", "object_type", "owner", "json", "balance")
EPOCH_MASK = ("epoch", "reference_gas_price", "start")
#: Output objects come back only under `objects.objects` (the mask `objects` selects none), so
#: the views of what a transaction created need no GetObject. No `checkpoint`: a node sets it
#: only when asked to wait for it, and nothing here needs it.
EXECUTE_MASK = ("digest", "effects", "events", *(f"objects.objects.{f}" for f in OBJECT_MASK))
TX_MASK = ("digest", "effects", "events", "checkpoint")
#: Explicit, for GetCheckpoint and SubscribeCheckpoints alike: a node's stream sends only `cursor`
#: without a mask, and events are decoded from `contents` (BCS), so no `json` is asked for.
EVENT_MASK = ("package_id", "module", "sender", "event_type", "contents")
CHECKPOINT_MASK = (
    "sequence_number",
    "transactions.digest",
    *(f"transactions.events.events.{name}" for name in EVENT_MASK),
)
#: Sui's largest page; a node may end a page earlier (512 KiB), the client follows the token.
PAGE_SIZE = 1000
#: Looking up a transaction whose answer was lost, until `write_timeout` (jittered).
RESOLVE_BACKOFF = Backoff(first=0.1, cap=1.0)
MAX_PAGES = 10_000
#: gRPC statuses with which a node refuses a transaction before executing it.
REJECTED = frozenset(
    {
        Status.INVALID_ARGUMENT,
        Status.FAILED_PRECONDITION,
        Status.NOT_FOUND,
        Status.PERMISSION_DENIED,
        Status.UNAUTHENTICATED,
    }
)


# -- the client -----------------------------------------------------------------------------------
class ChainClient:
    """One client per event loop; share it (channels are pooled per endpoint and reused).

    `package_id` is the package whose abort codes are named after our Move constants (see
    `convert.failure_error`); a caller executing for another package passes its own to `execute`.
    """

    def __init__(
        self,
        endpoints: str | Endpoint | Sequence[str | Endpoint],
        *,
        timeout: float = 5.0,
        retries: int = 2,
        tls_ca: Path | None = None,
        package_id: str | None = None,
        write_timeout: float | None = None,
    ) -> None:
        self.transport = Transport(endpoints, retries=retries, tls_ca=tls_ca)
        self.timeout = timeout
        self.write_timeout = write_timeout if write_timeout is not None else max(timeout, 15.0)
        self.package_id = _object_id(package_id) if package_id else None
        self._epoch_cache: tuple[float, EpochInfo] | None = None
        self._shared_versions: dict[str, int] = {}

    @classmethod
    def from_deployment(cls, dep: Deployment, **kw: Any) -> ChainClient:
        kw.setdefault("package_id", dep.package_id)
        return cls(dep.grpc_endpoints, **kw)

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.transport.endpoints

    @property
    def preferred_endpoint(self) -> int:
        """Index of the endpoint tried first (the last one that answered)."""
        return self.transport.preferred

    async def close(self) -> None:
        self.transport.close()

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- reads -------------------------------------------------------------------------------
    async def get_object(self, object_id: str) -> ObjectData | None:
        """The live object, or None if it does not exist (deleted objects included)."""
        oid = _object_id(object_id)
        request = v2.GetObjectRequest(object_id=oid, read_mask=mask(OBJECT_MASK))

        async def call(ch: Channel) -> v2.GetObjectResponse:
            return await v2.LedgerServiceStub(ch).get_object(request, timeout=self.timeout)

        try:
            response = await self.transport.read(call, f"GetObject {oid}")
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND:
                return None
            raise answer_error(exc, "GetObject") from None
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
            response = await self.transport.read(call, f"BatchGetObjects x{len(ids)}")
        except GRPCError as exc:
            raise answer_error(exc, "BatchGetObjects") from None
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
        """Every object `owner` owns (all pages), optionally of one struct type: a full
        StructTag (`0x2::coin::Coin<0x2::sui::SUI>`; without type parameters it matches every
        instantiation). Coins of one type come largest first."""
        address = _address(owner)
        if object_type is not None:
            object_type = _struct_tag(object_type)
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
                page = await self.transport.read(call, f"ListOwnedObjects {address}")
            except GRPCError as exc:
                raise answer_error(exc, "ListOwnedObjects") from None
            out += [object_data(o) for o in page.objects]
            token = page.next_page_token
            if not token:
                return out
        raise ChainError("ListOwnedObjects: too many pages", reason="bad_answer")

    async def get_balance(self, owner: str) -> int:
        """Total SUI (MIST) owned by `owner`."""
        request = v2.GetBalanceRequest(owner=_address(owner), coin_type=SUI_COIN_TAG)

        async def call(ch: Channel) -> v2.GetBalanceResponse:
            return await v2.StateServiceStub(ch).get_balance(request, timeout=self.timeout)

        try:
            response = await self.transport.read(call, "GetBalance")
        except GRPCError as exc:
            raise answer_error(exc, "GetBalance") from None
        balance = response.balance
        return int(balance.balance or 0) if balance is not None else 0

    async def get_epoch(self) -> EpochInfo:
        request = v2.GetEpochRequest(read_mask=mask(EPOCH_MASK))

        async def call(ch: Channel) -> v2.GetEpochResponse:
            return await v2.LedgerServiceStub(ch).get_epoch(request, timeout=self.timeout)

        try:
            response = await self.transport.read(call, "GetEpoch")
        except GRPCError as exc:
            raise answer_error(exc, "GetEpoch") from None
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
                raise ObjectNotFound(f"object {oid} not found")
            if not obj.shared or obj.initial_shared_version is None:
                raise ChainError(f"object {oid} is not shared", reason="not_shared")
            self._shared_versions[oid] = obj.initial_shared_version
        return self._shared_versions[oid]

    def remember_shared(self, object_id: str, initial_shared_version: int) -> None:
        self._shared_versions[_object_id(object_id)] = initial_shared_version

    async def get_transaction(
        self, digest: str, *, package_id: str | None = None
    ) -> TxResult | None:
        """An executed transaction by digest (None if unknown); failed ones raise their error
        (aborts named for `package_id`, else the client's package)."""
        request = v2.GetTransactionRequest(digest=digest, read_mask=mask(TX_MASK))

        async def call(ch: Channel) -> v2.GetTransactionResponse:
            return await v2.LedgerServiceStub(ch).get_transaction(request, timeout=self.timeout)

        try:
            response = await self.transport.read(call, "GetTransaction")
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND:
                return None
            raise answer_error(exc, "GetTransaction") from None
        if response.transaction is None:
            return None
        return tx_result(response.transaction, package_id or self.package_id)

    async def get_checkpoint(self, sequence_number: int | None = None) -> v2.Checkpoint | None:
        """A checkpoint with its transactions' events (None = not found); no number = latest."""
        request = v2.GetCheckpointRequest(
            sequence_number=sequence_number, read_mask=mask(CHECKPOINT_MASK)
        )

        async def call(ch: Channel) -> v2.GetCheckpointResponse:
            return await v2.LedgerServiceStub(ch).get_checkpoint(request, timeout=self.timeout)

        try:
            response = await self.transport.read(call, f"GetCheckpoint {sequence_number}")
        except GRPCError as exc:
            if exc.status == Status.NOT_FOUND:
                return None
            raise answer_error(exc, "GetCheckpoint") from None
        return response.checkpoint

    async def latest_checkpoint(self) -> int:
        info = await self.service_info()
        return int(info.checkpoint_height or 0)

    async def checkpoint_bounds(self) -> tuple[int, int]:
        """(lowest available, latest) checkpoint of the node that answers (one GetServiceInfo)."""
        info = await self.service_info()
        return int(info.lowest_available_checkpoint or 0), int(info.checkpoint_height or 0)

    async def service_info(self) -> v2.GetServiceInfoResponse:
        async def call(ch: Channel) -> v2.GetServiceInfoResponse:
            return await v2.LedgerServiceStub(ch).get_service_info(
                v2.GetServiceInfoRequest(), timeout=self.timeout
            )

        try:
            return await self.transport.read(call, "GetServiceInfo")
        except GRPCError as exc:
            raise answer_error(exc, "GetServiceInfo") from None

    async def verify_signature(self, message: bytes, signature: bytes, address: str) -> Verdict:
        """The node's verdict on a personal-message signature by `address` (VerifySignature):
        how MultiSig, zkLogin and passkey signatures are checked (`chain.verification`)."""
        return await verify_remotely(self.transport, self.timeout, message, signature, address)

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

            page = await self.transport.read(call, "ListDynamicFields")
            out += list(page.dynamic_fields)
            token = page.next_page_token
            if not token:
                return out
        raise ChainError("ListDynamicFields: too many pages", reason="bad_answer")

    async def stream_checkpoints(self, endpoint: int) -> AsyncIterator[v2.Checkpoint]:
        """SubscribeCheckpoints on endpoint `endpoint` (no failover: `chain.events.subscribe`
        reconnects and backfills); each checkpoint with its transactions' events."""
        stub = v2.SubscriptionServiceStub(self.transport.channel(endpoint))
        request = v2.SubscribeCheckpointsRequest(read_mask=mask(CHECKPOINT_MASK))
        async for response in stub.subscribe_checkpoints(request):
            if response.checkpoint is not None:
                if response.checkpoint.sequence_number is None:
                    response.checkpoint.sequence_number = response.cursor
                yield response.checkpoint

    # -- writes ------------------------------------------------------------------------------
    async def execute(
        self, tx_bytes: bytes, signatures: Sequence[bytes], *, package_id: str | None = None
    ) -> TxResult:
        """Execute signed BCS; never re-sent blindly (docs/chain.md "writes").

        - the connection to an endpoint could not be opened (refused, DNS, TLS verify): the
          bytes never left, so the next endpoint is tried;
        - the node rejected it (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND, ...):
          `TransactionRejected`, nothing happened; its `kind` says whether an input was stale
          (rebuild) or locked by another transaction (a rebuild cannot help);
        - anything else after sending (timeout, reset, UNAVAILABLE, ABORTED,
          DEADLINE_EXCEEDED): the outcome is unknown, so the client asks every endpoint for the
          digest (idempotent) until `write_timeout`; found -> its result, else
          `TransactionOutcomeUnknown`.
        Failed effects raise `MoveAbortError` / `TransactionFailed` (gas was charged), named for
        `package_id` (default: the client's package).
        """
        digest = transaction_digest(tx_bytes)
        package = package_id or self.package_id
        request = v2.ExecuteTransactionRequest(
            transaction=v2.Transaction(bcs=v2.Bcs(name="TransactionData", value=tx_bytes)),
            signatures=[
                v2.UserSignature(bcs=v2.Bcs(name="UserSignatureBytes", value=s)) for s in signatures
            ],
            read_mask=mask(EXECUTE_MASK),
        )

        async def call(ch: Channel) -> v2.ExecuteTransactionResponse:
            return await v2.TransactionExecutionServiceStub(ch).execute_transaction(
                request, timeout=self.write_timeout
            )

        try:
            response = await self.transport.send(call, f"transaction {digest}")
        except GRPCError as exc:
            if exc.status in REJECTED:
                raise _rejected(digest, exc) from None
            sent_error: BaseException = exc
        except TRANSPORT_ERRORS as exc:
            sent_error = exc
        else:
            if response.transaction is None:
                raise ChainError(f"transaction {digest}: empty answer", reason="bad_answer")
            return tx_result(response.transaction, package)
        log.warning("transaction outcome unknown; looking it up", digest=digest)
        return await self._resolve(digest, sent_error, package)

    async def _resolve(self, digest: str, cause: BaseException, package: str | None) -> TxResult:
        retry = Retry(RESOLVE_BACKOFF, budget=self.write_timeout)
        while True:
            try:
                found = await self.get_transaction(digest, package_id=package)
            except ChainUnavailable:
                found = None
            if found is not None:
                return found
            if not await retry.wait():
                break
        raise TransactionOutcomeUnknown(
            f"transaction {digest}: sent, but no answer ({describe(cause)}) and no endpoint "
            "knows it yet; look it up before building another",
            digest=digest,
        )


def _rejected(digest: str, exc: GRPCError) -> TransactionRejected:
    message = (exc.message or exc.status.name)[:2000]
    kind = rejection_kind(exc.status, message)
    if kind == "objects_locked":
        return TransactionRejected(
            f"transaction {digest} rejected: an input object is locked by another transaction; "
            f"retry once that one is final (or after the epoch ends): {message}",
            status=exc.status.name,
            kind=kind,
            reason="objects_locked",
        )
    return TransactionRejected(
        f"transaction {digest} rejected: {message}", status=exc.status.name, kind=kind
    )


def _struct_tag(text: str) -> str:
    try:
        return str(parse_struct_tag(text))
    except ValueError as exc:
        raise ChainError(
            f"not a Move struct type: {text[:120]!r} ({exc})", reason="invalid_type"
        ) from None


def _object_id(text: str) -> str:
    try:
        return normalize_address(text)
    except ValueError:
        raise ChainError(f"not an object id: {text[:80]!r}", reason="invalid_object_id") from None


def _address(text: str) -> str:
    try:
        return normalize_address(text)
    except ValueError:
        raise ChainError(f"not a Sui address: {text[:80]!r}", reason="invalid_address") from None


__all__ = ["ChainClient"]
