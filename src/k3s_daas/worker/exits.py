"""How the worker agent ends: its exit codes and the error that carries one (light to import,
so `up` and the CLI can read them without the chain stack)."""

from __future__ import annotations

from typing import Final

from k3s_daas.seal.errors import K3sDaasError

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_REVOKED: Final = 3  # stake slashed / token revoked / expired: the node must not run


class WorkerExit(K3sDaasError):
    """The agent stops with `code` and `reason` (printed as one line by the CLI)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.code = code
