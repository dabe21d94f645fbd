"""The root of the product's exception hierarchy, and the domain errors of `seal`.

Like httpx, callers catch one base class (`K3sDaasError`) or a precise subclass; every error
carries a short machine-readable `reason` code that HTTP answers and CLI lines reuse.
"""

from __future__ import annotations


class K3sDaasError(Exception):
    """Base of every error the product raises on purpose."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class TokenFormatError(K3sDaasError, ValueError):
    """A Seal token string that is not `seal_` + 64 hex object id + 64 hex secret."""

    reason = "invalid_format"


class PermissionFormatError(K3sDaasError, ValueError):
    """A permission string that is not `resource:action`."""

    reason = "invalid_permission"


class MissingExtraError(K3sDaasError):
    """A feature whose optional dependencies (a pyproject extra) are not installed."""

    reason = "missing_extra"

    def __init__(self, extra: str, feature: str) -> None:
        super().__init__(f"{feature} needs the {extra!r} extra: pip install 'k3s-daas[{extra}]'")
        self.extra = extra
