"""The kube-apiserver webhook configuration that points K3s at the master: two kubeconfigs and
the `k3s server` flags that use them (no Kubernetes client needed: files only)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from k3s_daas.kube.kubeconfig import write_private_json
from k3s_daas.kube.tls import ClientCertificate
from k3s_daas.kube.types import KubeError
from k3s_daas.kube.webhooks import SUBJECTACCESSREVIEW_PATH, TOKENREVIEW_PATH

CACHE_TTL: Final = "10s"  # how long kube-apiserver may reuse a webhook answer


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
