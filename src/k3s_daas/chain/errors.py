"""Errors of the chain client: one base (`ChainError`) with a reason code per failure kind.

Callers catch `ChainError` (or `K3sDaasError`); the master tells "chain down" (fail closed after
the cache's staleness window) from "chain says no" (`MoveAbortError`, `TransactionRejected`).
"""

from __future__ import annotations

from enum import StrEnum

from k3s_daas.seal.constants import ABORT_NAMES
from k3s_daas.seal.errors import K3sDaasError


class ChainError(K3sDaasError):
    """Anything the chain client raises on purpose."""

    reason = "chain_error"


class ChainUnavailable(ChainError):
    """Every endpoint failed or timed out (after the bounded retries reads get)."""

    reason = "chain_unavailable"


class TransactionOutcomeUnknown(ChainUnavailable):
    """A write reached an endpoint but no answer came back, and no endpoint knows its digest yet.

    The signed bytes may still execute; query `get_transaction(digest)` before building another.
    """

    reason = "tx_outcome_unknown"

    def __init__(self, message: str, *, digest: str) -> None:
        super().__init__(message)
        self.digest = digest


class ObjectNotFound(ChainError):
    """The object does not exist (or was deleted)."""

    reason = "not_found"


class WrongObjectType(ChainError):
    """The object exists but is not the exact Move type expected (e.g. a look-alike package)."""

    reason = "wrong_type"


class MalformedObject(ChainError):
    """The object has the right type but its JSON fields do not parse: fail closed."""

    reason = "malformed_object"


class TransactionRejected(ChainError):
    """The node refused the transaction before executing it (bad signature, stale object, ...).

    Nothing happened on chain and no gas was charged. `status` is the gRPC status name; `kind`
    is `stale_object`, `objects_locked` or `rejected` (see `transport.rejection_kind`).
    """

    reason = "tx_rejected"

    def __init__(
        self, message: str, *, status: str = "", kind: str = "rejected", reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status
        self.kind = kind

    @property
    def stale_object(self) -> bool:
        """An owned input (usually the gas coin) is no longer at the version named: rebuild."""
        return self.kind == "stale_object"

    @property
    def objects_locked(self) -> bool:
        """Another transaction holds an owned input until it finalizes (or the epoch ends)."""
        return self.kind == "objects_locked"


class TransactionFailed(ChainError):
    """Executed but failed for a reason other than a Move abort (gas, argument error): gas paid."""

    reason = "tx_failed"

    def __init__(self, message: str, *, digest: str, kind: str = "") -> None:
        super().__init__(message)
        self.digest = digest
        self.kind = kind


class MoveAbortError(TransactionFailed):
    """A Move abort, decoded: module, function, abort code and the constant's name."""

    reason = "move_abort"

    def __init__(
        self,
        *,
        digest: str,
        package: str,
        module: str,
        function: str,
        code: int,
        ours: bool,
    ) -> None:
        self.package = package
        self.module = module
        self.function = function
        self.code = code
        #: e.g. "E_NOT_STAKER"; None for aborts outside our package (framework, other packages)
        self.name: str | None = ABORT_NAMES.get(code) if ours else None
        label = self.name or f"abort code {code}"
        super().__init__(
            f"{module}::{function} aborted with {label} (code {code})",
            digest=digest,
            kind="MoveAbort",
        )


class FailedCheck(StrEnum):
    """Which link of the chain of commitments did not hold (`UnverifiedChainData.check`)."""

    MALFORMED = "malformed"  # bytes that do not decode as the Sui type they claim to be
    UNKNOWN_EPOCH = "unknown_epoch"  # no trusted committee for the summary's epoch
    WRONG_EPOCH = "wrong_epoch"  # summary, certificate and expected epoch disagree
    BAD_SIGNERS = "bad_signers"  # empty signer set, or an index outside the committee
    NO_QUORUM = "no_quorum"  # the signers hold less than 2f+1 of the stake
    BAD_SIGNATURE = "bad_signature"  # the aggregate signature does not verify
    WRONG_ANCHOR = "wrong_anchor"  # the first summary is not the pinned checkpoint
    WRONG_SEQUENCE = "wrong_sequence"  # not the successor of the last verified summary
    BROKEN_LINK = "broken_link"  # previous_digest (or a known digest) does not match
    WRONG_COMMITTEE = "wrong_committee"  # a served committee differs from the trusted one
    BAD_COMMITTEE = "bad_committee"  # an end-of-epoch committee that cannot be used
    CONTENTS_MISMATCH = "contents_mismatch"  # contents bytes not the summary's content_digest
    EFFECTS_MISMATCH = "effects_mismatch"  # effects not listed in the verified contents
    EVENTS_MISMATCH = "events_mismatch"  # events bytes not the effects' events_digest
    OBJECT_MISMATCH = "object_mismatch"  # object not the version and digest the effects wrote
    STALE_OBJECT = "stale_object"  # an older version than the last one a verified checkpoint wrote
    MISSING_CHECKPOINT = "missing_checkpoint"  # a checkpoint the node's own tip covers, not served
    WRONG_CHAIN = "wrong_chain"  # the endpoint's chain id is not the deployment's


class UnverifiedChainData(ChainError):
    """What an endpoint sent does not verify against the trusted committee: refuse it and move
    to the next endpoint. `check` names the link that failed; `reason` stays the wire word."""

    reason = "unverified_chain_data"

    def __init__(self, message: str, *, check: FailedCheck) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check


__all__ = [
    "ChainError",
    "ChainUnavailable",
    "FailedCheck",
    "MalformedObject",
    "MoveAbortError",
    "ObjectNotFound",
    "TransactionFailed",
    "TransactionOutcomeUnknown",
    "TransactionRejected",
    "UnverifiedChainData",
    "WrongObjectType",
]
