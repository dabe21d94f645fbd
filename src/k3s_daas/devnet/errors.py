"""Errors of the devnet server side; each maps to one gRPC status (`services.grpc_status_for`)."""

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
