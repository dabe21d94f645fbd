"""Configuration of the master (`K3S_DAAS_NAUTILUS_*` env, then CLI flags on top)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from k3s_daas.serving import HttpLimits
from k3s_daas.settings import Settings


def _home() -> Path:
    return Settings().home


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$")


def _is_name_or_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return True
    except ValueError:
        return len(value) <= 253 and _DNS_NAME.match(value.lower()) is not None


class ValidatorSettings(BaseModel):
    """The validator's knobs. NautilusSettings is built from them (same fields, same env names),
    so the master passes its settings as they are and a benchmark builds one cheaply."""

    model_config = ConfigDict(extra="forbid")

    cache_size: int = Field(default=100_000, ge=1)
    cache_ttl: float = Field(default=30.0, gt=0, description="positive cache TTL, seconds")
    negative_cache_size: int = Field(default=10_000, ge=1)
    negative_ttl: float = Field(default=2.0, ge=0)
    staleness: float = Field(
        default=60.0,
        ge=0,
        description="a cached positive is served only while its last chain confirmation is at "
        "most this old when the answer is sent (it outlives cache_ttl only when the chain fails)",
    )
    chain_timeout: float = Field(
        default=3.0,
        gt=0,
        description="the most one request waits for the chain, in total (every read it makes); "
        "also each gRPC call's timeout",
    )
    epoch_ttl: float = Field(default=2.0, gt=0, description="how long the epoch is cached")
    pool_ttl: float = Field(default=10.0, gt=0, description="how long min_stake is cached")
    batch_window_ms: float = Field(default=2.0, ge=0)
    max_batch: int = Field(default=100, ge=1, le=1000)
    coalesce: bool = Field(default=True, description="concurrent misses share one fetch")
    absent_ttl: float = Field(
        default=300.0,
        ge=0,
        description="seconds an object id found to hold no SealToken (not_found, wrong_type) is "
        "refused without a chain read, whatever the secret (forgotten at once when the chain "
        "creates a SealToken with it); 0 disables",
    )
    absent_cache_size: int = Field(default=10_000, ge=1, description="object ids remembered")
    recheck_interval: float = Field(
        default=300.0,
        gt=0,
        description="a registered worker's token is read from the chain again at most this long "
        "after its last read (also on expiry, or when the watcher lags); between reads its "
        "heartbeats cost no chain read, revocations coming from the watcher. The master raises "
        "it to at least 10 x heartbeat_interval",
    )


class NautilusSettings(BaseSettings, ValidatorSettings):
    """Every knob of the master; defaults run it on the embedded devnet with SQLite."""

    model_config = SettingsConfigDict(env_prefix="K3S_DAAS_NAUTILUS_", extra="ignore")

    deployment: Path | None = Field(default=None, description="devnet.json (package ids)")
    chain: list[str] = Field(default_factory=list, description="gRPC endpoints (override)")
    verify_chain: bool | None = Field(
        default=None,
        description="prove every chain answer from the deployment's validator committee "
        "(chain/verified.py); unset: on when the deployment names a committee (the devnet's "
        "does); required with enclave_kind=nitro",
    )
    chain_ca_file: Path | None = Field(
        default=None, description="CA bundle for https:// chain endpoints (default: the system's)"
    )
    data_dir: Path = Field(default_factory=lambda: _home() / "nautilus")
    store_url: str | None = Field(default=None, description="default sqlite:///<data>/store.db")
    host: str = Field(default="127.0.0.1", description="address (or name) HTTPS listens on")
    port: int = Field(default=8443, ge=0, le=65535)
    advertised_url: str | None = Field(
        default=None,
        description="https://name[:port] workers and kubectl use, put on chain "
        "(default https://<host>:<port>)",
    )
    tls_san: list[str] = Field(
        default_factory=list,
        description="more DNS names or IPs for the certificate (it always names localhost, "
        "127.0.0.1, the bind address and the advertised URL's host)",
    )
    webhook_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="serve the kube-apiserver webhooks here only, to clients with a certificate "
        "from the master's CA (mTLS); unset: on the main port, unauthenticated",
    )
    operator_key: Path | None = Field(default=None, description="default <data>/operator.key")
    data_key_file: Path | None = Field(
        default=None,
        description="simulated enclave's data key; replicas share one (<data>/data.key)",
    )
    enclave_kind: Literal["simulated", "nitro"] = "simulated"
    kms_wrapped_key_file: Path | None = Field(
        default=None,
        description="nitro: the data key wrapped by AWS KMS (`nautilus wrap-key`; "
        "<data>/data.key.kms)",
    )
    kms_key_id: str | None = Field(
        default=None, description="nitro: the KMS key (id, ARN or alias) Decrypt must use"
    )
    kms_region: str | None = Field(
        default=None, description="nitro: the KMS key's region (default: AWS_REGION)"
    )
    kms_endpoint_url: str | None = Field(
        default=None,
        description="nitro: KMS endpoint URL (default: the region's; a VPC endpoint, a test KMS)",
    )
    tier: Literal["basic", "standard", "premium"] = "basic"

    cluster: Literal["standalone", "k3s"] = Field(
        default="standalone", description="where workers run (nautilus/cluster.py)"
    )
    k3s_kubeconfig: Path | None = Field(default=None, description="K3s admin kubeconfig")
    k3s_server_url: str | None = Field(
        default=None, description="URL workers give `k3s agent --server` (default: kubeconfig's)"
    )
    k3s_ca_file: Path | None = Field(
        default=None, description="K3s server CA for the K10 hash (default: kubeconfig's CA)"
    )
    join_token_ttl: float = Field(default=600.0, ge=60, le=86_400, description="seconds")

    heartbeat_interval: float = Field(default=10.0, gt=0)
    missed_heartbeats: int = Field(default=3, ge=1, description="intervals before not_ready")
    evict_after: int = Field(default=30, ge=1, description="intervals before evicted")
    skew_seconds: float = Field(default=60.0, gt=0)
    future_skew_seconds: float = Field(
        default=2.0, gt=0, le=60,
        description="how far ahead of the master's clock a heartbeat's timestamp may be (its "
        "replay guard after a restart covers this much; worker clocks need NTP)",
    )  # fmt: skip
    liveness_flush_interval: float = Field(
        default=1.0, gt=0, le=10,
        description="seconds between batched writes of routine heartbeats' state (one per "
        "replica, not one per heartbeat)",
    )  # fmt: skip
    liveness_refresh: float = Field(
        default=5.0, ge=0, le=60,
        description="seconds a shard of routine heartbeats' state may wait before it is "
        "written (other replicas see last seen this much later; the replay guard does not wait)",
    )  # fmt: skip
    nonce_ttl: float = Field(default=600.0, gt=0, description="replay memory (> 2 x skew)")

    shared_cache_url: str | None = Field(
        default=None, description="redis://host:port/db: validation cache shared by replicas"
    )
    watcher_poll_interval: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="seconds between GetCheckpoint polls at the head, when the node serves no "
        "checkpoint stream (UNIMPLEMENTED)",
    )
    watcher_stream_retry: float = Field(
        default=60.0, gt=0, description="seconds before a node's missing stream is tried again"
    )
    ready_max_lag: int = Field(
        default=100,
        ge=0,
        description="/readyz fails while the chain watcher is more than this many checkpoints "
        "behind the chain's tip",
    )
    max_validate_batch: int = Field(default=100, ge=1, le=1000)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    rate_limit: float = Field(
        default=10.0,
        ge=0,
        description="refused requests per second a client may make once its burst is spent "
        "(per address, or per credential the master already accepted); 0 disables",
    )
    rate_limit_burst: int = Field(
        default=100, ge=0, description="refused requests a client may make at once; 0 disables"
    )
    rate_limit_clients: int = Field(
        default=10_000, ge=1, description="clients whose buckets are kept (least recent dropped)"
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=4096, description="request line + headers; more is a 431"
    )
    max_headers: int = Field(default=100, ge=16, description="more headers is a 431")
    header_timeout: float = Field(default=10.0, gt=0, description="seconds for a request head")
    body_timeout: float = Field(default=30.0, gt=0, description="seconds for a request body")
    send_timeout: float = Field(default=30.0, gt=0, description="an unread answer is dropped")
    keep_alive: int = Field(default=30, ge=1, description="idle seconds between requests")
    shutdown_grace: float = Field(
        default=2.0, ge=0, le=30, description="seconds in-flight requests get after SIGTERM"
    )

    @model_validator(mode="after")
    def _recheck_at_least_ten_heartbeats(self) -> NautilusSettings:
        """A re-check more often than every 10 heartbeats would make heartbeats chain-bound."""
        self.recheck_interval = max(self.recheck_interval, 10 * self.heartbeat_interval)
        return self

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _is_name_or_ip(value):
            raise ValueError(f"host {value!r} is neither an IP address nor a DNS name")
        return value

    @field_validator("tls_san")
    @classmethod
    def _sans(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _is_name_or_ip(value):
                raise ValueError(f"TLS SAN {value!r} is neither an IP address nor a DNS name")
        return values

    @field_validator("advertised_url")
    @classmethod
    def _advertised(cls, value: str | None) -> str | None:
        """An https:// origin (no path): it goes on chain and into every worker's pool."""
        if value is None:
            return None
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme != "https"
            or not parts.hostname
            or not _is_name_or_ip(parts.hostname)
            or parts.path not in ("", "/")
            or parts.query
            or port == -1
        ):
            raise ValueError(f"advertised URL {value!r} must be https://name[:port]")
        return value.rstrip("/")

    @property
    def http_limits(self) -> HttpLimits:
        """The limits of both listeners (k3s_daas.serving)."""
        return HttpLimits(
            max_header_bytes=self.max_header_bytes,
            max_headers=self.max_headers,
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            send_timeout=self.send_timeout,
            keep_alive=self.keep_alive,
            shutdown_grace=self.shutdown_grace,
        )

    @property
    def store(self) -> str:
        return self.store_url or f"sqlite:///{(self.data_dir / 'store.db').resolve()}"

    @property
    def operator_key_path(self) -> Path:
        return self.operator_key or self.data_dir / "operator.key"

    @property
    def data_key_path(self) -> Path:
        return self.data_key_file or self.data_dir / "data.key"

    @property
    def kms_wrapped_key_path(self) -> Path:
        return self.kms_wrapped_key_file or self.data_dir / "data.key.kms"

    @property
    def info_path(self) -> Path:
        return self.data_dir / "nautilus.json"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin.token"

    @property
    def replica_id_path(self) -> Path:
        """This replica's name for its liveness keys (kept across restarts: its guard too)."""
        return self.data_dir / "replica.id"
