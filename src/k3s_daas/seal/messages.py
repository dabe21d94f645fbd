"""Signed requests between a worker and the master: bodies and their canonical signing bytes.

Pure and shared by both sides (the worker must not import `nautilus`). A request is signed with
the token owner's Sui key as a personal message over `signing_bytes(...)`; the bytes bind the
request kind, the master's enclave public key (so a request cannot be relayed to another master),
the token's fingerprint, the node, a timestamp and a nonce (replay). Answers are signed by the
enclave key over `answer_bytes(...)`, which includes the request nonce.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DOMAIN = b"k3s-daas/v1/"
MAX_BODY_BYTES = 64 * 1024
Kind = Literal["register", "heartbeat", "leave"]
_NODE_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NONCE_RE = re.compile(r"[0-9a-f]{32,64}")


def canonical_json(data: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, ASCII only: one byte string per value, on every platform."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


class SignedBody(BaseModel):
    """Fields common to every signed request; unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: str = Field(min_length=1, max_length=63)
    timestamp: int = Field(ge=0, description="Unix time in milliseconds")
    nonce: str = Field(description="32-64 lower-case hex digits, fresh per request")
    signature: str = Field(max_length=200, description="base64 Sui signature (97 bytes)")

    @field_validator("node_id")
    @classmethod
    def _node(cls, value: str) -> str:
        if not _NODE_RE.fullmatch(value):
            raise ValueError("node_id must be a DNS label")
        return value

    @field_validator("nonce")
    @classmethod
    def _nonce(cls, value: str) -> str:
        if not _NONCE_RE.fullmatch(value):
            raise ValueError("nonce must be 32-64 lower-case hex digits")
        return value

    def unsigned(self) -> dict[str, Any]:
        """The fields the signature covers: those sent, except `signature` itself."""
        return self.model_dump(exclude={"signature"}, exclude_unset=True)


class RegisterRequest(SignedBody):
    pass


class HeartbeatRequest(SignedBody):
    running_pods: int = Field(default=0, ge=0, le=100_000)
    resource_usage: dict[str, float] = Field(default_factory=dict, max_length=16)

    @field_validator("resource_usage")
    @classmethod
    def _usage(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            if not re.fullmatch(r"[a-z_]{1,32}", key) or not 0 <= number <= 1e12:
                raise ValueError("resource_usage keys are short names with non-negative numbers")
        return value


class LeaveRequest(SignedBody):
    pass


REQUEST_MODELS: dict[str, type[SignedBody]] = {
    "register": RegisterRequest,
    "heartbeat": HeartbeatRequest,
    "leave": LeaveRequest,
}


def signing_bytes(
    kind: Kind, enclave_public_key: bytes, token_fingerprint: str, unsigned: dict[str, Any]
) -> bytes:
    """What the token owner signs (as a Sui personal message) for a request of `kind`."""
    payload = {
        **unsigned,
        "kind": kind,
        "enclave": enclave_public_key.hex(),
        "token": token_fingerprint,
    }
    return DOMAIN + kind.encode() + b"\n" + canonical_json(payload)


def answer_bytes(kind: Kind, request_nonce: str, answer: dict[str, Any]) -> bytes:
    """What the enclave signs for its answer (the answer without `enclave_signature`)."""
    payload = {k: v for k, v in answer.items() if k != "enclave_signature"}
    return (
        DOMAIN
        + b"answer/"
        + kind.encode()
        + b"\n"
        + request_nonce.encode()
        + b"\n"
        + canonical_json(payload)
    )
