"""Discovery and version: what `/api`, `/apis`, their group/versions and `/version` answer, so
kubectl finds nodes, pods, events and the self reviews (aggregated v2/v2beta1 or legacy shapes)."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request, Response

from k3s_daas.kube.api.negotiation import negotiate
from k3s_daas.kube.dependencies import Backend
from k3s_daas.kube.models import (
    APIGroup,
    APIGroupDiscovery,
    APIGroupDiscoveryList,
    APIGroupList,
    APIResource,
    APIResourceDiscovery,
    APIResourceList,
    APIVersionDiscovery,
    APIVersions,
    GroupVersionForDiscovery,
    GroupVersionKind,
    ObjectMeta,
    ServerAddressByClientCIDR,
)
from k3s_daas.kube.status import KubeRoute, model_response

DISCOVERY_VERSIONS: Final = ("v2", "v2beta1")

# (group, resource, singular, kind, namespaced, verbs, short names)
_RESOURCES: Final[list[tuple[str, str, str, str, bool, list[str], list[str] | None]]] = [
    ("", "nodes", "node", "Node", False, ["get", "list", "watch"], ["no"]),
    ("", "pods", "pod", "Pod", True, ["list"], ["po"]),
    ("", "events", "event", "Event", True, ["list"], ["ev"]),
    (
        "authentication.k8s.io",
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        False,
        ["create"],
        None,
    ),
    (
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        False,
        ["create"],
        None,
    ),
]
_GROUPS: Final = ["authentication.k8s.io", "authorization.k8s.io"]

router = APIRouter(route_class=KubeRoute)


def _resource_list(group: str) -> APIResourceList:
    return APIResourceList(
        groupVersion=f"{group}/v1" if group else "v1",
        resources=[
            APIResource(
                name=res, singularName=sing, namespaced=ns, kind=kind, verbs=verbs, shortNames=short
            )
            for g, res, sing, kind, ns, verbs, short in _RESOURCES
            if g == group
        ],
    )


def _group_discovery(group: str) -> APIGroupDiscovery:
    return APIGroupDiscovery(
        metadata=ObjectMeta(name=group or None),
        versions=[
            APIVersionDiscovery(
                version="v1",
                resources=[
                    APIResourceDiscovery(
                        resource=res,
                        responseKind=GroupVersionKind(group=g, version="v1", kind=kind),
                        scope="Namespaced" if ns else "Cluster",
                        singularResource=sing,
                        verbs=verbs,
                        shortNames=short,
                    )
                    for g, res, sing, kind, ns, verbs, short in _RESOURCES
                    if g == group
                ],
            )
        ],
    )


def _api_group(group: str) -> APIGroup:
    gv = GroupVersionForDiscovery(groupVersion=f"{group}/v1", version="v1")
    return APIGroup(name=group, versions=[gv], preferredVersion=gv)


def _discovery_response(request: Request, items: list[APIGroupDiscovery]) -> Response | None:
    version = negotiate(request, "APIGroupDiscoveryList", "apidiscovery.k8s.io", DISCOVERY_VERSIONS)
    if not version:
        return None
    body = APIGroupDiscoveryList(
        apiVersion=f"apidiscovery.k8s.io/{version}",  # type: ignore[arg-type]  # negotiate() returns one of DISCOVERY_VERSIONS
        items=items,
    )
    ctype = f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
    return model_response(body, content_type=ctype)


@router.get("/api", include_in_schema=False)
async def api_root(request: Request) -> Response:
    aggregated = _discovery_response(request, [_group_discovery("")])
    if aggregated is not None:
        return aggregated
    host = request.headers.get("host", "")
    return model_response(
        APIVersions(
            versions=["v1"],
            serverAddressByClientCIDRs=[
                ServerAddressByClientCIDR(clientCIDR="0.0.0.0/0", serverAddress=host)
            ],
        )
    )


@router.get("/apis", include_in_schema=False)
async def apis_root(request: Request) -> Response:
    aggregated = _discovery_response(request, [_group_discovery(g) for g in _GROUPS])
    if aggregated is not None:
        return aggregated
    return model_response(APIGroupList(groups=[_api_group(g) for g in _GROUPS]))


@router.get("/api/v1", include_in_schema=False)
async def core_v1() -> Response:
    return model_response(_resource_list(""))


def _add_group_routes(group: str) -> None:
    """`/apis/<group>` and `/apis/<group>/v1` for one of the groups we serve (exact paths, so
    other groups fall through to the 404/405 catch-all)."""

    async def group_root() -> Response:
        return model_response(_api_group(group))

    async def group_v1() -> Response:
        return model_response(_resource_list(group))

    router.add_api_route(f"/apis/{group}", group_root, methods=["GET"], include_in_schema=False)
    router.add_api_route(f"/apis/{group}/v1", group_v1, methods=["GET"], include_in_schema=False)


for _group in _GROUPS:
    _add_group_routes(_group)


@router.get("/version", include_in_schema=False)
async def get_version(backend: Backend) -> Response:
    return model_response(backend.version)
