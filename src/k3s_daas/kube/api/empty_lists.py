"""Pods and events, cluster-wide and per namespace: always empty lists (the master runs no pods),
served so `kubectl describe node` and `get pods` work; the resourceVersion is the nodes' one."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from k3s_daas.kube.api.negotiation import negotiate
from k3s_daas.kube.dependencies import Nodes
from k3s_daas.kube.models import EventList, ListMeta, PodList
from k3s_daas.kube.status import KubeRoute, model_response
from k3s_daas.kube.types import NodeSource

router = APIRouter(route_class=KubeRoute)


async def _empty(request: Request, nodes: NodeSource, body: PodList | EventList) -> Response:
    negotiate(request, "Table", "meta.k8s.io", ("v1",))  # 406 for non-JSON only
    _, rv = await nodes.list_nodes()
    body.metadata = ListMeta(resourceVersion=str(rv))
    return model_response(body)


@router.get("/api/v1/pods", include_in_schema=False)
async def all_pods(request: Request, nodes: Nodes) -> Response:
    return await _empty(request, nodes, PodList())


@router.get("/api/v1/namespaces/{namespace}/pods", include_in_schema=False)
async def namespace_pods(request: Request, namespace: str, nodes: Nodes) -> Response:
    return await _empty(request, nodes, PodList())


@router.get("/api/v1/events", include_in_schema=False)
async def all_events(request: Request, nodes: Nodes) -> Response:
    return await _empty(request, nodes, EventList())


@router.get("/api/v1/namespaces/{namespace}/events", include_in_schema=False)
async def namespace_events(request: Request, namespace: str, nodes: Nodes) -> Response:
    return await _empty(request, nodes, EventList())
