"""A chain endpoint (`host:port` plaintext, `https://host[:port]` TLS), parsed once.

Endpoints arrive as text from devnet.json, settings and flags; they are parsed into `Endpoint`
where that text is loaded (see `Deployment`), so a bad one is reported there, not at first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from k3s_daas.chain.errors import ChainError


@dataclass(frozen=True)
class Endpoint:
    """One full node: `host:port` (plaintext) or `https://host[:port]` (TLS)."""

    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, text: str | Endpoint) -> Endpoint:
        """`host:port`, `grpc://host:port` (plaintext) or `https://host[:port]`, `grpcs://...`
        (TLS, port 443 by default); ChainError(reason="bad_endpoint") for anything else."""
        if isinstance(text, Endpoint):
            return text
        if not isinstance(text, str):
            raise ChainError("an endpoint is host:port or https://host:port", reason="bad_endpoint")
        raw = text.strip()
        if "://" not in raw:
            raw = "http://" + raw
        try:
            parts = urlsplit(raw)
            port = parts.port
        except ValueError as exc:
            raise ChainError(f"bad endpoint {text!r}: {exc}", reason="bad_endpoint") from exc
        if parts.scheme not in ("http", "https", "grpc", "grpcs") or not parts.hostname:
            raise ChainError(
                f"bad endpoint {text!r}: use host:port or https://host:port",
                reason="bad_endpoint",
            )
        tls = parts.scheme in ("https", "grpcs")
        if port is None:
            if not tls:
                raise ChainError(f"endpoint {text!r} needs a port", reason="bad_endpoint")
            port = 443
        return cls(parts.hostname, port, tls)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal
        return f"{'https://' if self.tls else ''}{host}:{self.port}"

    def __structlog__(self) -> str:
        """How structlog's JSON renderer shows it: the same text as `str`."""
        return str(self)


def parse_endpoints(endpoints: str | Endpoint | Sequence[str | Endpoint]) -> list[Endpoint]:
    """A non-empty list of endpoints (one string is one endpoint)."""
    items: list[str | Endpoint] = (
        [endpoints] if isinstance(endpoints, str | Endpoint) else list(endpoints)
    )
    if not items:
        raise ChainError("at least one chain endpoint is required", reason="bad_endpoint")
    return [Endpoint.parse(e) for e in items]


__all__ = ["Endpoint", "parse_endpoints"]
