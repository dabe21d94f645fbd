"""Byte-for-byte agreement with Mysten's TypeScript SDK, the independent oracle.

`.tools/golden.mjs` builds our package's transactions with `@mysten/sui`'s `Transaction` from fixed
inputs, signs fixed messages with fixed keys of the three schemes and combines MultiSigs; here the
product builds the same transactions through `K3sDaasPackage` (the real builders, with a stub chain
that answers the reads and captures the signed bytes instead of executing), signs with its own
`SuiKeyPair` of each scheme, and must produce the same BCS, digests, signatures, addresses and
`suiprivkey` strings.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from k3s_daas.chain import Deployment, Endpoint, K3sDaasPackage, ObjectData, SealTokenView
from k3s_daas.chain.keys import (
    INTENT_TRANSACTION,
    SimpleSignature,
    SuiKeyPair,
    address_from_public_key,
    personal_message_bytes,
    personal_message_digest,
    recover_personal_message_signer,
    transaction_digest,
    verify_personal_message,
    verify_transaction_signature,
)
from k3s_daas.chain.multisig import MultiSig, MultiSigCommittee
from k3s_daas.chain.transactions import decode
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.sui import COIN_SUI_TYPE, blake2b256
from k3s_daas.seal.token import format_token, secret_commitment
from tests.fixtures.golden import pinned_sdk_version

U64_MAX = 2**64 - 1
SCHEMES = ["ed25519", "secp256k1", "secp256r1"]
FLAGS = {"ed25519": 0, "secp256k1": 1, "secp256r1": 2}
# sui-rust-sdk's own fixtures (crates/sui-crypto/src/secp256{k,r}1.rs), message b"hello": the
# generator's keys `secp256k1_mysten`/`secp256r1_mysten` use the same secrets.
MYSTEN_HELLO_SIGNATURES = {
    "secp256k1_mysten": "AVFAWGjuD8+xUoc6jMC0lKqMtT+4ukln7vz+8Nuv+EbYKl47jwzOWn39maDsqu81kezLPgLz"
    "z6o/AfSE0M9+jVwClcrtiuyUggEt/6CEZi8+JQ+NS9TmOhPBZV2X1KjhGCw=",
    "secp256r1_mysten": "AlqWPdkIE2bZAUquKv2Tdh9i+Ih+rVSQXH/YsgvwkmeOJR0YLjL/kadivoPtiQkvZBQ1ZI8e"
    "DZxe8SaLniwoT88Dh+/vAuGf1UrouFTdefpBEWn3apy8x3EexN5c5ESzGDc=",
}
MYSTEN_ADDRESSES = {
    "secp256k1_mysten": "0x8804086e7ebc98a455921e4df2e73e0bdc45f9da987989cb722f37923ae56e3e",
    "secp256r1_mysten": "0x67d64dda7d864e6f245611dcb0f0c6bec0a4703b57eee75c32db30d1de16866b",
}


def product_key(key: dict[str, Any]) -> SuiKeyPair:
    """The product's key pair of a generator key, made from its secret and scheme."""
    return SuiKeyPair.from_seed(bytes.fromhex(key["secret_key_hex"]), key["scheme"])


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# -- generator ------------------------------------------------------------------------------------
def test_generator_is_the_pinned_sdk(golden_vectors: dict[str, Any]) -> None:
    assert golden_vectors["generator"]["package"] == "@mysten/sui"
    assert golden_vectors["generator"]["version"] == pinned_sdk_version()


# -- keys -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
def test_keys_address_and_suiprivkey(golden_vectors: dict[str, Any], scheme: str) -> None:
    keys = {n: k for n, k in golden_vectors["keys"].items() if k["scheme"] == scheme}
    assert len(keys) >= 2
    for name, key in keys.items():
        ours = product_key(key)
        assert key["flag"] == FLAGS[scheme] == ours.flag
        assert ours.scheme == scheme
        assert ours.public_key.hex() == key["public_key_hex"]  # Ed25519 32 B; ECDSA 33 B SEC1
        assert ours.address == key["address"]
        assert (
            address_from_public_key(bytes.fromhex(key["public_key_hex"]), scheme)
            == (key["address"])
        )
        assert b64(key["sui_public_key_b64"]) == ours.sui_public_key
        assert ours.to_suiprivkey() == key["suiprivkey"]  # BIP-173 bech32 of flag || secret
        imported = SuiKeyPair.from_suiprivkey(key["suiprivkey"])
        assert (imported.scheme, imported.address) == (scheme, key["address"])
        assert SuiKeyPair.from_string(key["suiprivkey"]).to_suiprivkey() == key["suiprivkey"]
        assert SuiKeyPair.from_keystore(ours.to_keystore()).to_suiprivkey() == key["suiprivkey"]
        if name in MYSTEN_ADDRESSES:
            assert key["address"] == MYSTEN_ADDRESSES[name]


# -- personal messages ----------------------------------------------------------------------------
def test_personal_message_intent_digests(golden_vectors: dict[str, Any]) -> None:
    vectors = golden_vectors["personal_messages"]
    lengths = {len(v["message_hex"]) // 2 for v in vectors}
    assert {0, 300} <= lengths  # empty, and a two-byte ULEB128 length
    for vector in vectors:
        message = bytes.fromhex(vector["message_hex"])
        assert personal_message_bytes(message).hex() == vector["intent_message_hex"]
        assert blake2b256(personal_message_bytes(message)).hex() == vector["digest_hex"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_personal_message_signatures(golden_vectors: dict[str, Any], scheme: str) -> None:
    """Signing is deterministic in every scheme (Ed25519; RFC 6979 + low S), so the product's
    signature equals the SDK's, and the product verifies the SDK's."""
    keys = golden_vectors["keys"]
    checked = 0
    for vector in golden_vectors["personal_messages"]:
        key = keys[vector["key"]]
        if key["scheme"] != scheme:
            continue
        message, theirs = bytes.fromhex(vector["message_hex"]), b64(vector["signature_b64"])
        assert len(theirs) == (97 if scheme == "ed25519" else 98)
        assert product_key(key).sign_personal_message(message) == theirs
        verify_personal_message(message, theirs, key["address"])
        assert recover_personal_message_signer(message, theirs) == key["address"]
        parsed = SimpleSignature.parse(theirs)
        assert parsed.scheme.name == scheme
        assert parsed.verify(bytes.fromhex(vector["digest_hex"])) == key["address"]
        if vector["key"] in MYSTEN_HELLO_SIGNATURES and message == b"hello":
            assert vector["signature_b64"] == MYSTEN_HELLO_SIGNATURES[vector["key"]]
        checked += 1
    assert checked >= 8


# -- MultiSig -------------------------------------------------------------------------------------
def test_multisig_address_layout_and_signature(golden_vectors: dict[str, Any]) -> None:
    keys = golden_vectors["keys"]
    assert len(golden_vectors["multisigs"]) >= 2
    for vector in golden_vectors["multisigs"]:
        members = [product_key(keys[name]) for name in vector["members"]]
        committee = MultiSigCommittee.of(
            [(k.sui_public_key, w) for k, w in zip(members, vector["weights"], strict=True)],
            vector["threshold"],
        )
        assert committee.address == vector["address"]
        assert committee.bcs() == b64(vector["public_key_b64"])
        message = bytes.fromhex(vector["message_hex"])
        signers = [product_key(keys[name]) for name in vector["signers"]]
        ours = MultiSig.combine(committee, [k.sign_personal_message(message) for k in signers])
        theirs = b64(vector["signature_b64"])
        assert ours.serialize() == theirs
        parsed = MultiSig.parse(theirs)
        assert parsed == ours and parsed.serialize() == theirs
        assert parsed.verify(personal_message_digest(message)) == vector["address"]


# -- transactions ---------------------------------------------------------------------------------
class Sent(Exception):
    """Raised by the stub chain in place of executing: the transaction has been captured."""


class StubChain:
    """Answers the reads `K3sDaasPackage` makes while building a transaction, from the vectors'
    fixture, and captures the signed transaction in `execute` instead of sending it."""

    def __init__(self, fixture: dict[str, Any], gas: list[str], sender: str, need: int) -> None:
        self.package_id: str | None = None
        self.fixture = fixture
        self.sender = sender
        self.gas = [fixture["gas_coins"][name] for name in gas]
        # One coin covers everything; several are each too small, so all are used (in order).
        each = U64_MAX if len(self.gas) == 1 else need // len(self.gas) + 1
        self.balances = [each] * len(self.gas)
        shared = ("clock", "pool", "enclave_config", "stake_record", "enclave")
        self.shared = {
            fixture[n]["object_id"]: fixture[n]["initial_shared_version"] for n in shared
        }
        self.sent: tuple[bytes, tuple[bytes, ...]] | None = None

    async def list_owned_objects(self, owner: str, object_type: str) -> list[ObjectData]:
        assert (owner, object_type) == (self.sender, COIN_SUI_TYPE)
        return [
            ObjectData(
                c["object_id"],
                c["version"],
                COIN_SUI_TYPE,
                owner,
                False,
                {},
                digest=c["digest"],
                balance=b,
            )
            for c, b in zip(self.gas, self.balances, strict=True)
        ]

    async def reference_gas_price(self) -> int:
        return int(self.fixture["gas_price"])

    async def initial_shared_version(self, object_id: str) -> int:
        return int(self.shared[object_id])

    async def get_object(self, object_id: str) -> ObjectData | None:
        f = self.fixture
        pkg = f["package_id"]
        if object_id == f["admin_cap"]["object_id"]:
            cap = f["admin_cap"]
            return ObjectData(
                cap["object_id"],
                cap["version"],
                f"{pkg}::staking::AdminCap",
                self.sender,
                False,
                {"id": cap["object_id"]},
                digest=cap["digest"],
            )
        if object_id == f["seal_token"]["object_id"]:
            token = f["seal_token"]
            fields = {
                "id": token["object_id"],
                "token_hash": base64.b64encode(b"\x01" * 32).decode(),
                "owner": self.sender,
                "node_id": "",
                "stake_record": f["stake_record"]["object_id"],
                "stake_amount": "1000000000",
                "stake_type": 1,
                "permissions": ["pods:read"],
                "tier": 1,
                "issued_at": "4",
                "expires_at": "104",
                "enclave": f["enclave"]["object_id"],
            }
            return ObjectData(
                token["object_id"],
                token["version"],
                SealTokenView.type_for(pkg),
                self.sender,
                False,
                fields,
                digest=token["digest"],
            )
        raise AssertionError(f"unexpected read of {object_id}")

    def remember_shared(self, object_id: str, version: int) -> None:
        self.shared[object_id] = version

    async def execute(
        self, tx_bytes: bytes, signatures: tuple[bytes, ...], *, package_id: str | None = None
    ) -> Any:
        self.sent = (bytes(tx_bytes), tuple(signatures))
        raise Sent


Call = Callable[[K3sDaasPackage, Any, dict[str, Any]], Awaitable[Any]]
# Each transaction the generator writes, sent through the product's own method for it.
CALLS: dict[str, Call] = {
    "stake_and_create_worker_token": lambda p, k, a: p.stake_and_create_worker_token(
        k, a["amount"], a["node_id"]
    ),
    "stake_for_node": lambda p, k, a: p.stake_for_node(k, a["amount"], a["node_id"]),
    "create_worker_token": lambda p, k, a: p.create_worker_token(k, a["stake_record_id"]),
    "stake_for_user": lambda p, k, a: p.stake_for_user(k, int(a["amount"])),
    "create_user_token": lambda p, k, a: p.create_user_token(
        k, a["stake_record_id"], a["permissions"]
    ),
    "slash": lambda p, k, a: p.slash(k, a["stake_record_id"], a["amount"]),
    "rotate_token": lambda p, k, a: p.rotate_token(k, format_token(a["token_id"], b"\x07" * 32)),
    "revoke_token": lambda p, k, a: p.revoke_token(k, a["token_id"]),
    "request_unstake": lambda p, k, a: p.request_unstake(k, a["stake_record_id"]),
    "withdraw": lambda p, k, a: p.withdraw(k, a["stake_record_id"]),
    "set_thresholds": lambda p, k, a: p.set_thresholds(
        k, a["min_stake"], a["standard"], a["premium"]
    ),
    "update_pcrs": lambda p, k, a: p.update_pcrs(
        k, {i: bytes.fromhex(h) for i, h in enumerate(a["pcrs_hex"])}
    ),
    "register_enclave": lambda p, k, a: p.register_enclave(
        k, bytes.fromhex(a["document_hex"]), a["endpoint"], Tier(a["tier"])
    ),
    "update_enclave": lambda p, k, a: p.update_enclave(
        k, a["enclave_id"], bytes.fromhex(a["document_hex"]), a["endpoint"]
    ),
    "stake_for_user_secp256k1": lambda p, k, a: p.stake_for_user(k, int(a["amount"])),
    "stake_for_user_secp256r1": lambda p, k, a: p.stake_for_user(k, int(a["amount"])),
}
SPEND = {"stake_and_create_worker_token", "stake_for_node", "stake_for_user"}


def test_every_generated_transaction_is_checked(golden_vectors: dict[str, Any]) -> None:
    assert sorted(t["name"] for t in golden_vectors["transactions"]) == sorted(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_transaction_bytes_digest_and_signature(
    golden_vectors: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    vector = next(t for t in golden_vectors["transactions"] if t["name"] == name)
    fixture = golden_vectors["fixture"]
    key = golden_vectors["keys"][vector["sender_key"]]
    signer = product_key(key)
    assert signer.address == key["address"]
    secret = bytes.fromhex(fixture["secret_hex"])
    assert secret_commitment(secret).hex() == fixture["commitment_hex"]
    monkeypatch.setattr("k3s_daas.chain.package.new_secret", lambda: secret)

    args = vector["args"]
    spend = int(args["amount"]) if name.split("_secp")[0] in SPEND else 0
    chain = StubChain(fixture, vector["gas_coins"], key["address"], fixture["gas_budget"] + spend)
    deployment = Deployment(
        chain_id="golden",
        grpc_endpoints=[Endpoint.parse("127.0.0.1:1")],
        package_id=fixture["package_id"],
        pool_id=fixture["pool"]["object_id"],
        enclave_config_id=fixture["enclave_config"]["object_id"],
        clock_id=fixture["clock"]["object_id"],
        admin_cap_id=fixture["admin_cap"]["object_id"],
    )
    package = K3sDaasPackage(chain, deployment, gas_budget=fixture["gas_budget"])  # type: ignore[arg-type]  # StubChain: only the reads and execute the builders use
    with pytest.raises(Sent):
        await CALLS[name](package, signer, args)
    assert chain.sent is not None
    tx_bytes, signatures = chain.sent
    theirs = bytes.fromhex(vector["tx_bytes_hex"])

    assert tx_bytes.hex() == vector["tx_bytes_hex"], f"{name}: BCS differs from @mysten/sui"
    assert decode(theirs).serialize() == theirs  # pysui's BCS types read the SDK's bytes back
    assert transaction_digest(tx_bytes) == vector["digest"]
    intent_digest = blake2b256(INTENT_TRANSACTION + tx_bytes)
    assert intent_digest.hex() == vector["intent_digest_hex"]
    assert signatures == (b64(vector["signature_b64"]),)  # every scheme signs deterministically
    assert verify_transaction_signature(theirs, signatures[0]) == key["address"]


def test_transactions_are_signed_by_every_scheme(golden_vectors: dict[str, Any]) -> None:
    keys = golden_vectors["keys"]
    senders = {keys[t["sender_key"]]["scheme"] for t in golden_vectors["transactions"]}
    assert senders == set(SCHEMES)
