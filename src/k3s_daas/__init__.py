"""k3s-daas: admit K3s workers and kubectl users by stake on Sui (Seal tokens)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("k3s-daas")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
