"""Errors of the devnet: server-side ones (each maps to one gRPC status in `services`) and the
two ways a transaction does not succeed (rejected before running, or failed while running)."""

from __future__ import annotations

from k3s_daas.seal.errors import K3sDaasError


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
    not_owner, insufficient_gas, unsupported_command, bad_argument."""

    reason = "invalid_transaction"


class ExecutionFailure(K3sDaasError):
    """A non-abort execution error (bad argument, type mismatch, unused value, gas): failed
    effects whose error starts with `kind` (Sui's ExecutionFailureStatus name)."""

    reason = "execution_failure"

    def __init__(self, message: str, kind: str = "CommandArgumentError") -> None:
        super().__init__(message)
        self.kind = kind
        self.command_index: int | None = None
