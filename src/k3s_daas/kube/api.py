"""The standalone read-only Kubernetes API (DESIGN §9): enough of the apiserver for real kubectl
(`get/describe nodes`, `--watch`, `version`, `auth whoami`, `auth can-i`) with a Seal token.

Every route authenticates the bearer token first (as the apiserver does) and every error is a
`Status`. Content negotiation follows kubectl's Accept: aggregated discovery v2/v2beta1 or the
legacy shapes, and `as=Table` with stake/tier columns for `get`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.convertors import Convertor, register_url_convertor

from k3s_daas import __version__
from k3s_daas.kube import protobuf
from k3s_daas.kube._http import (
    KubeRoute,
    StatusError,
    authenticate_request,
    model_response,
    parse_json_object,
    read_body,
    status_object,
)
from k3s_daas.kube.authz import self_review, user_info
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
    EventList,
    GroupVersionForDiscovery,
    GroupVersionKind,
    ListMeta,
    NodeList,
    ObjectMeta,
    PodList,
    SelfSubjectAccessReview,
    SelfSubjectReview,
    SelfSubjectReviewStatus,
    ServerAddressByClientCIDR,
    StatusDetails,
    Table,
    Version,
    WatchEvent,
)
from k3s_daas.kube.nodes import (
    COLUMNS,
    node_lease_object,
    node_metadata,
    node_object,
    table_row,
)
from k3s_daas.kube.types import Authenticator, BadRequest, KubeError, NodeInfo, NodeSource

PROTOBUF: Final = "application/vnd.kubernetes.protobuf"
DISCOVERY_VERSIONS: Final = ("v2", "v2beta1")
MAX_LIMIT: Final = 10_000
DEFAULT_WATCH_SECONDS: Final = 1800
MAX_WATCH_SECONDS: Final = 3600
ALL_METHODS: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _NotWebhookPath(Convertor[str]):
    """Path rest that is not under `/apis/webhooks/`, so our catch-all never shadows webhooks."""

    regex = r"(?!webhooks(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("k3sdaas_not_webhook", _NotWebhookPath())


# ---- what we serve --------------------------------------------------------------------------


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


# ---- content negotiation ----------------------------------------------------------------------


def _accepted(request: Request) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for part in request.headers.get("accept", "").split(",")[:32]:
        media, *params = part.split(";")
        opts: dict[str, str] = {}
        for param in params:
            key, _, value = param.partition("=")
            opts[key.strip().lower()] = value.strip()
        if media.strip():
            out.append((media.strip().lower(), opts))
    return out


def _json_ok(media: str) -> bool:
    return media in ("application/json", "application/*", "*/*")


def _negotiate(request: Request, as_kind: str, group: str, versions: tuple[str, ...]) -> str | None:
    """The version of `as_kind` the client prefers, "" for the plain form, or 406."""
    accepted = _accepted(request)
    if not accepted:
        return ""
    for media, opts in accepted:
        if not _json_ok(media):
            continue
        if "as" not in opts:
            return ""
        if opts.get("as") == as_kind and opts.get("g") == group and opts.get("v") in versions:
            return opts["v"]
    raise StatusError(406, "only application/json is served")


def _discovery_response(request: Request, items: list[APIGroupDiscovery]) -> Response | None:
    version = _negotiate(
        request, "APIGroupDiscoveryList", "apidiscovery.k8s.io", DISCOVERY_VERSIONS
    )
    if not version:
        return None
    body = APIGroupDiscoveryList(
        apiVersion=f"apidiscovery.k8s.io/{version}",  # type: ignore[arg-type]
        items=items,
    )
    ctype = f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
    return model_response(body, content_type=ctype)


def _wants_table(request: Request) -> bool:
    return _negotiate(request, "Table", "meta.k8s.io", ("v1",)) == "v1"


TABLE_CONTENT_TYPE: Final = "application/json;as=Table;v=v1;g=meta.k8s.io"


# ---- query parameters -------------------------------------------------------------------------


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest(f"{name} must be a non-negative integer")
    return min(int(raw), maximum)


def _resource_version(request: Request) -> int | None:
    raw = request.query_params.get("resourceVersion", "")
    if raw in ("", "0"):
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise BadRequest("resourceVersion must be an integer")
    return int(raw)


def _selector_pairs(text: str, what: str) -> list[tuple[str, str, str]]:
    """`k=v`, `k==v`, `k!=v` terms (the forms kubectl emits for -l / --field-selector)."""
    terms: list[tuple[str, str, str]] = []
    for term in filter(None, (t.strip() for t in text.split(",")[:16])):
        for op in ("!=", "==", "="):
            key, sep, value = term.partition(op)
            if sep:
                terms.append((key.strip(), "!=" if op == "!=" else "=", value.strip()))
                break
        else:
            if term.startswith("!"):
                terms.append((term[1:].strip(), "!", ""))
            else:
                terms.append((term, "exists", ""))
    if any(not key for key, _, _ in terms):
        raise BadRequest(f"invalid {what}")
    return terms


def _node_filter(request: Request) -> Callable[[NodeInfo], bool]:
    fields = _selector_pairs(request.query_params.get("fieldSelector", ""), "fieldSelector")
    labels = _selector_pairs(request.query_params.get("labelSelector", ""), "labelSelector")
    for key, op, _ in fields:
        if key not in ("metadata.name", "spec.unschedulable") or op not in ("=", "!="):
            raise BadRequest(f'field label not supported: "{key}"')

    def match(node: NodeInfo) -> bool:
        meta = node_metadata(node)
        values = {
            "metadata.name": node.name,
            "spec.unschedulable": str(node_object(node).spec.unschedulable is True).lower(),
        }
        for key, op, want in fields:
            if (values[key] == want) != (op == "="):
                return False
        node_labels = meta.labels or {}
        for key, op, want in labels:
            have = node_labels.get(key)
            ok = {
                "=": have == want,
                "!=": have != want,
                "exists": have is not None,
                "!": have is None,
            }[op]
            if not ok:
                return False
        return True

    return match


def _encode_continue(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def _decode_continue(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = data["after"]
        if not isinstance(after, str):
            raise TypeError
        return after
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise BadRequest("continue key is not valid") from exc


# ---- the router --------------------------------------------------------------------------------


def standalone_router(
    nodes: NodeSource,
    auth: Authenticator,
    *,
    version_info: dict[str, str] | None = None,
    max_body: int = 64 * 1024,
) -> APIRouter:
    """The read-only Kubernetes API over `nodes`, every route behind `auth` (Seal tokens)."""
    router = APIRouter(route_class=KubeRoute)
    version = Version(
        major="1",
        minor="36",
        gitVersion=f"v1.36.0-k3s-daas.{__version__}",
        platform="linux/amd64",
        **(version_info or {}),
    )

    # -- discovery --

    @router.get("/api", include_in_schema=False)
    async def api_root(request: Request) -> Response:
        await authenticate_request(request, auth)
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
        await authenticate_request(request, auth)
        aggregated = _discovery_response(request, [_group_discovery(g) for g in _GROUPS])
        if aggregated is not None:
            return aggregated
        return model_response(APIGroupList(groups=[_api_group(g) for g in _GROUPS]))

    @router.get("/api/v1", include_in_schema=False)
    async def core_v1(request: Request) -> Response:
        await authenticate_request(request, auth)
        return model_response(_resource_list(""))

    for group in _GROUPS:

        def _make(group: str) -> None:
            @router.get(f"/apis/{group}", include_in_schema=False)
            async def group_root(request: Request) -> Response:
                await authenticate_request(request, auth)
                return model_response(_api_group(group))

            @router.get(f"/apis/{group}/v1", include_in_schema=False)
            async def group_v1(request: Request) -> Response:
                await authenticate_request(request, auth)
                return model_response(_resource_list(group))

        _make(group)

    @router.get("/version", include_in_schema=False)
    async def get_version(request: Request) -> Response:
        await authenticate_request(request, auth)
        return model_response(version)

    # -- nodes --

    @router.get("/api/v1/nodes", include_in_schema=False)
    async def list_nodes(request: Request) -> Response:
        await authenticate_request(request, auth)
        table = _wants_table(request)
        match = _node_filter(request)
        if request.query_params.get("watch", "").lower() in ("true", "1"):
            return await _watch(request, table, match)
        items, rv = await nodes.list_nodes()
        items = sorted((n for n in items if match(n)), key=lambda n: n.name)
        after = request.query_params.get("continue", "")
        if after:
            start = _decode_continue(after)
            items = [n for n in items if n.name > start]
        limit = _int_param(request, "limit", 0, MAX_LIMIT)
        meta = ListMeta(resourceVersion=str(rv))
        if limit and len(items) > limit:
            meta = ListMeta(
                resourceVersion=str(rv),
                continue_=_encode_continue(items[limit - 1].name),
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

    async def _watch(request: Request, table: bool, match: Callable[[NodeInfo], bool]) -> Response:
        since = _resource_version(request)
        seconds = _int_param(request, "timeoutSeconds", DEFAULT_WATCH_SECONDS, MAX_WATCH_SECONDS)
        initial: list[NodeInfo] = []
        if since is None:  # "" or "0": start with the current state, as ADDED events
            initial, since = await nodes.list_nodes()
            initial = sorted(initial, key=lambda n: n.name)

        def line(kind: str, node: NodeInfo, rv: int) -> bytes:
            obj: dict[str, Any]
            if table:
                obj = Table(
                    metadata=ListMeta(resourceVersion=str(rv)),
                    columnDefinitions=COLUMNS,
                    rows=[table_row(node)],
                ).dump()
            else:
                obj = node_object(node).dump()
            event = WatchEvent(type=kind, object=obj)  # type: ignore[arg-type]
            return (json.dumps(event.dump(), separators=(",", ":")) + "\n").encode()

        async def stream() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds
            for node in initial:
                if match(node):
                    yield line("ADDED", node, node.resource_version)
            events = nodes.watch(since)
            try:
                while (remaining := deadline - loop.time()) > 0:
                    try:
                        kind, node, rv = await asyncio.wait_for(anext(events), remaining)
                    except (StopAsyncIteration, TimeoutError):
                        break
                    if match(node):
                        yield line(kind, node, rv)
            except KubeError as exc:
                status = status_object(410 if exc.reason == "expired" else 500, exc.message)
                event = WatchEvent(type="ERROR", object=status.dump())
                yield (json.dumps(event.dump()) + "\n").encode()
            finally:
                aclose = getattr(events, "aclose", None)
                if aclose is not None:
                    await aclose()

        ctype = TABLE_CONTENT_TYPE if table else "application/json"
        return StreamingResponse(stream(), media_type=ctype)

    @router.get("/api/v1/nodes/{name}", include_in_schema=False)
    async def get_node(request: Request, name: str) -> Response:
        await authenticate_request(request, auth)
        table = _wants_table(request)
        node = await nodes.get_node(name) if len(name) <= 253 else None
        if node is None:
            raise StatusError(
                404,
                f'nodes "{name[:253]}" not found',
                details=StatusDetails(name=name[:253], kind="nodes"),
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
    async def node_lease(request: Request, name: str) -> Response:
        """The node heartbeat Lease `kubectl describe node` shows (renewTime = last heartbeat)."""
        await authenticate_request(request, auth)
        node = await nodes.get_node(name) if len(name) <= 253 else None
        if node is None:
            raise StatusError(
                404,
                f'leases.coordination.k8s.io "{name[:253]}" not found',
                details=StatusDetails(name=name[:253], group="coordination.k8s.io", kind="leases"),
            )
        return model_response(node_lease_object(node))

    # -- pods and events: always empty (the master runs no pods) --

    async def _empty(request: Request, body: PodList | EventList) -> Response:
        await authenticate_request(request, auth)
        _negotiate(request, "Table", "meta.k8s.io", ("v1",))  # 406 for non-JSON only
        _, rv = await nodes.list_nodes()
        body.metadata = ListMeta(resourceVersion=str(rv))
        return model_response(body)

    @router.get("/api/v1/pods", include_in_schema=False)
    async def all_pods(request: Request) -> Response:
        return await _empty(request, PodList())

    @router.get("/api/v1/namespaces/{namespace}/pods", include_in_schema=False)
    async def namespace_pods(request: Request, namespace: str) -> Response:
        return await _empty(request, PodList())

    @router.get("/api/v1/events", include_in_schema=False)
    async def all_events(request: Request) -> Response:
        return await _empty(request, EventList())

    @router.get("/api/v1/namespaces/{namespace}/events", include_in_schema=False)
    async def namespace_events(request: Request, namespace: str) -> Response:
        return await _empty(request, EventList())

    # -- self reviews (kubectl auth whoami / can-i) --

    async def _review_body(request: Request) -> tuple[bytes, bool]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", PROTOBUF):
            raise StatusError(415, f"unsupported media type {ctype[:80]!r}")
        return await read_body(request, max_body), ctype == PROTOBUF

    @router.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", include_in_schema=False)
    async def self_subject_review(request: Request) -> Response:
        claims = await authenticate_request(request, auth)
        body, is_protobuf = await _review_body(request)
        if is_protobuf:
            protobuf.decode_self_subject_review(body)
        else:
            SelfSubjectReview.model_validate(parse_json_object(body))
        answer = SelfSubjectReview(status=SelfSubjectReviewStatus(userInfo=user_info(claims)))
        return model_response(answer, 201)

    @router.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", include_in_schema=False)
    async def self_subject_access_review(request: Request) -> Response:
        claims = await authenticate_request(request, auth)
        body, is_protobuf = await _review_body(request)
        if is_protobuf:
            review = protobuf.decode_self_subject_access_review(body)
        else:
            review = SelfSubjectAccessReview.model_validate(parse_json_object(body))
        spec = review.spec
        if (spec.resourceAttributes is None) == (spec.nonResourceAttributes is None):
            raise BadRequest(
                "exactly one of resourceAttributes and nonResourceAttributes is needed"
            )
        status = self_review(claims, spec.resourceAttributes, spec.nonResourceAttributes)
        answer = SelfSubjectAccessReview(spec=spec, status=status)
        return model_response(answer, 201)

    # -- everything else under our prefixes: authenticate, then 404 / 405 as a Status --

    async def fallback(request: Request) -> Response:
        await authenticate_request(request, auth)
        if request.method in ("GET", "HEAD"):
            raise StatusError(404, "the server could not find the requested resource")
        raise StatusError(405, f"{request.method} is not allowed: this API is read-only")

    for path in (
        "/api",
        "/api/{rest:path}",
        "/apis",
        "/apis/{rest:k3sdaas_not_webhook}",
        "/version",
    ):
        router.add_api_route(path, fallback, methods=ALL_METHODS, include_in_schema=False)

    return router
