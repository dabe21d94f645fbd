"""A test double of a lying full node: a real sui.rpc.v2 gRPC server between a client and the
devnet, honest for everything but the lie it is told to tell.

`LyingNode(target_port)` listens on a free loopback port (`.address`; `tls=ServerIdentity` serves
`https://` instead, `.url`) and forwards every RPC of every sui.rpc.v2 service to the devnet as
raw bytes: with no lie set (`lie = None`) it changes nothing, byte for byte. A `Lie` sees each
decoded answer (and each checkpoint stream frame) and returns what to send instead; it may raise
`GRPCError` (an error answer) or return None (drop a stream frame). The lies below are the
attacks the verified master must catch. Runs its own event loop in a daemon thread
(`harness.loop_thread`, like `harness.proxy.TcpProxy`), so sync tests, async tests and master
subprocesses all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import grpclib.const
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.encoding.base import CodecBase
from grpclib.server import Server, Stream
from pysui.sui.sui_grpc.suimsgs.google import protobuf as pb
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.loop_thread import LoopThreadServer
from k3s_daas.chain import Deployment
from k3s_daas.chain.bls import BlsPrivateKey
from k3s_daas.chain.certified import (
    CheckpointSummary,
    MoveObject,
    Object,
    Owner,
    StructType,
    TransactionEvents,
    bcs,
    digest_to_base58,
)
from k3s_daas.devnet.routes import STUBS, Route, stub_routes
from k3s_daas.kube.tls import ServerIdentity
from k3s_daas.seal import constants as c
from k3s_daas.seal.encoding import b64encode
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.token import format_token

#: (RPC path, decoded request, decoded answer or stream frame) -> what to send (None: drop it).
Lie = Callable[[str, Any, Any], Any]


class RawCodec(CodecBase):
    """Protobuf on the wire, bytes in hand: what passes through is never re-encoded."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return message if isinstance(message, bytes) else bytes(message)

    def decode(self, data: bytes, message_type: Any) -> Any:
        return data


class LyingNode(LoopThreadServer):
    """The gRPC proxy (see the module docstring); `lie` may be changed while it runs."""

    def __init__(self, target_port: int, *, tls: ServerIdentity | None = None) -> None:
        super().__init__()
        self.target_port = target_port
        self.tls = tls
        self.lie: Lie | None = None
        self.calls: list[str] = []  # RPC paths served, in order
        self._server: Server | None = None
        self._upstream: Channel | None = None

    @property
    def url(self) -> str:
        """The endpoint as a client names it (`https://localhost:PORT` with TLS)."""
        return f"https://localhost:{self.port}" if self.tls else self.address

    async def _listen(self) -> None:
        self._upstream = Channel("127.0.0.1", self.target_port, codec=RawCodec())
        handlers = [_Service(self, name) for name in STUBS]
        self._server = Server(handlers, codec=RawCodec())
        context = None
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls.cert_path), str(self.tls.key_path))
            context.set_alpn_protocols(["h2"])
        await self._server.start("127.0.0.1", self.port, ssl=context)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        if self._upstream is not None:
            self._upstream.close()

    # -- forwarding ----------------------------------------------------------------------------
    def _told(self, route: Route, request: bytes, answer: bytes) -> bytes | None:
        lie = self.lie
        if lie is None:
            return answer
        told = lie(route.path, route.request.parse(request), route.response.parse(answer))
        return None if told is None else bytes(told)

    async def forward(self, route: Route, stream: Stream[Any, Any]) -> None:
        """One call, unary or server-streaming: the request as sent, each answer as told."""
        request: bytes = await stream.recv_message() or b""
        self.calls.append(route.path)
        assert self._upstream is not None
        async with self._upstream.request(
            route.path, route.cardinality, bytes, bytes, metadata=_forwarded(stream)
        ) as upstream:
            await upstream.send_message(request, end=True)
            async for answer in upstream:  # a unary call's one answer, or each stream frame
                told = self._told(route, request, answer)
                if told is not None:
                    await stream.send_message(told)


def _forwarded(stream: Stream[Any, Any]) -> list[tuple[str, str | bytes]]:
    return [(k, v) for k, v in (stream.metadata or {}).items() if not k.startswith(("grpc-", ":"))]


class _Service:
    """Every route of one sui.rpc.v2 service, forwarded through the node's lie."""

    def __init__(self, node: LyingNode, name: str) -> None:
        self.node, self.routes = node, stub_routes(STUBS[name])

    def __mapping__(self) -> dict[str, grpclib.const.Handler]:
        def handler(route: Route) -> Callable[[Stream[Any, Any]], Coroutine[Any, Any, None]]:
            return lambda stream: self.node.forward(route, stream)

        return {
            r.path: grpclib.const.Handler(handler(r), r.cardinality, bytes, bytes)
            for r in self.routes
        }


# -- the lies ------------------------------------------------------------------------------------
GET_OBJECT = "/sui.rpc.v2.LedgerService/GetObject"
BATCH_GET_OBJECTS = "/sui.rpc.v2.LedgerService/BatchGetObjects"
GET_CHECKPOINT = "/sui.rpc.v2.LedgerService/GetCheckpoint"
GET_EPOCH = "/sui.rpc.v2.LedgerService/GetEpoch"
GET_SERVICE_INFO = "/sui.rpc.v2.LedgerService/GetServiceInfo"
SUBSCRIBE = "/sui.rpc.v2.SubscriptionService/SubscribeCheckpoints"


def _objects_of(path: str, answer: Any) -> list[v2.Object]:
    if path == GET_OBJECT:
        return [answer.object] if answer.object is not None else []
    if path == BATCH_GET_OBJECTS:
        return [r.object for r in answer.objects if r.object is not None]
    return []


def _checkpoint_of(path: str, answer: Any) -> v2.Checkpoint | None:
    if path in (GET_CHECKPOINT, SUBSCRIBE):
        return answer.checkpoint  # type: ignore[no-any-return]
    return None


def change_object(object_id: str, change: Callable[[MoveObject], MoveObject]) -> Lie:
    """(a) Serve `object_id` with changed Move contents (its BCS re-encoded, its digest kept)."""

    def lie(path: str, request: Any, answer: Any) -> Any:
        for obj in _objects_of(path, answer):
            if obj.object_id == object_id and obj.bcs is not None and obj.bcs.value:
                real = Object.decode(bytes(obj.bcs.value))
                assert isinstance(real.data, MoveObject)
                obj.bcs.value = replace(real, data=change(real.data)).encode()
        return answer

    return lie


def freeze_object(object_id: str) -> Lie:
    """Un-slash: keep serving `object_id` as it was when first served (and, like the issue's
    attacker, drop the events of every later checkpoint that touches nothing else)."""
    first: dict[str, v2.Object] = {}

    def lie(path: str, request: Any, answer: Any) -> Any:
        for obj in _objects_of(path, answer):
            if obj.object_id == object_id:
                kept = first.setdefault(object_id, v2.Object.parse(bytes(obj)))
                for name in ("bcs", "version", "digest", "json", "owner"):
                    setattr(obj, name, getattr(kept, name))
        return answer

    return lie


def serve_object(made_up: v2.Object) -> Lie:
    """Forge: answer a batch read of an id that does not exist with a made-up object."""

    def lie(path: str, request: Any, answer: Any) -> Any:
        if path == BATCH_GET_OBJECTS:
            for asked, result in zip(request.requests, answer.objects, strict=True):
                if asked.object_id == made_up.object_id:
                    result.error, result.object = None, made_up
        return answer

    return lie


def drop_events(type_suffix: str) -> Lie:
    """(b) Drop every event whose type ends with `type_suffix` from checkpoints, both from the
    structured list and from the events BCS."""

    def lie(path: str, request: Any, answer: Any) -> Any:
        checkpoint = _checkpoint_of(path, answer)
        for tx in checkpoint.transactions if checkpoint is not None else []:
            events = tx.events
            if events is None:
                continue
            events.events = [
                e for e in events.events if not (e.event_type or "").endswith(type_suffix)
            ]
            if events.bcs is not None and events.bcs.value:
                real = TransactionEvents.decode(bytes(events.bcs.value))
                kept = tuple(e for e in real.data if not str(e.type).endswith(type_suffix))
                events.bcs.value = TransactionEvents(kept).encode()
        return answer

    return lie


def forge_summaries(from_seq: int) -> Lie:
    """(c) From checkpoint `from_seq` on, serve summaries with another timestamp (the same
    certificate)."""

    def lie(path: str, request: Any, answer: Any) -> Any:
        checkpoint = _checkpoint_of(path, answer)
        summary = checkpoint.summary if checkpoint is not None else None
        if summary is not None and summary.bcs is not None and summary.bcs.value:
            real = CheckpointSummary.decode(bytes(summary.bcs.value))
            if real.sequence_number >= from_seq:
                forged = replace(real, timestamp_ms=real.timestamp_ms + 1)
                summary.bcs.value = forged.encode()
                summary.digest = checkpoint.digest = digest_to_base58(forged.digest())  # type: ignore[union-attr]
        return answer

    return lie


def replay_checkpoints(from_seq: int) -> Lie:
    """(d) From checkpoint `from_seq` on, serve an earlier checkpoint it served again (the one
    before `from_seq` when it saw it), numbered as the one asked for."""
    served: dict[int, bytes] = {}

    def lie(path: str, request: Any, answer: Any) -> Any:
        checkpoint = _checkpoint_of(path, answer)
        if checkpoint is None or checkpoint.sequence_number is None:
            return answer
        seq = int(checkpoint.sequence_number)
        if seq < from_seq:
            served[seq] = bytes(checkpoint)
            return answer
        old = served.get(from_seq - 1) or next(reversed(served.values()), None)
        if old is None:
            return answer
        replayed = v2.Checkpoint.parse(old)
        replayed.sequence_number = seq
        answer.checkpoint = replayed
        return answer

    return lie


def wrong_committee(seed: bytes = b"\x07" * 32) -> Lie:
    """(e) Serve GetEpoch with a committee of the attacker's keys."""

    def lie(path: str, request: Any, answer: Any) -> Any:
        committee = answer.epoch.committee if path == GET_EPOCH and answer.epoch else None
        for i, member in enumerate(committee.members if committee is not None else []):
            member.public_key = BlsPrivateKey.from_seed(seed[:-1] + bytes([i])).public_key()
        return answer

    return lie


def withhold_after(last: int) -> Lie:
    """(f) Withhold every checkpoint after `last`: the tip reads `last`, later ones are
    NOT_FOUND, stream frames after it never come. Objects pass through as they are."""

    def lie(path: str, request: Any, answer: Any) -> Any:
        if path == GET_SERVICE_INFO and (answer.checkpoint_height or 0) > last:
            answer.checkpoint_height = last
        checkpoint = _checkpoint_of(path, answer)
        if checkpoint is not None and (checkpoint.sequence_number or 0) > last:
            if path == SUBSCRIBE:
                return None
            raise GRPCError(Status.NOT_FOUND, "checkpoint not found")
        return answer

    return lie


def in_turn(*lies: Lie) -> Lie:
    """Tell several lies: each sees what the one before it made of the answer."""

    def lie(path: str, request: Any, answer: Any) -> Any:
        for each in lies:
            if answer is None:
                return None
            answer = each(path, request, answer)
        return answer

    return lie


def _served(obj: Object, fields: dict[str, Any]) -> v2.Object:
    """A made-up object as a node renders it: BCS, and the JSON a plain reader parses."""
    assert isinstance(obj.data, MoveObject)
    owner = (
        v2.Owner(kind=v2.OwnerOwnerKind.SHARED, version=obj.owner.version)
        if obj.owner.address is None
        else v2.Owner(kind=v2.OwnerOwnerKind.ADDRESS, address=obj.owner.address)
    )
    return v2.Object(
        bcs=v2.Bcs(name="Object", value=obj.encode()),
        object_id=obj.object_id,
        version=obj.version,
        digest=digest_to_base58(obj.digest()),
        owner=owner,
        object_type=str(obj.data.type),
        json=pb.Value.from_dict(fields),
    )


def forged_token(dep: Deployment, owner: str, enclave: str) -> tuple[str, list[v2.Object]]:
    """The issue's forge: a premium `*:*` SealToken for an id that does not exist, owned by
    `owner` with a secret it knows, and an ACTIVE StakeRecord behind it (no transaction ever
    wrote either). Returns the bearer token and the two objects for `serve_object`."""
    secret = secrets.token_bytes(32)
    token_id, stake_id = "0x" + secrets.token_hex(32), "0x" + secrets.token_hex(32)
    perms = ["pods:read", "services:read", "nodes:write", "pods:write", "*:*"]
    amount, expires, commitment = 10**15, 10**6, hashlib.sha256(secret).digest()
    token_bcs = (
        bcs.address(token_id) + bcs.byte_vector(commitment) + bcs.address(owner)
        + bcs.string("forged-node") + bcs.address(stake_id) + bcs.u64(amount)
        + bcs.u8(c.STAKE_TYPE_NODE) + bcs.vector(perms, bcs.string) + bcs.u8(Tier.PREMIUM)
        + bcs.u64(0) + bcs.u64(expires) + bcs.address(enclave)
    )  # fmt: skip
    token_fields = {
        "id": {"id": token_id}, "token_hash": b64encode(commitment), "owner": owner,
        "node_id": "forged-node", "stake_record": stake_id, "stake_amount": str(amount),
        "stake_type": c.STAKE_TYPE_NODE, "permissions": perms, "tier": int(Tier.PREMIUM),
        "issued_at": "0", "expires_at": str(expires), "enclave": enclave,
    }  # fmt: skip
    stake_bcs = (
        bcs.address(stake_id) + bcs.address(dep.pool_id) + bcs.address(owner)
        + bcs.string("forged-node") + bcs.u8(c.STAKE_TYPE_NODE) + bcs.u64(amount)
        + bcs.u64(amount) + bcs.u8(c.STATUS_ACTIVE) + bcs.u64(0) + bcs.u64(0)
    )  # fmt: skip
    stake_fields = {
        "id": {"id": stake_id}, "pool": dep.pool_id, "staker": owner, "node_id": "forged-node",
        "stake_type": c.STAKE_TYPE_NODE, "balance": str(amount), "amount": str(amount),
        "status": c.STATUS_ACTIVE, "staked_epoch": "0", "unbonding_epoch": "0",
    }  # fmt: skip
    token = Object(
        MoveObject(StructType(dep.package_id, "k8s_gateway", "SealToken"), False, 5, token_bcs),
        Owner.by_address(owner),
        bytes(32),
    )
    stake = Object(
        MoveObject(StructType(dep.package_id, "staking", "StakeRecord"), False, 5, stake_bcs),
        Owner.shared(1),
        bytes(32),
    )
    made_up = [_served(token, token_fields), _served(stake, stake_fields)]
    return format_token(token_id, secret), made_up


__all__ = [
    "Lie",
    "LyingNode",
    "RawCodec",
    "change_object",
    "drop_events",
    "forge_summaries",
    "forged_token",
    "freeze_object",
    "in_turn",
    "replay_checkpoints",
    "serve_object",
    "withhold_after",
    "wrong_committee",
]
