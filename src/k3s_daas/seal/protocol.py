"""The wire protocol between a worker, an API client and the master: words, bodies, signatures.

Pure and shared by both sides (the worker must not import `nautilus`), so the two can never
disagree. It names every reason the master answers with (`Reason`: its HTTP status, its sentence
and whether it ends a worker), the node statuses (`NodeStatus`), the worker agent's phases
(`WorkerPhase`), and the typed request and answer bodies of register, heartbeat, leave and
validate.

A signed request is signed with the token owner's Sui key as a personal message over
`signing_bytes(...)`; the bytes bind the request kind, the master's enclave public key (so a
request cannot be relayed to another master), the token's fingerprint, the node, a timestamp and
a nonce (replay). Answers are signed by the enclave key over `answer_bytes(...)`, which includes
the request nonce.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from k3s_daas.seal import constants as c
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.encoding import b64encode, canonical_json

DOMAIN: Final = b"k3s-daas/v1/"
MAX_BODY_BYTES: Final = 64 * 1024
MAX_TOKEN_CHARS: Final = 256
#: A serialized Sui signature in base64: 97-98 bytes for a key, more for MultiSig and zkLogin.
MAX_SIGNATURE_CHARS: Final = 8192
Kind = Literal["register", "heartbeat", "leave"]
ClusterMode = Literal["standalone", "k3s"]
#: Where each signed request is sent (the master's routes and the worker's client).
PATHS: Final[dict[Kind, str]] = {
    "register": "/api/v1/register-worker",
    "heartbeat": "/api/v1/nodes/heartbeat",
    "leave": "/api/v1/nodes/leave",
}
VALIDATE_PATH: Final = "/api/v1/validate"
_NODE_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NONCE_RE = re.compile(r"[0-9a-f]{32,64}")


# -- words ------------------------------------------------------------------------------------
class Reason(StrEnum):
    """Why the master refused (or a node left): the one word HTTP answers, Kubernetes `Status`,
    kubectl columns, CLI errors and `up` all show. Each carries the HTTP status it is answered
    with, a human sentence, whether it ends a worker for good (`terminal`: its stake or token is
    gone for it), and whether it comes from chain state (`revokes`: the master revokes the
    token's worker at once, without waiting for the chain event)."""

    status: int
    message: str
    terminal: bool
    revokes: bool

    def __new__(
        cls, word: str, status: int, message: str, terminal: bool = False, revokes: bool = False
    ) -> Reason:
        member = str.__new__(cls, word)
        member._value_ = word
        member.status = status
        member.message = message
        member.terminal = terminal
        member.revokes = revokes
        return member

    @classmethod
    def parse(cls, word: str) -> Reason | None:
        """The member for `word`, or None for a word the protocol does not know."""
        member = cls._value2member_map_.get(word)
        return member if isinstance(member, cls) else None

    @classmethod
    def for_stake_status(cls, status: int) -> Reason:
        """Why a StakeRecord that is not active refuses its tokens."""
        return cls.STAKE_SLASHED if status == c.STATUS_SLASHED else cls.STAKE_WITHDRAWING

    # Token validation, in the order the validator checks (word, status, message, terminal,
    # revokes).
    INVALID_FORMAT = "invalid_format", 401, "token is not 'seal_' + 128 lower-case hex digits"
    NOT_FOUND = "not_found", 401, "no SealToken (or StakeRecord) with that id on chain", True
    WRONG_TYPE = "wrong_type", 401, "the object is not a SealToken of the configured package", True
    BAD_SECRET = "bad_secret", 401, "the token's secret does not open the on-chain commitment"
    EXPIRED = "expired", 403, "the token has expired (epoch >= expires_at)", True, True
    STAKE_SLASHED = "stake_slashed", 403, "the stake behind the token was slashed", True, True
    STAKE_WITHDRAWING = (
        "stake_withdrawing", 403, "the stake behind the token is being (or was) withdrawn",
        True, True,
    )  # fmt: skip
    STAKE_TOO_LOW = (
        "stake_too_low",
        403,
        "the stake's balance is below the pool's minimum",
        True,
        True,
    )
    OWNER_MISMATCH = (
        "owner_mismatch",
        403,
        "the stake's staker is not the token's owner",
        True,
        True,
    )
    TOKEN_REVOKED = "token_revoked", 403, "the token was revoked on chain", True
    CHAIN_UNAVAILABLE = (
        "chain_unavailable", 503,
        "the chain cannot be reached and no fresh cached answer exists",
    )  # fmt: skip
    UNVERIFIED_CHAIN_DATA = (
        "unverified_chain_data", 503,
        "the chain endpoints' answers do not verify against the trusted validator committee",
    )  # fmt: skip

    # Signed requests, in the order the master checks them.
    INVALID_REQUEST = "invalid_request", 400, "the request is not well-formed"
    BODY_TOO_LARGE = "body_too_large", 413, "the request body is too large"
    HEADERS_TOO_LARGE = (
        "headers_too_large", 431, "the request's headers are too large or too many",
    )  # fmt: skip
    REQUEST_TIMEOUT = "request_timeout", 408, "the request did not arrive in time"
    MISSING_TOKEN = "missing_token", 401, "the X-Seal-Token header is required"
    STALE_REQUEST = "stale_request", 400, "timestamp is too far from the master's clock"
    NOT_NODE_TOKEN = "not_node_token", 403, "a user token cannot register a node"
    BAD_SIGNATURE = (
        "bad_signature",
        401,
        "the signature does not verify over this request for this master",
    )
    UNSUPPORTED_SIGNATURE = (
        "unsupported_signature",
        401,
        "the chain's full node cannot verify this signature scheme",
    )
    SIGNER_MISMATCH = "signer_mismatch", 403, "the request is not signed by the token's owner"
    NODE_MISMATCH = "node_mismatch", 403, "the stake is for another node"
    REPLAYED = "replayed", 409, "this nonce was already used"
    NODE_CONFLICT = "node_conflict", 409, "the node is registered by another staker"
    NOT_REGISTERED = "not_registered", 404, "the node is not registered with this master"
    K3S_UNAVAILABLE = "k3s_unavailable", 503, "the K3s API could not mint a join token"

    # The rest of the API.
    BATCH_TOO_LARGE = "batch_too_large", 400, "too many tokens in one batch"
    RATE_LIMITED = (
        "rate_limited", 429,
        "too many refused requests from this client; retry after Retry-After seconds",
    )  # fmt: skip
    UNAUTHORIZED = "unauthorized", 401, "admin bearer token required"
    INVALID_NONCE = "invalid_nonce", 400, "nonce must be hex (at most 64 bytes)"
    BAD_REQUEST = "bad_request", 400, "the request is refused"
    METHOD_NOT_ALLOWED = "method_not_allowed", 405, "method not allowed"
    HTTP_ERROR = "http_error", 400, "the HTTP request is refused"
    INTERNAL = "internal", 500, "internal error"
    STARTUP_FAILED = "startup_failed", 500, "the master cannot start"

    # Why a node changed state without a request (never answered on their own).
    MISSED_HEARTBEATS = "missed_heartbeats", 404, "no heartbeat within the timeout"
    GRACEFUL_LEAVE = "graceful_leave", 404, "the worker left the cluster"


class NodeStatus(StrEnum):
    """A worker's state in the master's registry (and in kubectl's STATUS column).

    registered -> ready (first heartbeat) -> not_ready (heartbeats missed) -> evicted; revoked
    (the chain took the stake or token away) and left (graceful leave) end a registration too.
    """

    REGISTERED = "registered"
    READY = "ready"
    NOT_READY = "not_ready"
    EVICTED = "evicted"
    REVOKED = "revoked"
    LEFT = "left"

    @property
    def is_live(self) -> bool:
        """Registered, ready or not ready: the node holds its name (others may not take it)."""
        return self in _LIVE


_LIVE: Final = frozenset({NodeStatus.REGISTERED, NodeStatus.READY, NodeStatus.NOT_READY})


class WorkerPhase(StrEnum):
    """Where the worker agent is in its lifecycle (its state file's `status`, `up`'s table)."""

    STARTING = "starting"  # the agent has not written its state yet (shown by `up`)
    NEW = "new"
    FUNDING = "funding"
    STAKING = "staking"
    MINTING = "minting"
    MINTED = "minted"
    ATTESTING = "attesting"
    REGISTERING = "registering"
    REGISTERED = "registered"
    READY = "ready"
    LEFT = "left"
    REVOKED = "revoked"
    FAILED = "failed"


# -- signed requests --------------------------------------------------------------------------
class SignedBody(BaseModel):
    """Fields common to every signed request; unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[Kind]

    node_id: str = Field(min_length=1, max_length=63)
    timestamp: int = Field(ge=0, description="Unix time in milliseconds")
    nonce: str = Field(description="32-64 lower-case hex digits, fresh per request")
    signature: str = Field(
        max_length=MAX_SIGNATURE_CHARS, description="base64 serialized Sui signature (any scheme)"
    )

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
        """The fields the signature covers: those set, except `signature` itself."""
        return self.model_dump(exclude={"signature"}, exclude_unset=True)

    def sent(self) -> dict[str, Any]:
        """The JSON object to send: the fields set (an absent optional field stays absent)."""
        return self.model_dump(exclude_unset=True)


class RegisterRequest(SignedBody):
    """`POST /api/v1/register-worker`: admit the token's node."""

    kind: ClassVar[Kind] = "register"


class HeartbeatRequest(SignedBody):
    """`POST /api/v1/nodes/heartbeat`: the node is alive (its usage is informational only)."""

    kind: ClassVar[Kind] = "heartbeat"

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
    """`POST /api/v1/nodes/leave`: the node leaves for good (graceful)."""

    kind: ClassVar[Kind] = "leave"


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
    return answer_signing_input(kind, request_nonce, canonical_json(payload))


def answer_signing_input(kind: Kind, request_nonce: str, canonical: bytes) -> bytes:
    """`answer_bytes` of an answer whose canonical JSON (`canonical`) is already made."""
    return DOMAIN + b"answer/" + kind.encode() + b"\n" + request_nonce.encode() + b"\n" + canonical


def signed_answer_json(canonical: bytes, signature: bytes) -> bytes:
    """The answer as sent: its canonical JSON (what was signed, so encoded once) with
    `enclave_signature` added last; the receiver re-derives the signed bytes from the fields."""
    if not (canonical.startswith(b"{") and canonical.endswith(b"}")) or canonical == b"{}":
        raise ValueError("an answer is a non-empty JSON object")
    return canonical[:-1] + b',"enclave_signature":"' + b64encode(signature).encode() + b'"}'


# -- answers to signed requests ---------------------------------------------------------------
class SignedAnswer(BaseModel):
    """An answer of the master to a signed request, itself signed by the enclave (each kind
    ends with `enclave_signature`); unknown fields are rejected (both sides run this module)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str

    def unsigned(self) -> dict[str, Any]:
        """The JSON object the enclave signs: the answer without `enclave_signature`. Its fields
        as they are (an answer holds only JSON values and str enums, which `canonical_json`
        writes as their strings): a third of `model_dump`'s cost, once per heartbeat."""
        return {k: v for k, v in self.__dict__.items() if k != "enclave_signature"}


class _StakeAnswer(SignedAnswer):
    """What the master knows about the node and its stake, in register and heartbeat answers."""

    node_id: str
    state: NodeStatus
    owner: str
    stake: int
    stake_status: Literal["active"] = "active"
    tier: str
    permissions: list[str]
    expires_at_epoch: int
    enclave_id: str
    heartbeat_interval: float
    master_time_ms: int


class RegisterAnswer(_StakeAnswer):
    """`registered`; in K3s mode with the join token and server for `k3s agent`."""

    status: Literal["registered"] = "registered"
    cluster: ClusterMode
    join_token: str | None = None
    k3s_server: str | None = None
    enclave_signature: str = ""


class HeartbeatAnswer(_StakeAnswer):
    """`acknowledged`, with the chain's epoch and when to beat next."""

    status: Literal["acknowledged"] = "acknowledged"
    epoch: int
    next_heartbeat_s: float
    enclave_signature: str = ""


class LeaveAnswer(SignedAnswer):
    """`left`: the node is out of the registry's live set."""

    status: Literal["left"] = "left"
    node_id: str
    enclave_signature: str = ""


class ErrorAnswer(BaseModel):
    """Every refusal: `error` is a `Reason` word (or a product error's reason for a 503)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    error: str
    message: str


# -- validate ---------------------------------------------------------------------------------
class ValidateRequest(BaseModel):
    """`POST /api/v1/validate`: one token or a batch (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str | None = Field(default=None, max_length=MAX_TOKEN_CHARS)
    tokens: list[str] | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> ValidateRequest:
        if (self.token is None) == (self.tokens is None):
            raise ValueError("give exactly one of 'token' or 'tokens'")
        if self.tokens is not None and any(len(t) > MAX_TOKEN_CHARS for t in self.tokens):
            raise ValueError(f"tokens are at most {MAX_TOKEN_CHARS} characters")
        return self


class TokenAccepted(BaseModel):
    """A valid token: who it authenticates as, and its claims."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valid: Literal[True] = True
    username: str
    groups: list[str]
    claims: Claims
    checkpoint: int | None = Field(
        default=None,
        description="the verified checkpoint as of which the token and its stake were current "
        "(None: the master reads the chain without verifying it)",
    )

    @classmethod
    def of(cls, claims: Claims) -> TokenAccepted:
        return cls(
            username=claims.username,
            groups=claims.groups,
            claims=claims,
            checkpoint=claims.checkpoint,
        )


class TokenRefused(BaseModel):
    """An invalid token: the reason word and its sentence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valid: Literal[False] = False
    reason: Reason
    message: str


ValidateResult = TokenAccepted | TokenRefused


class ValidateBatch(BaseModel):
    """The answer to a batch: one result per token, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    results: list[ValidateResult]
