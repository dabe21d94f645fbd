"""Signed worker requests are verified once: the body decoded once, the token parsed and
fingerprinted once, the checks in the protocol's order, the signature over the fields as sent.

`ValidatorDouble` stands in for the chain-backed validator (it answers with fixed claims or a
fixed refusal, and records what it was asked); the Store and the Registry are the real ones on
the in-memory store.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from k3s_daas.chain import (
    ChainUnavailable,
    MultiSig,
    MultiSigCommittee,
    SignatureError,
    SignatureUnsupported,
    SuiKeyPair,
    Verdict,
)
from k3s_daas.chain.keys import personal_message_digest
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
        self.admitted: list[SealToken] = []  # asked through the registered-worker path

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

    async def validate_admitted(self, token: SealToken) -> Claims:
        self.admitted.append(token)
        return await self.validate(token)


class FullNodeDouble:
    """`VerifySignature` as a full node answers it: MultiSig checked, zkLogin UNIMPLEMENTED (as the
    devnet answers), or no node reachable at all; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[bytes, str]] = []
        self.down = False
        self.hung = False

    async def verify_signature(self, message: bytes, signature: bytes, address: str) -> Verdict:
        self.asked.append((signature, address))
        if self.hung:
            await asyncio.Event().wait()
        if self.down:
            raise ChainUnavailable("VerifySignature: no chain endpoint answered")
        if signature[0] != 0x03:
            raise SignatureUnsupported("the full node cannot verify this signature: zkLogin ...")
        multisig = MultiSig.parse(signature)
        if multisig.address != address:
            return Verdict(False, f"provided address `{address}` does not match derived "
                                  f"address `{multisig.address}`")  # fmt: skip
        try:
            multisig.verify(personal_message_digest(message))
        except SignatureError as exc:
            return Verdict(False, exc.message)
        return Verdict(True)


class World:
    def __init__(self, store: BytesStore) -> None:
        self.key = SuiKeyPair.generate()
        self.node = FullNodeDouble()
        self.token = format_token("0x" + "1" * 64, secrets.token_bytes(32))
        claims = Claims(owner=self.key.address, node_id="n1", stake_amount=1_000,
                        permissions=("pods:read",), tier=Tier.STANDARD, expires_at_epoch=100,
                        token_id="0x" + "1" * 64, stake_record_id="0x" + "5" * 64,
                        enclave_id="0x" + "e" * 64)  # fmt: skip
        self.validator = ValidatorDouble(claims)
        self.store = store
        self.registry = Registry(store, Metrics())
        self.verifier = RequestVerifier(
            validator=self.validator,  # type: ignore[arg-type]  # the two methods it uses
            registry=self.registry,
            store=store,
            enclave_public_key=ENCLAVE_KEY,
            skew_seconds=60,
            nonce_ttl=600,
            clock=lambda: NOW,
            signatures=self.node,
        )

    def own(self, owner: str) -> None:
        """The token's owner (the stake's staker) is now `owner`."""
        self.validator.claims = self.validator.claims.model_copy(update={"owner": owner})

    def body(
        self, kind: Kind, *, key: SuiKeyPair | None = None,
        sign: Callable[[bytes], bytes] | None = None, **fields: Any,
    ) -> bytes:  # fmt: skip
        """A signed JSON body, signed over exactly the fields given (as the worker does)."""
        unsigned = {"node_id": "n1", "timestamp": int(NOW * 1000), "nonce": secrets.token_hex(16),
                    **fields}  # fmt: skip
        message = signing_bytes(kind, ENCLAVE_KEY, token_fingerprint(self.token), unsigned)
        signature = sign(message) if sign else (key or self.key).sign_personal_message(message)
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


async def beat(world: World, raw: bytes, registry: Registry | None = None) -> None:
    """Verify a heartbeat and apply it as the service does (the registry write re-checks)."""
    request = await world.verify(raw)
    await (registry or world.registry).heartbeat(
        request.claims, request.fingerprint, running_pods=0, resource_usage={},
        timestamp=request.body.timestamp,
    )  # fmt: skip


async def test_a_registered_nodes_heartbeats_are_guarded_by_a_durable_high_water_mark(
    world: World,
) -> None:
    await world.registry.register(world.validator.claims, token_fingerprint(world.token))
    first = world.body("heartbeat", timestamp=int(NOW * 1000) - 5)
    await beat(world, first)
    assert len(world.validator.admitted) == 1  # the registered-worker validation path
    assert await world.refusal(first) == "replayed"  # same signed timestamp
    assert await world.refusal(world.body("heartbeat", timestamp=int(NOW * 1000) - 6)) == (
        "replayed"
    )  # an older one, even with a fresh nonce
    await beat(world, world.body("heartbeat", timestamp=int(NOW * 1000) - 4))
    assert await world.store.range("/nonces/") == []  # one durable write each: the record's

    # A restart: the mark comes back with the record, so no replay window reopens.
    restarted = Registry(world.store, Metrics())
    assert await restarted.load() == 1
    world.verifier.registry = restarted
    assert await world.refusal(first) == "replayed"
    await beat(world, world.body("heartbeat", timestamp=int(NOW * 1000) - 3), restarted)


async def test_concurrent_copies_of_one_heartbeat_are_accepted_once(world: World) -> None:
    await world.registry.register(world.validator.claims, token_fingerprint(world.token))
    raw = world.body("heartbeat")
    outcomes = await asyncio.gather(beat(world, raw), beat(world, raw), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, MasterError)]
    assert len(refused) == 1 and refused[0].reason == "replayed"


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


@pytest.mark.parametrize("scheme", ["secp256k1", "secp256r1"])
async def test_owners_of_ecdsa_wallets_are_verified_locally(world: World, scheme: str) -> None:
    key = SuiKeyPair.generate(scheme)
    world.own(key.address)
    request = await world.verify(world.body("heartbeat", key=key))
    assert request.claims.owner == key.address
    assert world.node.asked == []  # no round trip for a key scheme
    other = SuiKeyPair.generate(scheme)
    assert await world.refusal(world.body("heartbeat", key=other)) == "signer_mismatch"


def two_of_three(world: World) -> tuple[MultiSigCommittee, list[SuiKeyPair]]:
    members = [SuiKeyPair.generate(s) for s in ("ed25519", "secp256k1", "secp256r1")]
    committee = MultiSigCommittee.of([(k.sui_public_key, 1) for k in members], 2)
    world.own(committee.address)
    return committee, members


async def test_a_multisig_owner_is_verified_by_the_full_node(world: World) -> None:
    committee, members = two_of_three(world)

    def sign_by(*signers: SuiKeyPair) -> Callable[[bytes], bytes]:
        def sign(message: bytes) -> bytes:
            parts = [k.sign_personal_message(message) for k in signers]
            return MultiSig.combine(committee, parts).serialize()

        return sign

    request = await world.verify(world.body("heartbeat", sign=sign_by(members[2], members[0])))
    assert request.claims.owner == committee.address
    assert world.node.asked[-1][1] == committee.address  # the node checks the owner's address
    below = world.body("heartbeat", sign=sign_by(members[1]))
    assert await world.refusal(below) == "bad_signature"
    world.own(SuiKeyPair.generate().address)
    assert await world.refusal(world.body("heartbeat", sign=sign_by(*members))) == (
        "signer_mismatch"
    )


async def test_a_scheme_the_node_cannot_verify_is_a_clear_4xx(world: World) -> None:
    """zkLogin on a node without a zkLogin verifier (the devnet): `unsupported_signature`, 401,
    with the node's sentence; no node reachable: `chain_unavailable`, 503."""
    zklogin = world.body("heartbeat", sign=lambda m: b"\x05" + b"\x00" * 300)
    with pytest.raises(MasterError) as info:
        await world.verify(zklogin)
    assert info.value.reason == Reason.UNSUPPORTED_SIGNATURE and info.value.status == 401
    assert "cannot verify" in info.value.message
    world.node.down = True
    with pytest.raises(MasterError) as down:
        await world.verify(world.body("heartbeat", sign=lambda m: b"\x05" + b"\x00" * 300))
    assert (down.value.reason, down.value.status) == (Reason.CHAIN_UNAVAILABLE, 503)
    world.node.down, world.node.hung, world.verifier.chain_timeout = False, True, 0.05
    loop = asyncio.get_running_loop()
    body = world.body("heartbeat", sign=lambda m: b"\x03" + b"\x00" * 300)
    start = loop.time()
    with pytest.raises(MasterError) as hung:  # the request's one chain deadline bounds it too
        await asyncio.wait_for(world.verify(body), 2)
    assert hung.value.reason == Reason.CHAIN_UNAVAILABLE and loop.time() - start < 0.5
    world.verifier.signatures = None  # a master without a full node to ask
    assert await world.refusal(world.body("heartbeat", sign=lambda m: b"\x06" * 120)) == (
        "unsupported_signature"
    )


async def test_a_heartbeat_from_the_future_is_refused(world: World) -> None:
    """The stored W covers `future_seconds` ahead of the clock: nothing later is answered."""
    await world.registry.register(world.validator.claims, token_fingerprint(world.token))
    ahead = world.body("heartbeat", timestamp=int(NOW * 1000) + 2_001)
    assert await world.refusal(ahead) == "stale_request"
    await beat(world, world.body("heartbeat", timestamp=int(NOW * 1000) + 2_000))
