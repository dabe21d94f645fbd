"""K3s mode: per-node bootstrap tokens for `k3s agent`, cordon-and-delete on a slash,
through the Kubernetes API (the webhook files for kube-apiserver are in kube/k3s_config.py).

Uses lightkube's asyncio client (the `k3s` extra): every call is awaited on the master's event
loop, no thread. No K3s can run here: tests drive this against a recorded-shape fake
kube-apiserver (docs/kubernetes.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import yaml

from k3s_daas.kube.types import KubeError
from k3s_daas.log import get_logger
from k3s_daas.seal.errors import MissingExtraError

try:  # the `k3s` extra
    import httpx2
    from lightkube import AsyncClient, ConfigError, KubeConfig
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import Node, Secret
    from lightkube.types import PatchType
except ImportError:
    raise MissingExtraError("k3s", "K3s mode (cluster=k3s)") from None

log = get_logger("k3s_daas.kube.k3s")

BOOTSTRAP_NAMESPACE: Final = "kube-system"
BOOTSTRAP_TYPE: Final = "bootstrap.kubernetes.io/token"
BOOTSTRAP_GROUP: Final = "system:bootstrappers:k3s-daas:default-node-token"
NODE_LABEL: Final = "k3s-daas.io/node"
_ALPHABET: Final = string.ascii_lowercase + string.digits
_ATTEMPTS: Final = 3
REQUEST_TIMEOUT: Final = 10.0  # seconds per Kubernetes API call


class K3sApiError(KubeError):
    """The Kubernetes API refused or could not be reached (status only; bodies may hold secrets)."""

    reason = "k3s_api_error"


def ca_hash(ca_pem: bytes) -> str:
    """The `K10<hash>` part of a K3s secure token: SHA-256 of the cluster CA PEM, hex."""
    return hashlib.sha256(ca_pem).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _status(exc: httpx2.HTTPError) -> int | None:
    """The HTTP status of an answer the apiserver gave, None when it gave none."""
    return exc.response.status_code if isinstance(exc, httpx2.HTTPStatusError) else None


def _k3s_error(what: str, exc: httpx2.HTTPError | OSError) -> K3sApiError:
    status = _status(exc) if isinstance(exc, httpx2.HTTPError) else None
    if status is None:  # refused, TLS, timeout: no answer
        return K3sApiError(f"{what}: Kubernetes API unreachable ({exc.__class__.__name__})")
    return K3sApiError(f"{what}: Kubernetes API answered {status}")


class BootstrapTokenIssuer:
    """Mints short-lived `kube-system/bootstrap-token-<id>` Secrets, one per admitted worker."""

    def __init__(self, client: AsyncClient, ca_pem: bytes, ttl: timedelta) -> None:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        self._client = client
        self._hash = ca_hash(ca_pem)
        self._ttl = ttl

    def _secret(self, node_id: str, token_id: str, token_secret: str) -> Secret:
        expiration = (datetime.now(UTC) + self._ttl).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Secret(
            metadata=ObjectMeta(
                name=f"bootstrap-token-{token_id}",
                namespace=BOOTSTRAP_NAMESPACE,
                labels={NODE_LABEL: node_id},
            ),
            type=BOOTSTRAP_TYPE,
            stringData={
                "description": f"k3s-daas join token for node {node_id}",
                "token-id": token_id,
                "token-secret": token_secret,
                "expiration": expiration,
                "usage-bootstrap-authentication": "true",
                "usage-bootstrap-signing": "true",
                "auth-extra-groups": BOOTSTRAP_GROUP,
            },
        )

    async def issue(self, node_id: str) -> str:
        """Create the Secret and return `K10<ca-hash>::<id>.<secret>` (for that worker only)."""
        for _ in range(_ATTEMPTS):
            token_id, token_secret = _random(6), _random(16)
            body = self._secret(node_id, token_id, token_secret)
            try:
                await self._client.create(body)  # namespace: the metadata's
            except (httpx2.HTTPError, OSError) as exc:
                if isinstance(exc, httpx2.HTTPError) and _status(exc) == 409:
                    continue  # token id collision: draw another
                raise _k3s_error("creating the bootstrap token", exc) from None
            log.info("bootstrap_token_issued", node_id=node_id, token_id=token_id)
            return f"K10{self._hash}::{token_id}.{token_secret}"
        raise K3sApiError("could not find a free bootstrap token id")


class NodeRevoker:
    """On a revocation: delete the node's unused bootstrap tokens (so it cannot join again), then
    cordon the Node (spec.unschedulable) and delete it; a missing Node is fine."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _delete_tokens(self, node_id: str) -> None:
        """Every bootstrap token labelled with the node (one may already be gone: fine)."""
        names = [
            secret.metadata.name
            async for secret in self._client.list(
                Secret, namespace=BOOTSTRAP_NAMESPACE, labels={NODE_LABEL: node_id}
            )
            if secret.metadata is not None and secret.metadata.name
        ]
        for name in names:
            try:
                await self._client.delete(Secret, name, namespace=BOOTSTRAP_NAMESPACE)
            except httpx2.HTTPStatusError as exc:
                if exc.response.status_code != 404:
                    raise

    async def _revoke(self, node_id: str) -> bool:
        try:
            await self._delete_tokens(node_id)
        except (httpx2.HTTPError, OSError) as exc:
            raise _k3s_error(f"deleting the bootstrap tokens of {node_id}", exc) from None
        try:
            await self._client.patch(
                Node, node_id, {"spec": {"unschedulable": True}}, patch_type=PatchType.STRATEGIC
            )
            await self._client.delete(Node, node_id)
        except (httpx2.HTTPError, OSError) as exc:
            if isinstance(exc, httpx2.HTTPError) and _status(exc) == 404:
                return False
            raise _k3s_error(f"revoking node {node_id}", exc) from None
        return True

    async def revoke(self, node_id: str) -> bool:
        """True when a Node was cordoned and deleted, False when there was none."""
        deleted = await self._revoke(node_id)
        log.info("node_revoked", node_id=node_id, deleted=deleted)
        return deleted


@dataclass(frozen=True)
class ClusterApi:
    """A Kubernetes API client from an admin kubeconfig, with what K3s mode derives from it."""

    client: AsyncClient
    server: str
    ca_pem: bytes


def _cluster_ca(config: Any, ca_file: Path | None) -> bytes:
    """K3s's server CA file when given, else the kubeconfig's CA (inline data or a file)."""
    cluster = config.cluster
    try:
        if ca_file is not None:
            return ca_file.read_bytes()
        if cluster.certificate_auth_data:
            return base64.b64decode(cluster.certificate_auth_data, validate=True)
        if cluster.certificate_auth:
            return Path(config.abs_file(cluster.certificate_auth)).read_bytes()
    except OSError as exc:
        raise KubeError(f"cannot read the cluster CA: {exc.strerror}", reason="bad_ca") from None
    except (binascii.Error, ValueError):
        raise KubeError("the kubeconfig's certificate-authority-data is not base64",
                        reason="bad_ca") from None  # fmt: skip
    return b""


def connect_cluster(kubeconfig: Path, ca_file: Path | None = None) -> ClusterApi:
    """Load an admin kubeconfig (K3s writes /etc/rancher/k3s/k3s.yaml); the cluster CA (whose hash
    goes into every join token) is the kubeconfig's unless `ca_file` names K3s's server CA."""
    try:
        document = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ConfigError("not a kubeconfig mapping")
        config = KubeConfig.from_dict(document, fname=kubeconfig).get()
        if config is None or not config.cluster.server:
            raise ConfigError("no cluster server")
    except (ConfigError, OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
        raise KubeError(
            f"cannot use the kubeconfig {kubeconfig}: {str(exc)[:200]}", reason="bad_kubeconfig"
        ) from None
    ca_pem = _cluster_ca(config, ca_file)
    if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise KubeError(
            "the cluster CA is missing: the kubeconfig needs certificate-authority(-data) "
            "or pass the K3s server CA file",
            reason="bad_ca",
        )
    client = AsyncClient(config, timeout=httpx2.Timeout(REQUEST_TIMEOUT), trust_env=False)
    return ClusterApi(client=client, server=str(config.cluster.server), ca_pem=ca_pem)
