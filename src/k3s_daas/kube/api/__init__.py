"""The standalone read-only Kubernetes API: enough of the apiserver for real kubectl (`get/describe
nodes`, `--watch`, `version`, `auth whoami`, `auth can-i`) with a Seal token.

`router` authenticates the bearer token before any route runs (as the apiserver does), and every
error is a `Status`. Content negotiation follows kubectl's Accept: aggregated discovery
v2/v2beta1 or the legacy shapes, and `as=Table` with stake/tier columns for `get`. It serves from
the app's `KubeBackend` (see `k3s_daas.kube.install`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from k3s_daas.kube.api import discovery, empty_lists, fallback, nodes, reviews
from k3s_daas.kube.dependencies import authenticated
from k3s_daas.kube.status import KubeRoute

router = APIRouter(route_class=KubeRoute, dependencies=[Depends(authenticated)])
for _part in (discovery, nodes, empty_lists, reviews):
    router.include_router(_part.router)
router.include_router(fallback.router)  # last: the catch-alls answer only what nothing else did

__all__ = ["router"]
