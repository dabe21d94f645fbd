"""Signed worker requests are verified once: the body decoded once, the token parsed and
fingerprinted once, the checks in the protocol's order, the signature over the fields as sent.

`ValidatorDouble` stands in for the chain-backed validator (it answers with fixed claims or a
fixed refusal, and records what it was asked); the Store and the Registry are the real ones on
the in-memory store.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from k3s_daas.chain import SuiKeyPair
from k3s_daas.nautilus.errors import MasterError, TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import Registry
from k3s_daas.nautilus.signed import RequestVerifier, decode
from k3s_daas.nautilus.store import BytesStore, open_store
from k3s_daas.seal import token as token_module
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.protocol import (
    HeartbeatRequest,
    Kind,
    NodeStatus,
    Reason,
    RegisterRequest,
    signing_bytes,
)
from k3s_daas.seal.token import SealToken, format_token, parse_token, token_fingerprint

ENCLAVE_KEY = bytes(range(32))
NOW = 1_700_000_000.0


class ValidatorDouble:
    """`parse` as the validator does it; `validate` answers `claims`, or raises `refuse`."""

    def __init__(self, claims: Claims) -> None:
        self.claims = claims
        self.refuse: Reason | None = None
        self.asked: list[SealToken] = []

    def parse(self, token: str) -> SealToken:
        try:
            return parse_token(token)
        except ValueError:
            raise TokenRejected(Reason.INVALID_FORMAT) from None

    async def validate(self, token: SealToken) -> Claims:
        self.asked.append(token)
        if self.refuse is not None:
            raise TokenRejected(self.refuse)
        return self.claims


class World:
    def __init__(self, store: BytesStore) -> None:
        self.key = SuiKeyPair.generate()
        self.token = format_token("0x" + "1" * 64, secrets.token_bytes(32))
        claims = Claims(owner=self.key.address, node_id="n1", stake_amount=1_000,
                        permissions=("pods:read",), tier=Tier.STANDARD, expires_at_epoch=100,
                        token_id="0x" + "1" * 64, stake_record_id="0x" + "5" * 64,
                        enclave_id="0x" + "e" * 64)  # fmt: skip
        self.validator = ValidatorDouble(claims)
        self.registry = Registry(store, Metrics())
        self.verifier = RequestVerifier(
            validator=self.validator,  # type: ignore[arg-type]  # the two methods it uses
            registry=self.registry,
            store=store,
            enclave_public_key=ENCLAVE_KEY,
            skew_seconds=60,
            nonce_ttl=600,
            clock=lambda: NOW,
        )

    def body(self, kind: Kind, *, key: SuiKeyPair | None = None, **fields: Any) -> bytes:
        """A signed JSON body, signed over exactly the fields given (as the worker does)."""
        unsigned = {"node_id": "n1", "timestamp": int(NOW * 1000), "nonce": secrets.token_hex(16),
                    **fields}  # fmt: skip
        message = signing_bytes(kind, ENCLAVE_KEY, token_fingerprint(self.token), unsigned)
        signature = (key or self.key).sign_personal_message(message)
        return json.dumps({**unsigned, "signature": base64.b64encode(signature).decode()}).encode()

    async def verify(
        self, raw: bytes, token: str | None = "", model: Any = HeartbeatRequest
    ) -> Any:
        return await self.verifier.verify(model, decode(self.token if token == "" else token, raw))

    async def refusal(
        self, raw: bytes, token: str | None = "", model: Any = HeartbeatRequest
    ) -> str:
        with pytest.raises(MasterError) as info:
            await self.verify(raw, token, model)
        return info.value.reason


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = BytesStore(open_store("memory://"))
    yield World(store)
    await store.close()


async def test_a_good_request_is_verified_with_one_fingerprint(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[str] = []
    real = token_module.token_fingerprint

    def counting(token: str) -> str:
        computed.append(token)
        return real(token)

    raw = world.body("heartbeat", running_pods=3)
    monkeypatch.setattr(token_module, "token_fingerprint", counting)
    request = await world.verify(raw)
    assert computed == [world.token]  # parsed and fingerprinted once, for every check
    assert request.fingerprint == real(world.token)
    assert request.claims is world.validator.claims
    assert isinstance(request.body, HeartbeatRequest) and request.body.running_pods == 3
    assert request.kind == "heartbeat"
    fields = {k: v for k, v in json.loads(raw).items() if k != "signature"}
    assert request.signed == signing_bytes("heartbeat", ENCLAVE_KEY, request.fingerprint, fields)
    assert world.validator.asked[0].fingerprint == request.fingerprint


async def test_the_signature_covers_the_fields_exactly_as_sent(world: World) -> None:
    """An optional field left out stays out of the signed bytes (no defaults filled in)."""
    request = await world.verify(world.body("heartbeat"))
    assert b"running_pods" not in request.signed and request.body.running_pods == 0
    # ... and a body signed for another kind does not verify as this one.
    assert await world.refusal(world.body("heartbeat"), model=RegisterRequest) == "bad_signature"


async def test_checks_run_in_the_protocol_order(world: World) -> None:
    stale = world.body("heartbeat", timestamp=int((NOW - 3600) * 1000))
    assert await world.refusal(b"{not json") == "invalid_request"
    assert await world.refusal(world.body("heartbeat", extra=1)) == "invalid_request"
    assert await world.refusal(world.body("heartbeat"), token=None) == "missing_token"
    assert await world.refusal(stale, token="seal_bad") == "stale_request"  # before the token
    assert world.validator.asked == []  # the validator was not consulted for any of these
    assert await world.refusal(world.body("heartbeat"), token="seal_bad") == "invalid_format"
    other = SuiKeyPair.generate()
    assert await world.refusal(world.body("heartbeat", key=other)) == "signer_mismatch"
    assert await world.refusal(world.body("heartbeat", node_id="n2")) == "node_mismatch"


async def test_a_nonce_is_accepted_once(world: World) -> None:
    raw = world.body("heartbeat")
    await world.verify(raw)
    assert await world.refusal(raw) == "replayed"


async def test_a_user_token_cannot_act_as_a_node(world: World) -> None:
    world.validator.claims = world.validator.claims.model_copy(update={"stake_type": 1})
    assert await world.refusal(world.body("register")) == "not_node_token"


async def test_a_chain_refusal_revokes_the_tokens_worker_at_once(world: World) -> None:
    await world.registry.register(world.validator.claims, "f" * 64)
    world.validator.refuse = Reason.STAKE_SLASHED
    assert await world.refusal(world.body("heartbeat")) == "stake_slashed"
    record = world.registry.get("n1")
    assert record is not None
    assert (record.status, record.reason) == (NodeStatus.REVOKED, Reason.STAKE_SLASHED)


async def test_a_refusal_not_from_chain_state_revokes_nothing(world: World) -> None:
    await world.registry.register(world.validator.claims, "f" * 64)
    world.validator.refuse = Reason.BAD_SECRET
    assert await world.refusal(world.body("heartbeat")) == "bad_secret"
    record = world.registry.get("n1")
    assert record is not None and record.status == NodeStatus.REGISTERED
