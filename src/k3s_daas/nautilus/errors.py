"""Errors of the master, each with a reason code and the HTTP status it is answered with.

Every client-visible failure becomes `{"error": reason, "message": ...}` with `status`; the
validator's reasons are the ones DESIGN §4 lists, so a worker can tell why it was refused.
"""

from __future__ import annotations

from typing import Final

from k3s_daas.seal.errors import K3sDaasError

#: Reason code -> HTTP status for token validation failures (register/heartbeat/leave answers).
VALIDATION_STATUS: Final[dict[str, int]] = {
    "invalid_format": 401,
    "not_found": 401,
    "wrong_type": 401,
    "bad_secret": 401,
    "expired": 403,
    "stake_slashed": 403,
    "stake_withdrawing": 403,
    "stake_too_low": 403,
    "owner_mismatch": 403,
    "token_revoked": 403,
    "chain_unavailable": 503,
}

#: Reasons that end a worker's registration for good (the stake or token is gone for it).
TERMINAL_REASONS: Final = frozenset(
    {"stake_slashed", "stake_withdrawing", "stake_too_low", "expired", "token_revoked",
     "not_found", "owner_mismatch"}
)  # fmt: skip


class MasterError(K3sDaasError):
    """A request the master refuses; `status` is the HTTP status of the answer."""

    reason = "bad_request"
    status = 400

    def __init__(self, message: str, *, reason: str | None = None, status: int | None = None):
        super().__init__(message, reason=reason)
        if status is not None:
            self.status = status


class TokenRejected(MasterError):
    """The Seal token failed validation; `reason` is one of VALIDATION_STATUS's keys."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(
            message or _MESSAGES.get(reason, reason),
            reason=reason,
            status=VALIDATION_STATUS.get(reason, 401),
        )


class StartupError(MasterError):
    """The master cannot start (bad config, enclave registration refused, ...)."""

    reason = "startup_failed"
    status = 500


_MESSAGES: Final[dict[str, str]] = {
    "invalid_format": "token is not 'seal_' + 128 lower-case hex digits",
    "not_found": "no SealToken (or StakeRecord) with that id on chain",
    "wrong_type": "the object is not a SealToken of the configured package",
    "bad_secret": "the token's secret does not open the on-chain commitment",
    "expired": "the token has expired (epoch >= expires_at)",
    "stake_slashed": "the stake behind the token was slashed",
    "stake_withdrawing": "the stake behind the token is being (or was) withdrawn",
    "stake_too_low": "the stake's balance is below the pool's minimum",
    "owner_mismatch": "the stake's staker is not the token's owner",
    "token_revoked": "the token was revoked on chain",
    "chain_unavailable": "the chain cannot be reached and no fresh cached answer exists",
}


def message_for(reason: str) -> str:
    """The human sentence for a validation reason code."""
    return _MESSAGES.get(reason, reason)
