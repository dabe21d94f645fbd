"""k3s-daas: admit K3s workers and kubectl users by stake on Sui (Seal tokens)."""

from __future__ import annotations

__version__: str  # declared for type checkers; computed by `__getattr__` below

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """`__version__` is read from the installed metadata on first use: `importlib.metadata`
    costs ~30 ms, which kubectl's exec plugin (`k3s-daas exec-credential`) must not pay."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("k3s-daas")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
