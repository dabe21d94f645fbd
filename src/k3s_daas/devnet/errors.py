"""Errors of the devnet: server-side ones and the two ways a transaction does not succeed
(rejected before running, or failed while running), and the gRPC status and message each one
becomes (`rpc_error`, the codes and texts of a Sui full node)."""

from __future__ import annotations

from typing import Final

from grpclib.const import Status

from k3s_daas.seal.errors import K3sDaasError

#: Sui's NonRecoverableTransactionError text (crates/sui-rpc-api/src/error.rs).
INPUT_ERRORS: Final = (
    "Transaction execution failed due to issues with transaction inputs, please review the "
    "errors and try again: {}."
)


class DevnetError(K3sDaasError):
    """Base of the devnet's own errors (server, ledger, genesis, faucet)."""

    reason = "devnet_error"


class BadRequest(DevnetError):
    """A request the client must fix: bad id, unknown read-mask path, absurd page size."""

    reason = "invalid_argument"


class NotFound(DevnetError):
    """The object, transaction, checkpoint or function does not exist on this devnet."""

    reason = "not_found"


class LedgerError(DevnetError):
    """The ledger file is unusable (wrong schema, not a devnet ledger)."""

    reason = "ledger_error"


class PortInUse(DevnetError):
    """A port the devnet was told to listen on is taken (the message names the flag)."""

    reason = "port_in_use"


class InvalidTransaction(K3sDaasError):
    """Rejected before execution (nothing changes, no gas charged): INVALID_ARGUMENT.

    Reasons: bad_signature, signer_not_sender, bad_bcs, stale_object, object_not_found,
    not_owner, insufficient_gas, unsupported_command, bad_argument. `stale_object` and
    `object_not_found` carry Sui's UserInputError text as their message."""

    reason = "invalid_transaction"


class ExecutionFailure(K3sDaasError):
    """A non-abort execution error (bad argument, type mismatch, unused value, gas): failed
    effects whose error starts with `kind` (Sui's ExecutionFailureStatus name)."""

    reason = "execution_failure"

    def __init__(self, message: str, kind: str = "CommandArgumentError") -> None:
        super().__init__(message)
        self.kind = kind
        self.command_index: int | None = None


def rpc_error(exc: K3sDaasError) -> tuple[Status, str]:
    """The gRPC status and message a Sui full node gives for the same failure."""
    if isinstance(exc, NotFound):
        return Status.NOT_FOUND, exc.message
    if isinstance(exc, BadRequest):
        return Status.INVALID_ARGUMENT, exc.message
    if isinstance(exc, InvalidTransaction):
        if exc.reason in ("bad_signature", "signer_not_sender"):
            return Status.INVALID_ARGUMENT, f"Invalid user signature: {exc.message}"
        if exc.reason == "bad_bcs":
            return Status.INVALID_ARGUMENT, f"invalid transaction: {exc.message}"
        return Status.INVALID_ARGUMENT, INPUT_ERRORS.format(exc.message)
    return Status.INTERNAL, exc.message
