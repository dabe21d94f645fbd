"""What the kube routes serve from (an `Authenticator`, a `NodeSource`, the version they report),
set once per app by `attach` and handed to routes by FastAPI dependencies, so the routers are
module-level and hold no state. `authenticated` is the one place a bearer token is checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Final

from fastapi import Depends, FastAPI, Request

from k3s_daas import __version__
from k3s_daas.kube.models import Version
from k3s_daas.kube.request_body import MAX_BODY
from k3s_daas.kube.status import StatusError
from k3s_daas.kube.types import AuthenticationFailed, Authenticator, NodeSource
from k3s_daas.seal import Claims

MAX_TOKEN: Final = 4096
_STATE_KEY: Final = "kube_backend"


def server_version(overrides: Mapping[str, str] | None = None) -> Version:
    """`v1.36.0-k3s-daas.<version>`: within kubectl's supported skew; fields may be overridden."""
    return Version(
        major="1",
        minor="36",
        gitVersion=f"v1.36.0-k3s-daas.{__version__}",
        platform="linux/amd64",
        **dict(overrides or {}),
    )


@dataclass(frozen=True)
class KubeBackend:
    """The app's kube collaborators: `nodes` is needed by the standalone API, optional for the
    webhooks (there it lets SubjectAccessReview deny revoked nodes' kubelets)."""

    auth: Authenticator
    nodes: NodeSource | None = None
    version: Version = field(default_factory=server_version)
    max_body: int = MAX_BODY


def attach(app: FastAPI, backend: KubeBackend) -> None:
    """Make `backend` what the kube routes mounted on `app` serve from."""
    setattr(app.state, _STATE_KEY, backend)


def backend_of(request: Request) -> KubeBackend:
    """The backend `attach` set on the request's app (plain Starlette endpoints call this)."""
    backend = getattr(request.app.state, _STATE_KEY, None)
    if not isinstance(backend, KubeBackend):
        raise RuntimeError("kube routes mounted without a backend (kube.install or attach)")
    return backend


async def get_backend(request: Request) -> KubeBackend:
    """Async like every dependency here: FastAPI runs a plain function in its thread pool (a
    thread hop per request, the largest cost of a cached TokenReview)."""
    return backend_of(request)


Backend = Annotated[KubeBackend, Depends(get_backend)]


async def get_nodes(backend: Backend) -> NodeSource:
    if backend.nodes is None:
        raise RuntimeError("the standalone Kubernetes API needs a NodeSource")
    return backend.nodes


async def get_optional_nodes(backend: Backend) -> NodeSource | None:
    return backend.nodes


async def get_authenticator(backend: Backend) -> Authenticator:
    return backend.auth


Nodes = Annotated[NodeSource, Depends(get_nodes)]
OptionalNodes = Annotated[NodeSource | None, Depends(get_optional_nodes)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise StatusError(401, "Unauthorized: no bearer token")
    if len(token) > MAX_TOKEN:
        raise StatusError(401, "Unauthorized: token too long")
    return token


async def authenticated(request: Request, auth: AuthenticatorDep) -> Claims:
    """Claims for the caller's bearer token, or a 401 Status (fail closed). FastAPI caches it per
    request, so a route that also asks for the claims does not authenticate twice."""
    token = bearer_token(request)
    try:
        return await auth.authenticate(token)
    except AuthenticationFailed as exc:
        raise StatusError(401, f"Unauthorized: {exc.reason}", reason="Unauthorized") from exc


Caller = Annotated[Claims, Depends(authenticated)]
