"""The Node endpoints kubectl uses: list (with selectors, paging, `as=Table` and `?watch=true`),
get one node, and the node's heartbeat Lease that `kubectl describe node` shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from fastapi import APIRouter, Request, Response

from k3s_daas.kube.api.negotiation import TABLE_CONTENT_TYPE, wants_table
from k3s_daas.kube.api.query import decode_continue, encode_continue, int_param, node_filter
from k3s_daas.kube.api.watch import watch_response
from k3s_daas.kube.dependencies import Nodes
from k3s_daas.kube.models import ListMeta, NodeList, StatusDetails, Table
from k3s_daas.kube.nodes import COLUMNS, node_lease_object, node_object, table_row
from k3s_daas.kube.status import KubeRoute, StatusError, model_response

MAX_LIMIT: Final = 10_000
MAX_NAME: Final = 253

router = APIRouter(route_class=KubeRoute)


@router.get("/api/v1/nodes", include_in_schema=False)
async def list_nodes(request: Request, nodes: Nodes) -> Response:
    table = wants_table(request)
    match = node_filter(request)
    if request.query_params.get("watch", "").lower() in ("true", "1"):
        return await watch_response(request, nodes, table, match)
    items, rv = await nodes.list_nodes()
    items = sorted((n for n in items if match(n)), key=lambda n: n.name)
    after = request.query_params.get("continue", "")
    if after:
        start = decode_continue(after)
        items = [n for n in items if n.name > start]
    limit = int_param(request, "limit", 0, MAX_LIMIT)
    meta = ListMeta(resourceVersion=str(rv))
    if limit and len(items) > limit:
        meta = ListMeta(
            resourceVersion=str(rv),
            continue_=encode_continue(items[limit - 1].name),
            remainingItemCount=len(items) - limit,
        )
        items = items[:limit]
    if table:
        now = datetime.now(UTC)
        body = Table(
            metadata=meta, columnDefinitions=COLUMNS, rows=[table_row(n, now) for n in items]
        )
        return model_response(body, content_type=TABLE_CONTENT_TYPE)
    return model_response(NodeList(metadata=meta, items=[node_object(n) for n in items]))


@router.get("/api/v1/nodes/{name}", include_in_schema=False)
async def get_node(request: Request, name: str, nodes: Nodes) -> Response:
    table = wants_table(request)
    node = await nodes.get_node(name) if len(name) <= MAX_NAME else None
    if node is None:
        raise StatusError(
            404,
            f'nodes "{name[:MAX_NAME]}" not found',
            details=StatusDetails(name=name[:MAX_NAME], kind="nodes"),
        )
    if table:
        body = Table(
            metadata=ListMeta(resourceVersion=str(node.resource_version)),
            columnDefinitions=COLUMNS,
            rows=[table_row(node)],
        )
        return model_response(body, content_type=TABLE_CONTENT_TYPE)
    return model_response(node_object(node))


@router.get(
    "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}",
    include_in_schema=False,
)
async def node_lease(name: str, nodes: Nodes) -> Response:
    """The node heartbeat Lease `kubectl describe node` shows (renewTime = last heartbeat)."""
    node = await nodes.get_node(name) if len(name) <= MAX_NAME else None
    if node is None:
        raise StatusError(
            404,
            f'leases.coordination.k8s.io "{name[:MAX_NAME]}" not found',
            details=StatusDetails(name=name[:MAX_NAME], group="coordination.k8s.io", kind="leases"),
        )
    return model_response(node_lease_object(node))
