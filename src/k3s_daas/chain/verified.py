"""A chain reader that believes no endpoint: every answer proven from the deployment's anchor.

`VerifiedChain` implements the read protocols of `chain.reader` (`ChainReader` for the
validator, `CheckpointSource` for the watcher) over a `ChainClient`'s endpoints:

- **checkpoints** are followed from genesis, gap-free and in order (`CheckpointVerifier.follow`:
  quorum signature, previous-digest link, committee hand-over); each comes with every listed
  transaction's effects and events, proven against the contents (`verified_checkpoint`). The
  watcher receives checkpoints rebuilt from those proven bytes only.
- **objects** are read as BCS; the object's digest must be the one the last verified write of
  that id recorded (an index of every write since genesis). So an object is *current as of the
  verified height*: no verified checkpoint after its write changed it. A version newer than the
  height makes the reader follow the chain to the endpoint's tip first; an older one (a node
  serving a pre-slash StakeRecord), a changed one, or one no checkpoint wrote (a forged token)
  is `UnverifiedChainData`.
- **stake hints**: the proven `SealTokenCreated` events say which StakeRecord each token
  names (`stake_of`, `chain.reader.StakeHints`), so the validator asks for a never-seen token
  and its StakeRecord in one BatchGetObjects; the token's own proven field still decides.
- **endpoints**: each is checked once before use (chain id, the anchor epoch's committee) and
  abandoned when it differs; data that fails verification moves the read to the next endpoint,
  and with none left the read fails with `UnverifiedChainData` (`unverified_chain_data`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import lru_cache, partial
from typing import Final, TypeVar

from grpclib import GRPCError
from grpclib.const import Cardinality, Status
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.certified import (
    BcsError,
    Committee,
    CommitteeMember,
    MoveObject,
    Object,
    OwnerKind,
    StructType,
    digest_from_base58,
    digest_to_base58,
    object_digest,
    summary_digest,
)
from k3s_daas.chain.certified.bcs import address_bytes, address_hex
from k3s_daas.chain.client import ChainClient
from k3s_daas.chain.convert import checkpoint_events
from k3s_daas.chain.deployment import Deployment, DeploymentError
from k3s_daas.chain.endpoint import Endpoint
from k3s_daas.chain.errors import ChainError, ChainUnavailable, FailedCheck, UnverifiedChainData
from k3s_daas.chain.object_layouts import object_fields
from k3s_daas.chain.object_wire import ObjectsRequest, ServedObjects, WireError
from k3s_daas.chain.records import EpochInfo, ObjectData
from k3s_daas.chain.transport import RETRYABLE, TRANSPORT_ERRORS, answer_error, describe, mask
from k3s_daas.chain.verified_checkpoint import (
    FULL_CHECKPOINT_MASK,
    ProvenCheckpoint,
    ServedCheckpoint,
    prove_transactions,
)
from k3s_daas.chain.verifier import CheckpointVerifier, VerifiedCheckpoint, with_contents
from k3s_daas.chain.write_index import WriteIndex
from k3s_daas.log import get_logger
from k3s_daas.seal.sui import normalize_address, normalize_type

log = get_logger(__name__)
T = TypeVar("T")

OBJECT_BCS_MASK: Final = ("object_id", "version", "digest", "bcs")
BATCH_GET_OBJECTS: Final = "/sui.rpc.v2.LedgerService/BatchGetObjects"
#: Rebuilt checkpoints kept for a watcher that reads what the reader already verified (each until
#: it is read: a mint burst's events held ~1.2 KB each in memory).
KEEP_CHECKPOINTS: Final = 512
#: Tokens whose StakeRecord is remembered (`stake_of`; ids as bytes, ~0.2 KB a token with the
#: dict's share; the oldest forgotten first).
MAX_STAKE_HINTS: Final = 100_000


def _fail(check: FailedCheck, message: str) -> UnverifiedChainData:
    return UnverifiedChainData(message, check=check)


def _genesis_digest(chain_id: str) -> bytes | None:
    """Sui's chain id is its genesis checkpoint's digest (base58); None if this one is not."""
    try:
        return digest_from_base58(chain_id)
    except (BcsError, ValueError):
        return None


class VerifiedChain:
    """`ChainReader` + `CheckpointSource` over `client`, proven from `deployment.committee`
    (see the module docstring). One per event loop, like the client."""

    def __init__(self, client: ChainClient, deployment: Deployment) -> None:
        anchor = deployment.committee
        if anchor is None:
            raise DeploymentError(
                "the deployment names no committee to verify the chain from (its `committee`)"
            )
        committee = anchor.committee()
        pinned = _genesis_digest(deployment.chain_id) if committee.epoch == 0 else None
        self.verifier = CheckpointVerifier(committee, pinned_digest=pinned)
        self.client = client
        self.transport = client.transport
        self.chain_id = deployment.chain_id
        self.package_id = normalize_address(deployment.package_id)
        self.anchor_epoch = committee.epoch
        #: The last checkpoint proven with all its transactions (None before the first).
        self.height: int | None = None
        self._summary_epoch = (committee.epoch, 0, False)  # epoch, timestamp, end of epoch
        self._writes = WriteIndex()  # every object's last verified write (compact)
        self._stakes: dict[bytes, bytes] = {}  # token id -> its StakeRecord id, oldest first
        self._recent: OrderedDict[int, v2.Checkpoint] = OrderedDict()
        self._times: OrderedDict[int, int] = OrderedDict()  # seq -> signed timestamp_ms
        self._pending: VerifiedCheckpoint | None = None  # certified, transactions not yet proven
        self._lock = asyncio.Lock()
        self._checked: set[int] = set()
        self.abandoned: set[int] = set()
        #: Why the chain could not be followed to the endpoints' tip (reads refuse meanwhile).
        self.failure: UnverifiedChainData | None = None

    # -- CheckpointSource ----------------------------------------------------------------------
    @property
    def endpoints(self) -> Sequence[Endpoint]:
        return self.transport.endpoints

    @property
    def preferred_endpoint(self) -> int:
        order = self._order(strict=False)
        return order[0] if order else self.transport.preferred

    async def latest_checkpoint(self) -> int:
        """The tip the endpoint claims (an upper bound to read up to; proven when read)."""
        return (await self.checkpoint_bounds())[1]

    async def checkpoint_bounds(self) -> tuple[int, int]:
        info = await self._call("GetServiceInfo", self._service_info)
        return int(info.lowest_available_checkpoint or 0), int(info.checkpoint_height or 0)

    async def get_checkpoint(self, sequence_number: int | None = None) -> v2.Checkpoint | None:
        """A verified checkpoint, rebuilt from proven bytes (None: beyond the endpoint's tip)."""
        if sequence_number is None:
            await self.sync()
            sequence_number = self.height
            if sequence_number is None:
                return None
        if self.height is None or sequence_number > self.height:
            _, tip = await self.checkpoint_bounds()
            if sequence_number > tip:
                return None
            await self.sync(sequence_number)
        return await self._verified_message(sequence_number)

    async def stream_checkpoints(self, endpoint: int) -> AsyncIterator[v2.Checkpoint]:
        """SubscribeCheckpoints on `endpoint`, each frame proven before it is handed out (a
        frame that does not verify is read from the next endpoint instead)."""
        if endpoint in self.abandoned:
            endpoint = self.preferred_endpoint
        await self._check_endpoint(endpoint)
        stub = v2.SubscriptionServiceStub(self.transport.channel(endpoint))
        request = v2.SubscribeCheckpointsRequest(read_mask=mask(FULL_CHECKPOINT_MASK))
        async for response in stub.subscribe_checkpoints(request):
            frame = response.checkpoint
            if frame is None:
                continue
            seq = int(frame.sequence_number if frame.sequence_number is not None else -1)
            if seq < 0:
                seq = int(response.cursor or 0)
            yield await self._from_frame(endpoint, frame, seq)

    def verified_timestamp_ms(self, sequence_number: int) -> int | None:
        """The signed time of a recently verified checkpoint (None: not among them)."""
        return self._times.get(sequence_number)

    # -- ChainReader ---------------------------------------------------------------------------
    async def get_epoch(self) -> EpochInfo:
        """The epoch of the verified tip (the next one once an end-of-epoch checkpoint is in),
        after following the chain to the endpoint's tip."""
        await self.sync()
        epoch, timestamp_ms, closed = self._summary_epoch
        return EpochInfo(epoch + closed, 0, timestamp_ms)

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectData | None]:
        """Each object proven current as of the verified height (None: it does not exist)."""
        ids = [normalize_address(i) for i in object_ids]
        if not ids:
            return []
        if self.height is None or self.failure is not None:
            await self.sync()
        return await self._call(f"BatchGetObjects x{len(ids)}", lambda i: self._objects(i, ids))

    # -- following -----------------------------------------------------------------------------
    async def sync(self, target: int | None = None) -> int | None:
        """Follow the chain to `target` (default: the endpoint's tip); returns the height."""
        async with self._lock:
            return await self._sync_locked(target)

    async def _sync_locked(self, target: int | None) -> int | None:
        try:
            if target is None:
                target = (await self.checkpoint_bounds())[1]
            while self.height is None or self.height < target:
                seq = 0 if self.height is None else self.height + 1
                await self._call(f"GetCheckpoint {seq}", partial(self._advance, seq=seq))
        except UnverifiedChainData as exc:
            self.failure = exc
            raise
        self.failure = None
        return self.height

    async def _advance(self, index: int, *, seq: int) -> None:
        served = await self._fetch(index, seq)
        if self.height is not None and seq <= self.height:
            return  # another endpoint's read got there first
        self._prove_next(served, seq)

    def _prove_next(self, served: ServedCheckpoint, seq: int) -> ProvenCheckpoint:
        """Checkpoint `seq` = height + 1: certified and linked, its transactions proven; then
        its writes enter the index. Synchronous: no other task sees a half-applied one."""
        if served.sequence_number != seq:
            raise _fail(FailedCheck.WRONG_SEQUENCE, f"asked for checkpoint {seq}")
        pending = self._pending
        if pending is not None and pending.sequence_number == seq:
            if summary_digest(served.summary) != pending.digest:
                raise _fail(FailedCheck.BROKEN_LINK, f"checkpoint {seq} is not the one certified")
            bare = VerifiedCheckpoint(pending.summary, pending.digest)
            checkpoint = with_contents(bare, served.contents)
        else:
            checkpoint = self.verifier.follow(served.summary, served.certificate, served.contents)
            self._pending = checkpoint
        proven = prove_transactions(checkpoint, served)
        self._pending = None
        self._writes.record(proven.writes, seq)
        self._note_tokens(proven.message)
        summary = checkpoint.summary
        self._summary_epoch = (
            summary.epoch, summary.timestamp_ms, summary.end_of_epoch_data is not None
        )  # fmt: skip
        self.height = seq
        self._keep(proven, summary.timestamp_ms)
        return proven

    def _note_tokens(self, checkpoint: v2.Checkpoint) -> None:
        """Each token's StakeRecord, from the proven `SealTokenCreated` events (`stake_of`)."""
        for event in checkpoint_events(checkpoint, self.package_id):
            if event.name == "SealTokenCreated":
                token, stake = event.fields["token_id"], event.fields["stake_id"]
                self._stakes[address_bytes(token)] = address_bytes(stake)
                if len(self._stakes) > MAX_STAKE_HINTS:
                    del self._stakes[next(iter(self._stakes))]  # the oldest token

    def stake_of(self, token_id: str) -> str | None:
        """`StakeHints`: the StakeRecord a verified `SealTokenCreated` event named for
        `token_id` (None: none seen). A hint to read both at once; the token decides."""
        try:
            stake = self._stakes.get(address_bytes(token_id))
        except ValueError:
            return None
        return None if stake is None else address_hex(stake)

    def _keep(self, proven: ProvenCheckpoint, timestamp_ms: int) -> None:
        self._recent[proven.sequence_number] = proven.message
        self._times[proven.sequence_number] = timestamp_ms
        while len(self._recent) > KEEP_CHECKPOINTS:
            self._recent.popitem(last=False)
        while len(self._times) > KEEP_CHECKPOINTS:
            self._times.popitem(last=False)

    async def _from_frame(self, endpoint: int, frame: v2.Checkpoint, seq: int) -> v2.Checkpoint:
        async with self._lock:
            if self.height is None or seq > self.height:
                await self._sync_locked(seq - 1)
                try:
                    served = ServedCheckpoint.of(frame, seq)
                    self._prove_next(served, seq)
                except UnverifiedChainData as exc:
                    where = str(self.endpoints[endpoint])
                    log.warning("checkpoint frame does not verify", endpoint=where, check=exc.check)
                    self.transport.demote(endpoint)
                    await self._sync_locked(seq)
        return await self._verified_message(seq)

    async def _verified_message(self, seq: int) -> v2.Checkpoint:
        """Checkpoint `seq` <= height as the watcher reads it (kept, or read and certified
        again: it must agree with the digests verified before)."""
        kept = self._recent.pop(seq, None)  # handed out once: the watcher reads each once
        if kept is not None:
            return kept
        return await self._call(f"GetCheckpoint {seq}", lambda i: self._recertify(i, seq))

    async def _recertify(self, index: int, seq: int) -> v2.Checkpoint:
        served = await self._fetch(index, seq)
        checkpoint = self.verifier.certify(served.summary, served.certificate, served.contents)
        if checkpoint.sequence_number != seq:
            raise _fail(FailedCheck.WRONG_SEQUENCE, f"asked for checkpoint {seq}")
        self._times[seq] = checkpoint.summary.timestamp_ms
        while len(self._times) > KEEP_CHECKPOINTS:
            self._times.popitem(last=False)
        return prove_transactions(checkpoint, served).message

    async def _fetch(self, index: int, seq: int) -> ServedCheckpoint:
        request = v2.GetCheckpointRequest(sequence_number=seq, read_mask=mask(FULL_CHECKPOINT_MASK))
        stub = v2.LedgerServiceStub(self.transport.channel(index))
        try:
            response = await stub.get_checkpoint(request, timeout=self.client.timeout)
        except GRPCError as exc:
            if exc.status != Status.NOT_FOUND:
                raise
            raise _fail(FailedCheck.MISSING_CHECKPOINT, f"checkpoint {seq} is not served") from None
        if response.checkpoint is None:
            raise _fail(FailedCheck.MISSING_CHECKPOINT, f"checkpoint {seq} is not served")
        return ServedCheckpoint.of(response.checkpoint, seq)

    # -- objects ---------------------------------------------------------------------------------
    async def _objects(self, index: int, ids: list[str]) -> list[ObjectData | None]:
        request = ObjectsRequest(ids, OBJECT_BCS_MASK)
        channel = self.transport.channel(index)
        try:  # written and read as bytes: only each object's BCS is used (`chain.object_wire`)
            async with channel.request(
                BATCH_GET_OBJECTS, Cardinality.UNARY_UNARY, ObjectsRequest, ServedObjects,
                timeout=self.client.timeout,
            ) as stream:  # fmt: skip
                await stream.send_message(request, end=True)
                answer = await stream.recv_message()
        except WireError as exc:
            raise _fail(FailedCheck.MALFORMED, f"BatchGetObjects: {exc}") from None
        if answer is None or len(answer.results) != len(ids):
            raise _fail(FailedCheck.MALFORMED, "BatchGetObjects answered a different count")
        served: list[bytes | None] = []
        for result in answer.results:
            if isinstance(result, bytes):
                served.append(result)
            elif result == Status.NOT_FOUND.value:
                served.append(None)
            else:
                raise ChainError("BatchGetObjects: an answer without BCS", reason="bad_answer")
        out: list[ObjectData | None] = []
        for object_id, raw in zip(ids, served, strict=True):
            proven = self._prove_object(object_id, raw)
            if proven is _NEWER:  # written after the height, or a lie: follow the chain first
                await self.sync()
                proven = self._prove_object(object_id, raw)
                if proven is _NEWER:
                    raise _fail(
                        FailedCheck.OBJECT_MISMATCH,
                        f"{object_id}: not the object any verified checkpoint through "
                        f"{self.height} wrote",
                    )
            out.append(proven if isinstance(proven, ObjectData) else None)
        return out

    def _prove_object(self, object_id: str, raw: bytes | None) -> ObjectData | object | None:
        """The object if its digest is the last verified write of its id; None if proven
        absent; `_NEWER` if the index is behind (or the node lies); raises on a lie."""
        known = self._writes.last_write(object_id)
        if raw is None:
            return None if known is None else _NEWER  # indexed: deleted since, or withheld
        try:
            obj = Object.decode(raw)
        except BcsError as exc:
            raise _fail(FailedCheck.MALFORMED, f"object {object_id}: {exc}") from None
        if obj.object_id != object_id:
            raise _fail(FailedCheck.OBJECT_MISMATCH, f"asked for {object_id}, got {obj.object_id}")
        if known is None or obj.version > known.version:
            return _NEWER
        version, digest = known.version, known.digest
        if obj.version < version:
            raise _fail(
                FailedCheck.STALE_OBJECT,
                f"{object_id} version {obj.version} was replaced by {version} "
                f"at checkpoint {known.checkpoint}",
            )
        if object_digest(raw) != digest:
            raise _fail(
                FailedCheck.OBJECT_MISMATCH, f"{object_id} is not the version {version} written"
            )
        return self._object_data(obj, digest)

    def _object_data(self, obj: Object, digest: bytes) -> ObjectData:
        data = obj.data
        owner = obj.owner
        address = owner.address if owner.kind in (OwnerKind.ADDRESS, OwnerKind.OBJECT) else None
        shared = owner.kind == OwnerKind.SHARED
        fields: dict[str, object] | None = None
        type_ = "package"
        if isinstance(data, MoveObject):
            type_ = _type_text(data.type)
            try:
                fields = object_fields(data.type.base, data.contents, self.package_id)
            except BcsError as exc:
                raise _fail(FailedCheck.MALFORMED, f"{obj.object_id} fields: {exc}") from None
        return ObjectData(
            object_id=obj.object_id,
            version=obj.version,
            type=type_,
            owner=address,
            shared=shared,
            fields=dict(fields or {}),
            initial_shared_version=owner.version if shared else None,
            digest=digest_to_base58(digest),
            checkpoint=self.height,
        )

    # -- endpoints -------------------------------------------------------------------------------
    def _order(self, *, strict: bool = True) -> list[int]:
        order = [i for i in self.transport.order() if i not in self.abandoned]
        if not order and strict:
            raise _fail(FailedCheck.WRONG_CHAIN, "every chain endpoint was abandoned")
        return order

    async def _call(self, what: str, call: Callable[[int], Awaitable[T]]) -> T:
        """`call` on each usable endpoint in turn until one answers with data that verifies."""
        unverified: UnverifiedChainData | None = None
        failed: BaseException | None = None
        for index in self._order():
            try:
                await self._check_endpoint(index)
                result = await call(index)
            except UnverifiedChainData as exc:
                log.warning("chain endpoint sent data that does not verify", what=what,
                            endpoint=str(self.endpoints[index]), check=exc.check)  # fmt: skip
                unverified = exc
            except GRPCError as exc:
                if exc.status not in RETRYABLE:
                    raise answer_error(exc, what) from None
                failed = exc
            except TRANSPORT_ERRORS as exc:
                failed = exc
            else:
                self.transport.preferred = index
                return result
            self.transport.demote(index)
        if unverified is not None:
            raise unverified
        raise ChainUnavailable(f"{what}: no chain endpoint answered ({describe(failed)})")

    async def _service_info(self, index: int) -> v2.GetServiceInfoResponse:
        stub = v2.LedgerServiceStub(self.transport.channel(index))
        return await stub.get_service_info(v2.GetServiceInfoRequest(), timeout=self.client.timeout)

    async def _check_endpoint(self, index: int) -> None:
        """Once per endpoint: its chain id and the anchor epoch's committee are the
        deployment's, else it is abandoned for good."""
        if index in self._checked:
            return
        try:
            await self._check(index)
        except UnverifiedChainData as exc:
            self.abandoned.add(index)
            log.error("chain endpoint abandoned", endpoint=str(self.endpoints[index]),
                      check=exc.check, error=exc.message[:200])  # fmt: skip
            raise
        self._checked.add(index)

    async def _check(self, index: int) -> None:
        info = await self._service_info(index)
        if info.chain_id != self.chain_id:
            raise _fail(
                FailedCheck.WRONG_CHAIN,
                f"chain id {info.chain_id!r} is not the deployment's {self.chain_id!r}",
            )
        stub = v2.LedgerServiceStub(self.transport.channel(index))
        request = v2.GetEpochRequest(
            epoch=self.anchor_epoch, read_mask=mask(("epoch", "committee"))
        )
        answer = (await stub.get_epoch(request, timeout=self.client.timeout)).epoch
        served = answer.committee if answer is not None else None
        if served is None:
            raise _fail(FailedCheck.WRONG_COMMITTEE, f"epoch {self.anchor_epoch}: no committee")
        try:
            committee = Committee(
                int(served.epoch or 0),
                tuple(CommitteeMember(bytes(m.public_key or b""), int(m.weight or 0))
                      for m in served.members),
            )  # fmt: skip
        except ValueError as exc:
            raise _fail(FailedCheck.WRONG_COMMITTEE, f"committee: {exc}") from None
        self.verifier.check_committee(committee)


@lru_cache(maxsize=256)
def _type_text(tag: StructType) -> str:
    """An object's type as text, once per type (objects of one type share it)."""
    return normalize_type(str(tag))


#: `_prove_object`'s answer when the index is behind the object (follow the chain, then retry).
_NEWER: Final = object()


async def open_chain_source(
    client: ChainClient, deployment: Deployment, *, verify: bool
) -> ChainClient | VerifiedChain:
    """What the master reads the chain through: the client itself, or (`verify`) a
    `VerifiedChain` over it, already followed to the endpoint's tip."""
    if not verify:
        return client
    verified = VerifiedChain(client, deployment)
    await verified.sync()
    return verified


__all__ = [
    "KEEP_CHECKPOINTS",
    "MAX_STAKE_HINTS",
    "OBJECT_BCS_MASK",
    "VerifiedChain",
    "open_chain_source",
]
