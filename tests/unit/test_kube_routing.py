"""Mount order does not matter: the standalone catch-alls never shadow the webhook routes, and
unknown paths under /api and /apis are Status answers (in-process httpx ASGI transport). Every
standalone route is behind the one authentication dependency, which runs once per request."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from harness.kube_doubles import MemoryAuthenticator, MemoryNodeSource
from k3s_daas.kube import api, webhooks
from k3s_daas.kube.api import discovery, empty_lists, fallback, nodes, reviews
from k3s_daas.kube.dependencies import KubeBackend, attach
from k3s_daas.kube.install import install
from k3s_daas.seal import Claims, Tier
from tests.fixtures.kube import sample_node, seal_token, user_claims


@pytest.mark.parametrize("standalone_first", [True, False])
async def test_webhooks_reachable_in_any_order(standalone_first: bool) -> None:
    token = seal_token(3)
    auth = MemoryAuthenticator({token: user_claims(100, Tier.BASIC)})
    app = FastAPI()
    attach(app, KubeBackend(auth=auth, nodes=MemoryNodeSource([sample_node("n1")])))
    routers = [api.router, webhooks.router]
    for router in routers if standalone_first else reversed(routers):
        app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://kube")
    review = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }
    resp = await client.post("/apis/webhooks/tokenreview", json=review)
    assert resp.status_code == 200 and resp.json()["status"]["authenticated"] is True
    headers = {"authorization": f"Bearer {token}"}
    other = await client.post("/apis/apps/v1/deployments", json={}, headers=headers)
    assert other.status_code == 405 and other.json()["kind"] == "Status"
    node = await client.get("/api/v1/nodes/n1", headers=headers)
    assert node.json()["kind"] == "Node"
    # Under /apis/webhooks only the webhook routes answer: the catch-all declines these paths.
    unknown = await client.post("/apis/webhooks/other", json={}, headers=headers)
    assert unknown.status_code == 404 and unknown.json() == {"detail": "Not Found"}
    await client.aclose()


class CountingAuthenticator(MemoryAuthenticator):
    def __init__(self, token: str, claims: Claims) -> None:
        super().__init__({token: claims})
        self.calls = 0

    async def authenticate(self, token: str) -> Claims:
        self.calls += 1
        return await super().authenticate(token)


def _concrete(path: str) -> str:
    for param, value in (("{name}", "n1"), ("{namespace}", "default"), ("{rest:path}", "x/y")):
        path = path.replace(param, value)
    return path


async def test_every_standalone_route_authenticates_once() -> None:
    token = seal_token(4)
    auth = CountingAuthenticator(token, user_claims(100, Tier.BASIC))
    app = FastAPI()
    install(app, auth=auth, nodes=MemoryNodeSource([sample_node("n1")]), webhooks=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kube")
    parts = (discovery, nodes, empty_lists, reviews, fallback)
    routes = [r for part in parts for r in part.router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 15
    for route in routes:
        for method in sorted(route.methods or ())[:2]:
            path = _concrete(route.path)
            missing = await client.request(method, path)
            assert missing.status_code == 401, (method, path)
            if method != "HEAD":
                assert missing.json()["reason"] == "Unauthorized", (method, path)
            before = auth.calls
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
            await client.request(method, path, headers=headers, content=b"{}")
            assert auth.calls == before + 1, (method, path)
    await client.aclose()


def test_standalone_api_needs_a_node_source() -> None:
    with pytest.raises(ValueError, match="NodeSource"):
        install(FastAPI(), auth=MemoryAuthenticator({}))
