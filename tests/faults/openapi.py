"""OpenAPI 3.1 documents of the master's two listeners, built for fuzzing (the apps serve none).

Every route the real apps mount is enumerated (`create_app` for the main listener with the
standalone Kubernetes API, `create_webhook_app` for the mTLS one), so a new route is fuzzed
without an edit here. Routes that read raw bytes get the request bodies of the models they parse
(`seal.protocol` for the signed and validate routes, `kube.models` for the reviews), and the
headers and query parameters they read from the request are declared by hand.
"""

from __future__ import annotations

from typing import Any, Final, cast
from unittest.mock import MagicMock

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from k3s_daas.kube.models import (
    SelfSubjectAccessReview,
    SelfSubjectReview,
    SubjectAccessReview,
    TokenReview,
)
from k3s_daas.kube.webhooks import SUBJECTACCESSREVIEW_PATH, TOKENREVIEW_PATH
from k3s_daas.nautilus.app import create_app, create_webhook_app
from k3s_daas.nautilus.context import AppContext
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.seal.protocol import (
    PATHS,
    VALIDATE_PATH,
    HeartbeatRequest,
    LeaveRequest,
    RegisterRequest,
    ValidateRequest,
)

#: The JSON body each raw-body route parses.
BODIES: Final[dict[str, type[BaseModel]]] = {
    PATHS["register"]: RegisterRequest,
    PATHS["heartbeat"]: HeartbeatRequest,
    PATHS["leave"]: LeaveRequest,
    VALIDATE_PATH: ValidateRequest,
    TOKENREVIEW_PATH: TokenReview,
    SUBJECTACCESSREVIEW_PATH: SubjectAccessReview,
    "/apis/authentication.k8s.io/v1/selfsubjectreviews": SelfSubjectReview,
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews": SelfSubjectAccessReview,
}
SIGNED_PATHS: Final = frozenset(PATHS.values())
MASTER_PATHS: Final = SIGNED_PATHS | {VALIDATE_PATH, "/api/v1/workers", "/api/v1/noop"}
WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
#: Query parameters the Kubernetes list routes read from the request (not `watch`: a watch
#: streams until its timeout, which is not a request/answer a fuzzer can judge).
KUBE_QUERY: Final = ("labelSelector", "fieldSelector", "limit", "continue", "resourceVersion")
ACCEPTS: Final = (
    "application/json",
    "application/json;as=Table;g=meta.k8s.io;v=v1",
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    "application/vnd.kubernetes.protobuf",
    "*/*",
)


def listener_apps() -> dict[str, FastAPI]:
    """The apps of the main listener (webhooks on their own port) and of the mTLS listener,
    built as the master builds them; their routes are only enumerated, never called (so every
    part of the context but the settings is a stand-in)."""
    ctx = cast(AppContext, MagicMock(settings=NautilusSettings()))
    return {"main": create_app(ctx, webhooks=False), "webhook": create_webhook_app(ctx)}


def mounted(app: FastAPI) -> list[tuple[str, str]]:
    """(METHOD, path template) of every route `app` answers, first match first."""
    seen: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or route.path is None:
            continue
        for method in sorted(route.methods or ()):
            if (method, route.path) not in seen:
                seen.append((method, route.path))
    return seen


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _header(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema}


def _parameters(method: str, path: str) -> list[dict[str, Any]]:
    """Headers and query parameters the route reads from the raw request."""
    params = [_header("Authorization", {"type": "string"})]
    if path in SIGNED_PATHS:
        params.append(_header("X-Seal-Token", {"type": "string"}))
    if path.startswith(("/api", "/version")) and path not in MASTER_PATHS:  # Kubernetes routes
        params.append(_header("Accept", {"anyOf": [{"enum": list(ACCEPTS)}, {"type": "string"}]}))
    if method == "GET" and path in ("/api/v1/nodes", "/api/v1/pods", "/api/v1/events"):
        params += [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
            for n in KUBE_QUERY
        ]
    return params


def document(app: FastAPI, title: str) -> dict[str, Any]:
    """The OpenAPI document of every route of `app` (one operation per method)."""
    generated = FastAPI(title=title)
    for method, path in mounted(app):
        endpoint = next(
            r.endpoint
            for r in iter_route_contexts(app.routes)
            if r.path == path and method in (r.methods or ())
        )
        assert endpoint is not None
        generated.add_api_route(
            path, endpoint, methods=[method], operation_id=f"{method} {path}"
        )  # the endpoint's signature gives the declared path and query parameters
    doc = generated.openapi()
    components: dict[str, Any] = {}
    for path_format, operations in doc["paths"].items():
        raw_path = next(p for _, p in mounted(app) if template(p) == path_format)
        for method, operation in operations.items():
            operation["parameters"] = [
                p for p in operation.get("parameters", []) if p["in"] in ("path", "query")
            ] + _parameters(method.upper(), raw_path)
            if method.upper() in WITH_BODY:
                model = BODIES.get(raw_path)
                schema = _schema(model, components) if model is not None else {"type": "object"}
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                }
            operation["responses"] = {"default": {"description": "any answer"}}
    doc["components"] = {"schemas": components}
    return doc


def template(path: str) -> str:
    """FastAPI's path template without converters (`{rest:path}` -> `{rest}`)."""
    return "/".join(
        part.split(":")[0] + "}" if part.startswith("{") and ":" in part else part
        for part in path.split("/")
    )
