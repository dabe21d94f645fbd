"""Errors of the master, each with a `Reason` word and the HTTP status it is answered with.

Every client-visible failure becomes `{"error": reason, "message": ...}` with `status`; the words,
their statuses and their sentences are the protocol's (`seal.protocol.Reason`), so a worker can
tell why it was refused.
"""

from __future__ import annotations

from pydantic import ValidationError

from k3s_daas.seal.encoding import first_error
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.protocol import Reason


class MasterError(K3sDaasError):
    """A request the master refuses; `status` is the HTTP status of the answer (by default the
    reason's own), `message` by default the reason's sentence."""

    reason: Reason = Reason.BAD_REQUEST

    def __init__(
        self, message: str | None = None, *, reason: Reason | None = None,
        status: int | None = None,
    ) -> None:  # fmt: skip
        reason = reason or type(self).reason
        super().__init__(message or reason.message, reason=reason)
        self.status = status if status is not None else reason.status


class TokenRejected(MasterError):
    """The Seal token failed validation; `reason` says which check."""

    def __init__(self, reason: Reason, message: str | None = None) -> None:
        super().__init__(message, reason=reason)


class StartupError(MasterError):
    """The master cannot start (bad config, enclave registration refused, ...)."""

    reason = Reason.STARTUP_FAILED


def invalid_request(exc: ValidationError | ValueError) -> MasterError:
    """One line about the first problem, never echoing the input value."""
    if not isinstance(exc, ValidationError):  # the body is not JSON at all
        return MasterError(f"body: Invalid JSON: {exc}"[:300], reason=Reason.INVALID_REQUEST)
    return MasterError(first_error(exc)[:300], reason=Reason.INVALID_REQUEST)
