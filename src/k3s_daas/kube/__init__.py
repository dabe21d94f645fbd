"""Kubernetes integration: the standalone read-only API for real kubectl, the apiserver webhooks,
the master's TLS identity, kubeconfig/exec-credential, and K3s-mode helpers.

Serving it on a FastAPI app is one call: `k3s_daas.kube.install.install(app, auth=..., nodes=...)`;
the contract with the master is in `k3s_daas.kube.types`. This file imports nothing, so kubectl's
exec plugin (`kube.credential_cache`) starts without loading the rest of the package.
"""
