"""One call that serves kube on a FastAPI app: the backend the routes read (`attach`) and the
routers, webhooks first (their paths are more specific than the standalone API's catch-alls)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from k3s_daas.kube.api import router as api_router
from k3s_daas.kube.dependencies import KubeBackend, attach, server_version
from k3s_daas.kube.request_body import MAX_BODY
from k3s_daas.kube.types import Authenticator, NodeSource
from k3s_daas.kube.webhooks import router as webhook_router


def install(
    app: FastAPI,
    *,
    auth: Authenticator,
    nodes: NodeSource | None = None,
    api: bool = True,
    webhooks: bool = True,
    version_info: Mapping[str, str] | None = None,
    max_body: int = MAX_BODY,
) -> None:
    """Serve the standalone API over `nodes` (required then) and/or the kube-apiserver webhooks
    on `app`, every token checked by `auth`."""
    if api and nodes is None:
        raise ValueError("the standalone Kubernetes API needs a NodeSource")
    version = server_version(version_info)
    attach(app, KubeBackend(auth=auth, nodes=nodes, version=version, max_body=max_body))
    if webhooks:
        app.include_router(webhook_router)
    if api:
        app.include_router(api_router)
