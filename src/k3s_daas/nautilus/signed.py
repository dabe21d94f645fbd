"""Signed worker requests, verified once: the body decoded once, the token parsed and
fingerprinted once, and every check run in the protocol's order.

A request passes when: its body parses strictly; its timestamp is within the skew window; its
token validates and is a node token; the Sui personal-message signature over
`seal.protocol.signing_bytes` (which binds this master's enclave key and the token fingerprint)
is the token owner's; its node_id is the stake's; and it is not a replay. What passes is a
`SignedRequest` the operations take.

Replays: a heartbeat of a registered live node must carry a timestamp above the node's guard
(its high-water mark, or the stored W of the replica that owns it: `Registry.guard`, re-checked
under the node's lock by the registry) and at most `future_seconds` ahead of the master's clock
(so the W a replica stores covers every heartbeat it answers); every other request's nonce must
never have been seen (compare-and-set with a TTL in the Store).

Chain reads: a registered live node's heartbeat is validated by `Validator.validate_admitted`,
which reads the chain only on a token's re-check interval, its expiry or a watcher that is not
caught up (revocations reach it through the watcher and the revoked set).

The owner's signature may be of any Sui wallet scheme: Ed25519, Secp256k1 and Secp256r1 are
verified here; MultiSig, zkLogin and passkey by the full node (`chain.verify_owner_signature`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from pydantic import ValidationError

from k3s_daas.chain import (
    ChainError,
    RemoteVerifier,
    SignatureError,
    decode_signature,
    needs_full_node,
    verify_owner_signature,
)
from k3s_daas.nautilus.errors import MasterError, TokenRejected, invalid_request
from k3s_daas.nautilus.registry import KeyValueStore, Registry
from k3s_daas.nautilus.validator import Validator
from k3s_daas.nautilus.worker_record import WorkerRecord
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.encoding import parse_json
from k3s_daas.seal.protocol import Kind, Reason, SignedBody, signing_bytes
from k3s_daas.seal.token import SealToken

NONCE_PREFIX: Final = "/nonces/"
HWM_REFUSAL: Final = "this heartbeat is not newer than the node's last accepted one"
BodyT = TypeVar("BodyT", bound=SignedBody)


@dataclass(frozen=True)
class SignedRequest(Generic[BodyT]):
    """A request that passed every check: who sent it, what it says, and what was signed."""

    claims: Claims
    body: BodyT
    signed: bytes  # the bytes the owner's signature verified over
    fingerprint: str  # SHA-256 of the token, hex (the only form a token is kept in)

    @property
    def kind(self) -> Kind:
        return self.body.kind


@dataclass(frozen=True)
class RawRequest:
    """A signed request as it arrived: the token header and the body decoded once (`fields`)."""

    token: str | None
    fields: Any

    @property
    def node(self) -> str:
        """The node the body names, for the audit of a refusal ("?" when it names none)."""
        node = self.fields.get("node_id") if isinstance(self.fields, dict) else None
        return node if isinstance(node, str) else "?"


def decode(token: str | None, raw: bytes) -> RawRequest:
    """Decode the JSON body (once); a body that is not JSON, or nests too deep, is
    `invalid_request`."""
    try:
        return RawRequest(token, parse_json(raw))
    except ValueError as exc:
        raise invalid_request(exc) from None


class RequestVerifier:
    """Runs the checks of a signed request, in the order the protocol documents them."""

    def __init__(
        self,
        *,
        validator: Validator,
        registry: Registry,
        store: KeyValueStore,
        enclave_public_key: bytes,
        skew_seconds: float,
        nonce_ttl: float,
        clock: Callable[[], float],
        signatures: RemoteVerifier | None = None,
        chain_timeout: float = 3.0,
        future_seconds: float = 2.0,
    ) -> None:
        self.validator = validator
        self.chain_timeout = chain_timeout  # one chain deadline for the whole request
        self.signatures = signatures  # the full node, for MultiSig, zkLogin and passkey
        self.registry = registry
        self.store = store
        self.enclave_public_key = enclave_public_key
        self.skew_ms = int(skew_seconds * 1000)
        self.future_ms = int(future_seconds * 1000)
        self.nonce_ttl = max(nonce_ttl, 2 * skew_seconds)
        self._clock = clock

    async def verify(self, model: type[BodyT], request: RawRequest) -> SignedRequest[BodyT]:
        """Every check of a signed request of `model`'s kind; raises MasterError on the first
        that fails."""
        try:
            body = model.model_validate(request.fields)
        except ValidationError as exc:
            raise invalid_request(exc) from None
        if not request.token:
            raise MasterError(reason=Reason.MISSING_TOKEN)
        now_ms = int(self._clock() * 1000)
        if abs(now_ms - body.timestamp) > self.skew_ms:
            raise MasterError(
                f"timestamp is more than {self.skew_ms // 1000}s away from the master's clock",
                reason=Reason.STALE_REQUEST,
            )
        if model.kind == "heartbeat" and body.timestamp > now_ms + self.future_ms:
            raise MasterError(
                f"timestamp is more than {self.future_ms / 1000:g}s ahead of the master's clock",
                reason=Reason.STALE_REQUEST,
            )
        token = self.validator.parse(request.token)
        admitted = self._admitted(model.kind, body.node_id, token)
        # One chain deadline for the whole request: what validation leaves, the signature gets.
        # An admitted node's validation is in memory: its deadline starts at the signature.
        deadline = None
        if admitted is None:
            deadline = asyncio.get_running_loop().time() + self.chain_timeout
        claims = await self._validate(token, admitted=admitted is not None)
        if not claims.is_node:
            raise MasterError(reason=Reason.NOT_NODE_TOKEN)
        # The signature covers the fields exactly as sent (ints stay ints, absent stays absent).
        unsigned = {k: v for k, v in request.fields.items() if k != "signature"}
        signed = signing_bytes(model.kind, self.enclave_public_key, token.fingerprint, unsigned)
        await self._check_owner(signed, body.signature, claims.owner, deadline)
        if body.node_id != claims.node_id:
            raise MasterError(f"the stake is for node {claims.node_id!r}, not {body.node_id!r}",
                              reason=Reason.NODE_MISMATCH)  # fmt: skip
        if admitted is not None:  # the registry write re-checks it under the node's lock
            if body.timestamp <= self.registry.guard(admitted):
                raise MasterError(HWM_REFUSAL, reason=Reason.REPLAYED)
        elif not await self.store.compare_and_set(
            NONCE_PREFIX + body.nonce, None, b"1", ttl=self.nonce_ttl
        ):
            raise MasterError(reason=Reason.REPLAYED)
        return SignedRequest(claims, body, signed, token.fingerprint)

    def _admitted(self, kind: Kind, node_id: str, token: SealToken) -> WorkerRecord | None:
        """The record of a live node whose heartbeat this is, with this very token."""
        if kind != "heartbeat":
            return None
        record = self.registry.get(node_id)
        if record is None or not record.status.is_live:
            return None
        return record if record.token_fingerprint == token.fingerprint[:16] else None

    async def _check_owner(
        self, signed: bytes, signature: str, owner: str, deadline: float | None
    ) -> None:
        """The token owner signed `signed` (any wallet scheme), or the refusal saying why; a
        signature only the full node can check must be checked by `deadline` (loop time; None:
        `chain_timeout` from now)."""
        try:
            decoded = decode_signature(signature)
            # only the full node's schemes wait: a local one (the heartbeat path) arms no timer
            wait: AbstractAsyncContextManager[object] = nullcontext()
            if needs_full_node(decoded):
                if deadline is None:
                    deadline = asyncio.get_running_loop().time() + self.chain_timeout
                wait = asyncio.timeout_at(deadline)
            async with wait:
                await verify_owner_signature(signed, decoded, owner, self.signatures)
        except TimeoutError:
            raise MasterError(reason=Reason.CHAIN_UNAVAILABLE) from None
        except SignatureError as exc:
            reason = Reason.parse(exc.reason)
            if reason not in (Reason.SIGNER_MISMATCH, Reason.UNSUPPORTED_SIGNATURE):
                reason = Reason.BAD_SIGNATURE
            message = exc.message if reason is Reason.UNSUPPORTED_SIGNATURE else None
            raise MasterError(message, reason=reason) from None
        except ChainError as exc:  # the node could not be asked, or refused the question
            malformed = exc.reason == "bad_request"  # INVALID_ARGUMENT: a malformed signature
            reason = Reason.BAD_SIGNATURE if malformed else Reason.CHAIN_UNAVAILABLE
            raise MasterError(reason=reason) from None

    async def _validate(self, token: SealToken, *, admitted: bool) -> Claims:
        try:
            if admitted:
                return await self.validator.validate_admitted(token)
            return await self.validator.validate(token)
        except TokenRejected as exc:
            if exc.reason.revokes:
                # The chain says this token's stake is gone: revoke its worker now, not at the
                # chain event.
                await self.registry.revoke_where(token_id=token.object_id, reason=exc.reason)
            raise
