"""How the etcd store dials its cluster: `etcd://` URLs (DNS names or IPs, TLS options) and one
aetcd client per member, over plaintext or TLS gRPC.

One channel per member (not gRPC's multi-address target, which takes IP literals only and one
TLS name): each member's certificate is checked against its own name, and the store moves to the
next member when one stops answering. Keepalive pings find a member whose link went down while a
watch stream was open (etcd accepts pings every 5 s by default; 10 s is well inside).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from k3s_daas.seal.errors import MissingExtraError

try:  # the `etcd` extra
    import aetcd
    import aetcd.rpc
    import aetcd.watcher
    import grpc  # type: ignore[import-untyped]  # grpcio ships no hints
except ImportError:
    raise MissingExtraError("etcd", "an etcd:// store") from None

from k3s_daas.nautilus.store.base import StoreConfigError

#: gRPC reconnects within a second once a member is back (its default backoff grows to 120 s,
#: which would keep a recovered cluster unused long after the outage); keepalive finds a dead
#: link under an open watch within ~13 s.
CHANNEL_OPTIONS: Final = {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 3_000,
    "grpc.http2.max_pings_without_data": 0,
}
#: Query options of an etcd:// URL (besides `timeout`, which the store reads).
TLS_OPTIONS: Final = ("tls", "tls_ca", "tls_cert", "tls_key")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^({_LABEL}\.)*{_LABEL}$")


@dataclass(frozen=True)
class EtcdTls:
    """TLS to etcd: the CA that signed the members' certificates (None: the system's roots), and
    a client certificate and key when etcd asks for one (`--client-cert-auth`)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None

    def credentials(self) -> Any:
        """grpc.ChannelCredentials for a TLS channel."""
        return grpc.ssl_channel_credentials(self.ca, self.key, self.cert)


def parse_endpoints(netloc: str) -> list[tuple[str, int]]:
    """`h:p,h:p` -> [(h, p), ...]; each host a DNS name, an IPv4 or a bracketed IPv6 address."""
    endpoints = []
    for part in netloc.split(","):
        host, sep, port = part.strip().rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise StoreConfigError(f"etcd endpoint must be host:port, got {part!r}")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if len(host) > 253 or not _DNS_NAME.match(host.lower()):
                raise StoreConfigError(
                    f"etcd host {host!r} is neither an IP nor a DNS name"
                ) from None
        endpoints.append((host, int(port)))
    return endpoints


def _read(query: dict[str, str], name: str) -> bytes | None:
    path = query.get(name)
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StoreConfigError(f"etcd {name} {path}: {exc.strerror or exc}") from None


def parse_tls(query: dict[str, str]) -> EtcdTls | None:
    """`?tls_ca=PEM&tls_cert=PEM&tls_key=PEM` (files), or `?tls=true` for the system's roots."""
    flag = query.get("tls", "").lower()
    if flag not in ("", "true", "false", "1", "0"):
        raise StoreConfigError(f"etcd tls must be true or false, got {flag!r}")
    wanted = flag in ("true", "1") or any(k in query for k in TLS_OPTIONS[1:])
    if not wanted:
        return None
    if flag in ("false", "0"):
        raise StoreConfigError("etcd tls=false contradicts tls_ca / tls_cert / tls_key")
    if ("tls_cert" in query) != ("tls_key" in query):
        raise StoreConfigError("etcd tls_cert and tls_key go together (the client certificate)")
    return EtcdTls(_read(query, "tls_ca"), _read(query, "tls_cert"), _read(query, "tls_key"))


def parse_query(url: str) -> dict[str, str]:
    """The URL's query as {name: last value}."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


class MemberClient(aetcd.Client):  # type: ignore[misc]  # aetcd has no type hints
    """An aetcd client for one member; with `tls`, a TLS channel checked against its name."""

    def __init__(self, host: str, port: int, *, timeout: int, tls: EtcdTls | None) -> None:
        dial = f"[{host}]" if ":" in host else host
        super().__init__(host=dial, port=port, timeout=timeout, options=dict(CHANNEL_OPTIONS))
        self._tls = tls
        self.name = f"{dial}:{port}"

    async def connect(self) -> None:
        if self._tls is None:
            await super().connect()
            return
        if self._connected.is_set():
            return
        # aetcd dials plaintext only: the same set-up over a TLS channel (no auth tokens).
        self.channel = aetcd.rpc.secure_channel(
            self.name, self._tls.credentials(), options=self._options.items()
        )
        self.kvstub = aetcd.rpc.KVStub(self.channel)
        self.clusterstub = aetcd.rpc.ClusterStub(self.channel)
        self.leasestub = aetcd.rpc.LeaseStub(self.channel)
        self.maintenancestub = aetcd.rpc.MaintenanceStub(self.channel)
        self._watcher = aetcd.watcher.Watcher(
            aetcd.rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata
        )
        self._connected.set()


def member_clients(
    endpoints: list[tuple[str, int]], *, timeout: int, tls: EtcdTls | None
) -> list[Any]:
    """One client per member, in the URL's order."""
    return [MemberClient(host, port, timeout=timeout, tls=tls) for host, port in endpoints]
