"""K3s mode: per-node bootstrap tokens for `k3s agent`, cordon-and-delete on a slash,
and the kube-apiserver webhook configuration that points K3s at the master.

Uses the official `kubernetes` client (synchronous, so calls run in a worker thread). No K3s can
run here: tests drive this against a recorded-shape fake kube-apiserver (docs/kubernetes.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from urllib3.exceptions import HTTPError
from yaml import YAMLError

from k3s_daas.kube.kubeconfig import write_private_json
from k3s_daas.kube.tls import ClientCertificate
from k3s_daas.kube.types import KubeError
from k3s_daas.kube.webhooks import SUBJECTACCESSREVIEW_PATH, TOKENREVIEW_PATH
from k3s_daas.log import get_logger

if TYPE_CHECKING:  # the client is imported in K3s mode only (~30 MB a standalone master saves)
    from kubernetes.client.exceptions import ApiException

log = get_logger("k3s_daas.kube.k3s")

BOOTSTRAP_NAMESPACE: Final = "kube-system"
BOOTSTRAP_TYPE: Final = "bootstrap.kubernetes.io/token"
BOOTSTRAP_GROUP: Final = "system:bootstrappers:k3s-daas:default-node-token"
NODE_LABEL: Final = "k3s-daas.io/node"
_ALPHABET: Final = string.ascii_lowercase + string.digits
_ATTEMPTS: Final = 3
REQUEST_TIMEOUT: Final = 10.0  # seconds per Kubernetes API call
CACHE_TTL: Final = "10s"  # how long kube-apiserver may reuse a webhook answer


class K3sApiError(KubeError):
    """The Kubernetes API refused or could not be reached (status only; bodies may hold secrets)."""

    reason = "k3s_api_error"


def ca_hash(ca_pem: bytes) -> str:
    """The `K10<hash>` part of a K3s secure token: SHA-256 of the cluster CA PEM, hex."""
    return hashlib.sha256(ca_pem).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _api_error(what: str, exc: ApiException) -> K3sApiError:
    return K3sApiError(f"{what}: Kubernetes API answered {exc.status} {exc.reason or ''}".strip())


def _unreachable(what: str, exc: Exception) -> K3sApiError:
    return K3sApiError(f"{what}: Kubernetes API unreachable ({exc.__class__.__name__})")


class BootstrapTokenIssuer:
    """Mints short-lived `kube-system/bootstrap-token-<id>` Secrets, one per admitted worker."""

    def __init__(self, api_client: Any, ca_pem: bytes, ttl: timedelta) -> None:
        if ttl <= timedelta(0):
            raise ValueError("ttl must be positive")
        from kubernetes import client as k8s  # K3s mode only

        self._core = k8s.CoreV1Api(api_client)
        self._hash = ca_hash(ca_pem)
        self._ttl = ttl

    def _secret(self, node_id: str, token_id: str, token_secret: str) -> Any:
        from kubernetes import client as k8s

        expiration = (datetime.now(UTC) + self._ttl).strftime("%Y-%m-%dT%H:%M:%SZ")
        return k8s.V1Secret(
            api_version="v1",
            kind="Secret",
            metadata=k8s.V1ObjectMeta(
                name=f"bootstrap-token-{token_id}",
                namespace=BOOTSTRAP_NAMESPACE,
                labels={NODE_LABEL: node_id},
            ),
            type=BOOTSTRAP_TYPE,
            string_data={
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
        from kubernetes.client.exceptions import ApiException

        for _ in range(_ATTEMPTS):
            token_id, token_secret = _random(6), _random(16)
            body = self._secret(node_id, token_id, token_secret)
            try:
                await asyncio.to_thread(
                    self._core.create_namespaced_secret,
                    BOOTSTRAP_NAMESPACE,
                    body,
                    _headers={"Content-Type": "application/json"},  # none is sent by default
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                if exc.status == 409:  # token id collision: draw another
                    continue
                raise _api_error("creating the bootstrap token", exc) from exc
            except (HTTPError, OSError) as exc:  # refused, TLS, timeout (after urllib3's retries)
                raise _unreachable("creating the bootstrap token", exc) from None
            log.info("bootstrap_token_issued", node_id=node_id, token_id=token_id)
            return f"K10{self._hash}::{token_id}.{token_secret}"
        raise K3sApiError("could not find a free bootstrap token id")


class NodeRevoker:
    """On a revocation: delete the node's unused bootstrap tokens (so it cannot join again), then
    cordon the Node (spec.unschedulable) and delete it; a missing Node is fine."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client as k8s  # K3s mode only

        self._core = k8s.CoreV1Api(api_client)

    def _revoke(self, node_id: str) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            # The apiserver answers a SecretList of what it deleted; nothing in it is needed.
            raw: Any = self._core.delete_collection_namespaced_secret(
                BOOTSTRAP_NAMESPACE,
                label_selector=f"{NODE_LABEL}={node_id}",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
            raw.release_conn()
        except ApiException as exc:
            raise _api_error(f"deleting the bootstrap tokens of {node_id}", exc) from exc
        try:
            self._core.patch_node(
                node_id,
                {"spec": {"unschedulable": True}},
                _content_type="application/strategic-merge-patch+json",
                _request_timeout=REQUEST_TIMEOUT,
            )
            self._core.delete_node(node_id, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _api_error(f"revoking node {node_id}", exc) from exc
        return True

    async def revoke(self, node_id: str) -> bool:
        """True when a Node was cordoned and deleted, False when there was none."""
        try:
            deleted = await asyncio.to_thread(self._revoke, node_id)
        except (HTTPError, OSError) as exc:
            raise _unreachable(f"revoking node {node_id}", exc) from None
        log.info("node_revoked", node_id=node_id, deleted=deleted)
        return deleted


@dataclass(frozen=True)
class ClusterApi:
    """A Kubernetes API client from an admin kubeconfig, with what K3s mode derives from it."""

    client: Any
    server: str
    ca_pem: bytes


def connect_cluster(kubeconfig: Path, ca_file: Path | None = None) -> ClusterApi:
    """Load an admin kubeconfig (K3s writes /etc/rancher/k3s/k3s.yaml); the cluster CA (whose hash
    goes into every join token) is the kubeconfig's unless `ca_file` names K3s's server CA."""
    from kubernetes import config as k8s_config  # K3s mode only
    from kubernetes.config.config_exception import ConfigException

    try:
        api_client = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]  # untyped library
            config_file=str(kubeconfig), persist_config=False
        )
    except (ConfigException, OSError, ValueError, YAMLError) as exc:
        raise KubeError(
            f"cannot use the kubeconfig {kubeconfig}: {str(exc)[:200]}", reason="bad_kubeconfig"
        ) from None
    configuration = api_client.configuration
    ca_path = ca_file or (Path(configuration.ssl_ca_cert) if configuration.ssl_ca_cert else None)
    try:
        ca_pem = ca_path.read_bytes() if ca_path is not None else b""
    except OSError as exc:
        raise KubeError(f"cannot read the cluster CA: {exc.strerror}", reason="bad_ca") from None
    if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
        api_client.close()
        raise KubeError(
            "the cluster CA is missing: the kubeconfig needs certificate-authority(-data) "
            "or pass the K3s server CA file",
            reason="bad_ca",
        )
    return ClusterApi(client=api_client, server=str(configuration.host), ca_pem=ca_pem)


@dataclass(frozen=True)
class K3sConfig:
    """The files written for kube-apiserver and the `k3s server` flags that use them."""

    files: list[Path]
    server_flags: list[str]


def _webhook_kubeconfig(
    name: str, url: str, ca_pem: bytes, client: ClientCertificate | None
) -> dict[str, Any]:
    user: dict[str, str] = {}
    if client is not None:  # the master's mTLS webhook listener requires it
        user = {
            "client-certificate-data": base64.b64encode(client.cert_pem).decode("ascii"),
            "client-key-data": base64.b64encode(client.key_pem).decode("ascii"),
        }
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": url,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
                },
            }
        ],
        "users": [{"name": "kube-apiserver", "user": user}],
        "contexts": [{"name": "webhook", "context": {"cluster": name, "user": "kube-apiserver"}}],
        "current-context": "webhook",
    }


def write_k3s_config(
    out_dir: Path, master_url: str, ca_pem: bytes, client: ClientCertificate | None = None
) -> K3sConfig:
    """Write the authentication/authorization webhook kubeconfigs (with the apiserver's client
    certificate when the master serves its webhooks over mTLS); return them and the flags."""
    parts = urlsplit(master_url)
    if parts.scheme != "https" or not parts.hostname:
        raise KubeError(
            f"the master URL must be https:// (webhooks need TLS), got {master_url!r}",
            reason="bad_master_url",
        )
    if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise KubeError("the CA is not a PEM certificate", reason="bad_ca")
    base = master_url.rstrip("/")
    out_dir.mkdir(parents=True, exist_ok=True)
    authn = (out_dir / "authn-webhook.kubeconfig").resolve()
    authz = (out_dir / "authz-webhook.kubeconfig").resolve()
    write_private_json(
        authn, _webhook_kubeconfig("k3s-daas-authn", base + TOKENREVIEW_PATH, ca_pem, client)
    )
    write_private_json(
        authz,
        _webhook_kubeconfig("k3s-daas-authz", base + SUBJECTACCESSREVIEW_PATH, ca_pem, client),
    )
    arg = "--kube-apiserver-arg="
    flags = [
        f"{arg}authentication-token-webhook-config-file={authn}",
        f"{arg}authentication-token-webhook-version=v1",
        f"{arg}authorization-webhook-config-file={authz}",
        f"{arg}authorization-webhook-version=v1",
        # The webhook first: it denies revoked nodes' kubelets (whose client certificates the
        # Node authorizer would still accept) and has no opinion on everything else.
        f"{arg}authorization-mode=Webhook,Node,RBAC",
        # The apiserver caches webhook answers (2 min / 5 min / 30 s by default): keep a slashed
        # stake's tokens and kubelet from outliving the revocation by more than a few seconds.
        f"{arg}authentication-token-webhook-cache-ttl={CACHE_TTL}",
        f"{arg}authorization-webhook-cache-authorized-ttl={CACHE_TTL}",
        f"{arg}authorization-webhook-cache-unauthorized-ttl={CACHE_TTL}",
    ]
    return K3sConfig(files=[authn, authz], server_flags=flags)
