"""Everything else under `/api`, `/apis` and `/version`: after authentication, a 404 Status for
reads and a 405 for writes (the API is read-only), never FastAPI's `{"detail": ...}`.

The `/apis/...` catch-all never matches `/apis/webhooks[/...]`, so it cannot shadow the webhook
routes whichever router is mounted first."""

from __future__ import annotations

import re
from typing import Final

from fastapi import APIRouter, Request, Response
from starlette.routing import Match
from starlette.types import Scope

from k3s_daas.kube.status import KubeRoute, StatusError

ALL_METHODS: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_WEBHOOKS: Final = re.compile(r"webhooks(?:/|$)")


class _NotWebhooksRoute(KubeRoute):
    """`/apis/{rest:path}` that declines any `rest` under `webhooks/`."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        rest = child_scope.get("path_params", {}).get("rest", "")
        if match is not Match.NONE and _WEBHOOKS.match(rest):
            return Match.NONE, {}
        return match, child_scope


router = APIRouter(route_class=KubeRoute)


async def fallback(request: Request) -> Response:
    if request.method in ("GET", "HEAD"):
        raise StatusError(404, "the server could not find the requested resource")
    raise StatusError(405, f"{request.method} is not allowed: this API is read-only")


for _path in ("/api", "/api/{rest:path}", "/apis", "/version"):
    router.add_api_route(_path, fallback, methods=ALL_METHODS, include_in_schema=False)
router.add_api_route(
    "/apis/{rest:path}",
    fallback,
    methods=ALL_METHODS,
    include_in_schema=False,
    route_class_override=_NotWebhooksRoute,
)
