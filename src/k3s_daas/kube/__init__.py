"""Kubernetes integration: the standalone read-only API for real kubectl, the apiserver webhooks,
the master's TLS identity, kubeconfig/exec-credential, and K3s-mode helpers.

Serving it on a FastAPI app is one call: `k3s_daas.kube.install.install(app, auth=..., nodes=...)`.
"""

from k3s_daas.kube.types import (
    AuthenticationFailed,
    Authenticator,
    KubeError,
    NodeInfo,
    NodeSource,
)

__all__ = ["AuthenticationFailed", "Authenticator", "KubeError", "NodeInfo", "NodeSource"]
