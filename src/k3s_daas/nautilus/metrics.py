"""Prometheus metrics of one master instance (a registry per app, so tests never collide).

The names are what deploy/prometheus/alerts.yml and deploy/grafana/k3s-daas.json query
(tests/unit/test_deploy_monitoring.py checks every name they use is exported here).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from k3s_daas.telemetry import process_and_build

__all__ = ["CONTENT_TYPE_LATEST", "LATENCY_BUCKETS", "Metrics", "process_and_build"]

#: Seconds, from a cache hit to a slow chain or store round trip.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """What an operator watches: validations, cache, chain latency, heartbeats, registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.validations = Counter(
            "nautilus_validations", "Token validations by result", ["result"], registry=r
        )
        self.cache = Counter("nautilus_cache", "Validation cache lookups", ["outcome"], registry=r)
        process_and_build(r)
        self.http_latency = Histogram(
            "nautilus_http_request_seconds",
            "HTTP requests by route template (unmatched: no route), method and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_decisions = Counter(
            "nautilus_webhook_decisions",
            "kube-apiserver webhook answers (tokenreview: authenticated, unauthenticated, "
            "unavailable; subjectaccessreview: allowed, denied, no_opinion)",
            ["review", "decision"],
            registry=r,
        )
        self.webhook_latency = Histogram(
            "nautilus_webhook_seconds",
            "kube-apiserver webhook answer time",
            ["review"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.store_latency = Histogram(
            "nautilus_store_seconds", "Store calls by operation", ["op"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.store_errors = Counter(
            "nautilus_store_errors", "Store calls that failed, by operation", ["op"], registry=r
        )
        self.audit_latency = Histogram(
            "nautilus_audit_append_seconds", "Audit log appends (hash-chained, in the store)",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.audit_errors = Counter(
            "nautilus_audit_errors", "Audit log appends that failed", registry=r
        )
        self.revocation_failures = Counter(
            "nautilus_revocation_failures",
            "Revocation records not yet durable in the store (retried until they are)",
            registry=r,
        )
        self.chain_up = Gauge(
            "nautilus_chain_up",
            "1 when the chain's tip was read within `staleness` seconds, else 0",
            registry=r,
        )
        self.chain_tip = Gauge("nautilus_chain_tip", "The chain's last checkpoint read", registry=r)
        self.chain_latency = Histogram(
            "nautilus_chain_seconds",
            "Chain round trips of the validator",
            ["call"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.batch_size = Histogram(
            "nautilus_chain_batch_size",
            "Objects per BatchGetObjects",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=r,
        )
        self.heartbeats = Counter(
            "nautilus_heartbeats", "Heartbeats by result", ["result"], registry=r
        )
        self.registrations = Counter(
            "nautilus_registrations", "Registrations by result", ["result"], registry=r
        )
        self.audit_dropped = Counter(
            "nautilus_audit_dropped",
            "Best-effort audit entries of allowed reads not written (store_error, queue_full)",
            ["reason"],
            registry=r,
        )
        self.audit_queued = Gauge(
            "nautilus_audit_queued",
            "Audit entries waiting to be written in the background, by queue (reads: allowed "
            "admin reads; liveness: heartbeats' state changes, e.g. 10,000 after a restart)",
            ["queue"],
            registry=r,
        )
        self.rate_limited = Counter(
            "nautilus_rate_limited",
            "Requests answered 429 rate_limited (their client spent its budget of refusals)",
            registry=r,
        )
        self.workers = Gauge("nautilus_workers", "Registry size by state", ["state"], registry=r)
        self.revocations = Counter(
            "nautilus_revocations", "Workers revoked by chain events", ["reason"], registry=r
        )
        self.cluster_actions = Counter(
            "nautilus_cluster_actions",
            "Kubernetes API actions of K3s mode (join tokens, node teardown)",
            ["action", "result"],
            registry=r,
        )
        self.watcher_lag = Gauge(
            "nautilus_watcher_lag_checkpoints", "Checkpoints the watcher is behind", registry=r
        )
        self.watcher_checkpoint = Gauge(
            "nautilus_watcher_checkpoint", "Last checkpoint the watcher processed", registry=r
        )
        self.watcher_mode = Gauge(
            "nautilus_watcher_mode",
            "How the watcher follows the chain: 1 for the current mode (stream or poll)",
            ["mode"],
            registry=r,
        )
        self.watcher_filled = Counter(
            "nautilus_watcher_filled_checkpoints",
            "Checkpoints read by number because the stream did not deliver them "
            "(catch_up: committed while not subscribed; gap: the stream skipped them)",
            ["cause"],
            registry=r,
        )
        self.watcher_restarts = Counter(
            "nautilus_watcher_restarts",
            "Watcher restarts by reason (checkpoint_pruned: the node no longer has a checkpoint "
            "the watcher needs)",
            ["reason"],
            registry=r,
        )

    def observe_store(self, op: str, seconds: float, ok: bool) -> None:
        """One store call (nautilus.store.timed.TimedStore)."""
        self.store_latency.labels(op).observe(seconds)
        if not ok:
            self.store_errors.labels(op).inc()

    def observe_audit(self, seconds: float, ok: bool) -> None:
        """One audit append."""
        self.audit_latency.observe(seconds)
        if not ok:
            self.audit_errors.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
