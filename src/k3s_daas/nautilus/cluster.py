"""Where admitted workers run, chosen by `cluster` in the master's settings.

- `standalone`: the master's own registry is the cluster (kubectl talks to the master). There is
  no join token, and a revocation needs nothing beyond the registry record.
- `k3s`: a real K3s server. Each registration gets a short-lived bootstrap token (a
  `kube-system/bootstrap-token-<id>` Secret) that goes to that worker only, inside the enclave-
  signed registration answer. A revoked worker's unused bootstrap tokens are deleted and its Node
  is cordoned and deleted. That teardown runs in the background with retries: the registry has
  already revoked the node (the webhooks deny it) and must not wait on the apiserver.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final, Protocol

from k3s_daas.kube.types import KubeError
from k3s_daas.log import get_logger
from k3s_daas.nautilus.errors import MasterError, StartupError
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.retry import Backoff, Retry
from k3s_daas.seal.errors import MissingExtraError
from k3s_daas.seal.protocol import ClusterMode, Reason

if TYPE_CHECKING:  # K3s mode's client is the `k3s` extra: imported only when cluster=k3s
    from k3s_daas.kube.k3s import ClusterApi

log = get_logger(__name__)

TEARDOWN_ATTEMPTS: Final = 6
TEARDOWN_CAP: Final = 10.0  # seconds: the longest wait between two teardown attempts
CLOSE_GRACE_S: Final = 5.0


@dataclass(frozen=True)
class Join:
    """What a worker needs to run `k3s agent`: the join token and the server it dials."""

    token: str  # K10<ca-hash>::<id>.<secret>; never logged
    server: str


class Cluster(Protocol):
    """The Kubernetes side of admission and revocation."""

    @property
    def mode(self) -> ClusterMode:
        """What register answers carry as `cluster`."""
        ...

    async def admit(self, node_id: str) -> Join | None:
        """Called after a registration is recorded; None when workers need no join token."""
        ...

    def revoked(self, node_id: str, reason: str) -> None:
        """Called (synchronously) when the registry revokes a node; must not block."""
        ...

    async def close(self) -> None: ...


class StandaloneCluster:
    """The registry is the cluster: nothing to mint, nothing to tear down."""

    mode: Final[ClusterMode] = "standalone"

    async def admit(self, node_id: str) -> Join | None:
        del node_id
        return None

    def revoked(self, node_id: str, reason: str) -> None:
        del node_id, reason

    async def close(self) -> None:
        return None


class K3sCluster:
    """Bootstrap tokens on admission, cordon-and-delete on revocation, against a K3s server."""

    mode: Final[ClusterMode] = "k3s"

    def __init__(
        self,
        api: ClusterApi,
        metrics: Metrics,
        *,
        token_ttl: timedelta,
        server: str | None = None,
        retry_delay: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.api = api
        self.server = server or api.server
        self.metrics = metrics
        self.retry_delay = retry_delay
        self._sleep = sleep
        self._rng = rng
        from k3s_daas.kube.k3s import BootstrapTokenIssuer, NodeRevoker

        self._issuer = BootstrapTokenIssuer(api.client, api.ca_pem, token_ttl)
        self._revoker = NodeRevoker(api.client)
        self._pending: set[asyncio.Task[None]] = set()

    async def admit(self, node_id: str) -> Join | None:
        try:
            token = await self._issuer.issue(node_id)
        except KubeError as exc:
            self.metrics.cluster_actions.labels("join_token", "error").inc()
            log.warning("join token not issued", node=node_id, error=exc.message)
            raise MasterError(
                "the K3s API could not mint a join token; retry later",
                reason=Reason.K3S_UNAVAILABLE,
            ) from None
        self.metrics.cluster_actions.labels("join_token", "ok").inc()
        return Join(token=token, server=self.server)

    def revoked(self, node_id: str, reason: str) -> None:
        task = asyncio.create_task(self._teardown(node_id, reason), name=f"revoke-{node_id}")
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _teardown(self, node_id: str, reason: str) -> None:
        retry = Retry(Backoff(self.retry_delay, TEARDOWN_CAP), sleep=self._sleep, rng=self._rng)
        for attempt in range(1, TEARDOWN_ATTEMPTS + 1):
            try:
                deleted = await self._revoker.revoke(node_id)
            except KubeError as exc:
                log.warning("node teardown failed", node=node_id, attempt=attempt,
                            error=exc.message)  # fmt: skip
                await retry.wait()
                continue
            self.metrics.cluster_actions.labels("node_revoke", "ok").inc()
            log.info("node torn down", node=node_id, reason=reason, node_deleted=deleted)
            return
        self.metrics.cluster_actions.labels("node_revoke", "error").inc()
        log.error("node teardown gave up; delete the Node by hand", node=node_id, reason=reason)

    async def drain(self) -> None:
        """Wait for the teardowns under way (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), CLOSE_GRACE_S)
        for task in list(self._pending):
            task.cancel()
        await self.api.client.close()


def _standalone(settings: NautilusSettings, metrics: Metrics) -> Cluster:
    del settings, metrics
    return StandaloneCluster()


def _k3s(settings: NautilusSettings, metrics: Metrics) -> Cluster:
    if settings.k3s_kubeconfig is None:
        raise StartupError("cluster=k3s needs k3s_kubeconfig (the K3s admin kubeconfig)")
    try:
        from k3s_daas.kube.k3s import connect_cluster

        api = connect_cluster(settings.k3s_kubeconfig, settings.k3s_ca_file)
    except (KubeError, MissingExtraError) as exc:
        raise StartupError(exc.message) from None
    return K3sCluster(
        api,
        metrics,
        token_ttl=timedelta(seconds=settings.join_token_ttl),
        server=settings.k3s_server_url,
    )


CLUSTERS: Final[dict[str, Callable[[NautilusSettings, Metrics], Cluster]]] = {
    "standalone": _standalone,
    "k3s": _k3s,
}


def open_cluster(settings: NautilusSettings, metrics: Metrics) -> Cluster:
    """The cluster backend the settings name."""
    return CLUSTERS[settings.cluster](settings, metrics)
