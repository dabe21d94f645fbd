"""The wire protocol: the signed encodings never change, the words carry their statuses, and the
typed bodies and answers round-trip between the worker's and the master's side."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from k3s_daas.seal.claims import Claims
from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.protocol import (
    PATHS,
    HeartbeatAnswer,
    HeartbeatRequest,
    LeaveAnswer,
    NodeStatus,
    Reason,
    RegisterAnswer,
    RegisterRequest,
    TokenAccepted,
    TokenRefused,
    ValidateBatch,
    ValidateRequest,
    answer_bytes,
    answer_signing_input,
    signed_answer_json,
    signing_bytes,
)

NONCE = "ab" * 16


def test_signing_bytes_are_byte_for_byte_the_v1_encoding() -> None:
    unsigned = {"node_id": "worker-1", "timestamp": 1_700_000_000_000, "nonce": NONCE,
                "running_pods": 3, "resource_usage": {"cpu": 0.5}}  # fmt: skip
    assert signing_bytes("heartbeat", bytes(range(32)), "f" * 64, unsigned) == (
        b'k3s-daas/v1/heartbeat\n{"enclave":"000102030405060708090a0b0c0d0e0f101112131415161718'
        b'191a1b1c1d1e1f","kind":"heartbeat","node_id":"worker-1","nonce":"abababababababababab'
        b'abababababab","resource_usage":{"cpu":0.5},"running_pods":3,"timestamp":1700000000000,'
        b'"token":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}'
    )


def test_answer_bytes_are_byte_for_byte_the_v1_encoding() -> None:
    answer = {"status": "left", "node_id": "worker-1", "enclave_signature": "ignored"}
    assert answer_bytes("leave", "cd" * 16, answer) == (
        b'k3s-daas/v1/answer/leave\ncdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\n{"node_id":"worker-1",'
        b'"status":"left"}'
    )
    typed = LeaveAnswer(node_id="worker-1", enclave_signature="ignored")
    assert answer_bytes("leave", "cd" * 16, typed.unsigned()) == answer_bytes(
        "leave", "cd" * 16, answer
    )


def test_a_typed_register_answer_signs_as_the_hand_built_one_did() -> None:
    fields: dict[str, Any] = {"node_id": "w", "owner": "0x" + "a" * 64, "stake": 1_000, "tier": "standard",
              "permissions": ["pods:read"], "expires_at_epoch": 100, "enclave_id": "0x1",
              "heartbeat_interval": 10.0, "master_time_ms": 5}  # fmt: skip
    hand_built = {"status": "registered", **fields, "state": "registered",
                  "stake_status": "active", "cluster": "standalone", "join_token": None,
                  "k3s_server": None}  # fmt: skip
    typed = RegisterAnswer(**fields, state=NodeStatus.REGISTERED, cluster="standalone")
    assert typed.unsigned() == hand_built
    assert answer_bytes("register", NONCE, typed.unsigned()) == answer_bytes(
        "register", NONCE, hand_built
    )
    # The worker parses what the master sent, signature included.
    sent = typed.model_copy(update={"enclave_signature": "c2ln"}).model_dump(mode="json")
    assert RegisterAnswer.model_validate(sent).enclave_signature == "c2ln"
    with pytest.raises(ValidationError):
        HeartbeatAnswer.model_validate(sent)  # another kind's answer is refused


def test_reasons_carry_status_message_and_terminality() -> None:
    terminal = {r.value for r in Reason if r.terminal}
    assert terminal == {"stake_slashed", "stake_withdrawing", "stake_too_low", "token_revoked",
                        "not_found", "expired", "owner_mismatch", "wrong_type"}  # fmt: skip
    revokes = {r.value for r in Reason if r.revokes}
    assert revokes == {"stake_slashed", "stake_withdrawing", "stake_too_low", "expired",
                       "owner_mismatch"}  # fmt: skip
    statuses = {r.value: r.status for r in Reason}
    for word in ("invalid_format", "not_found", "wrong_type", "bad_secret", "missing_token",
                 "bad_signature", "unsupported_signature", "unauthorized"):  # fmt: skip
        assert statuses[word] == 401, word
    for word in ("expired", "stake_slashed", "stake_withdrawing", "stake_too_low",
                 "owner_mismatch", "token_revoked", "not_node_token", "signer_mismatch",
                 "node_mismatch"):  # fmt: skip
        assert statuses[word] == 403, word
    assert (statuses["replayed"], statuses["node_conflict"], statuses["not_registered"]) == (
        409, 409, 404
    )  # fmt: skip
    assert statuses["chain_unavailable"] == statuses["k3s_unavailable"] == 503
    assert statuses["body_too_large"] == 413
    assert all(r.message and r.value == str(r) == f"{r}" for r in Reason)
    assert Reason.parse("stake_slashed") is Reason.STAKE_SLASHED and Reason.parse("x") is None


def test_stake_status_reasons_match_the_validator() -> None:
    assert Reason.for_stake_status(2) is Reason.STAKE_SLASHED
    assert Reason.for_stake_status(1) is Reason.STAKE_WITHDRAWING
    assert Reason.for_stake_status(3) is Reason.STAKE_WITHDRAWING


def test_node_statuses() -> None:
    assert [s.value for s in NodeStatus] == [
        "registered", "ready", "not_ready", "evicted", "revoked", "left"
    ]  # fmt: skip
    assert {s for s in NodeStatus if s.is_live} == {"registered", "ready", "not_ready"}


def test_request_bodies_keep_what_was_set_and_refuse_the_unknown() -> None:
    body = HeartbeatRequest(node_id="n1", timestamp=1, nonce=NONCE, signature="", running_pods=2)
    assert body.unsigned() == {"node_id": "n1", "timestamp": 1, "nonce": NONCE, "running_pods": 2}
    signed = body.model_copy(update={"signature": "c2ln"})
    assert signed.sent() == {**body.unsigned(), "signature": "c2ln"}
    assert HeartbeatRequest.model_validate(signed.sent()) == signed
    assert (RegisterRequest.kind, HeartbeatRequest.kind) == ("register", "heartbeat")
    assert PATHS["register"] == "/api/v1/register-worker"
    valid = {"node_id": "n1", "timestamp": 1, "nonce": NONCE, "signature": ""}
    assert RegisterRequest.model_validate(valid).unsigned() == {
        "node_id": "n1", "timestamp": 1, "nonce": NONCE
    }  # fmt: skip
    for bad in ({"running_pods": 1}, {"node_id": "Not_A_Label"}, {"nonce": "XYZ"}):
        with pytest.raises(ValidationError):
            RegisterRequest.model_validate({**valid, **bad})


def test_validate_bodies_and_results() -> None:
    with pytest.raises(ValidationError):
        ValidateRequest(token="a", tokens=["b"])
    with pytest.raises(ValidationError):
        ValidateRequest(tokens=["x" * 257])
    claims = Claims(owner="0x" + "a" * 64, node_id="n1", stake_amount=1_000,
                    permissions=("pods:read",), tier=Tier.STANDARD, expires_at_epoch=9,
                    token_id="0x1", stake_record_id="0x2", enclave_id="0x3",
                    checkpoint=42)  # fmt: skip
    accepted = TokenAccepted.of(claims)
    refused = TokenRefused(reason=Reason.EXPIRED, message=Reason.EXPIRED.message)
    batch = ValidateBatch(results=[accepted, refused]).model_dump(mode="json")
    assert batch["results"][0] == {"valid": True, "username": "system:node:n1",
                                   "groups": ["system:nodes", "system:authenticated"],
                                   "claims": claims.model_dump(mode="json"),
                                   "checkpoint": 42}  # fmt: skip
    assert batch["results"][1] == {"valid": False, "reason": "expired",
                                   "message": Reason.EXPIRED.message}  # fmt: skip
    assert ValidateBatch.model_validate(batch).results == [accepted, refused]


def test_unsigned_answers_encode_as_their_json_dump() -> None:
    """`SignedAnswer.unsigned` hands its fields over as they are (str enums included): the
    canonical bytes the enclave signs are those of pydantic's JSON dump, for every kind."""
    stake: dict[str, Any] = {"node_id": "w", "owner": "0x" + "a" * 64, "stake": 2**63,
                             "tier": "premium", "permissions": ["nodes:join", "pods:read"],
                             "expires_at_epoch": 7, "enclave_id": "é\u2028", "master_time_ms": 5,
                             "heartbeat_interval": 1e-7}  # fmt: skip
    answers = [
        HeartbeatAnswer(**stake, state=NodeStatus.READY, epoch=3, next_heartbeat_s=4.75),
        HeartbeatAnswer(**stake, state=NodeStatus.NOT_READY, epoch=0, next_heartbeat_s=1e16),
        RegisterAnswer(
            **stake,
            state=NodeStatus.REGISTERED,
            cluster="k3s",
            join_token="K10::x",
            k3s_server="https://10.0.0.1:6443",
            enclave_signature="c2ln",
        ),
        RegisterAnswer(**stake, state=NodeStatus.REGISTERED, cluster="standalone"),
        LeaveAnswer(node_id="w", enclave_signature="c2ln"),
    ]
    for answer in answers:
        dumped = answer.model_dump(mode="json", exclude={"enclave_signature"})
        assert answer.unsigned() == dumped
        assert canonical_json(answer.unsigned()) == canonical_json(dumped)
        assert "enclave_signature" not in answer.unsigned()


def test_a_signed_answer_as_sent_verifies_from_its_parsed_fields() -> None:
    """The master sends the canonical JSON it signed with the signature appended; the worker
    re-derives the signed bytes from the parsed object (floats and ints as they were)."""
    key = Ed25519PrivateKey.generate()
    answer = LeaveAnswer(node_id="worker-1")
    canonical = canonical_json(answer.unsigned())
    body = signed_answer_json(canonical, key.sign(answer_signing_input("leave", "ab", canonical)))
    data = json.loads(body)
    assert list(data)[-1] == "enclave_signature"
    key.public_key().verify(base64.b64decode(data["enclave_signature"]),
                            answer_bytes("leave", "ab", data))  # fmt: skip
    assert LeaveAnswer.model_validate(data).node_id == "worker-1"
    with pytest.raises(ValueError):
        signed_answer_json(b"{}", b"sig")
