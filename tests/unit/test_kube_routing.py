"""Mount order does not matter: the standalone catch-alls never shadow the webhook routes, and
unknown paths under /api and /apis are Status answers (in-process httpx ASGI transport)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from k3s_daas.kube.api import standalone_router
from k3s_daas.kube.memory import MemoryAuthenticator, MemoryNodeSource
from k3s_daas.kube.webhooks import webhook_router
from k3s_daas.seal import Tier
from tests.fixtures.kube import sample_node, seal_token, user_claims


@pytest.mark.parametrize("standalone_first", [True, False])
async def test_webhooks_reachable_in_any_order(standalone_first: bool) -> None:
    token = seal_token(3)
    auth = MemoryAuthenticator({token: user_claims(100, Tier.BASIC)})
    routers = [standalone_router(MemoryNodeSource([sample_node("n1")]), auth), webhook_router(auth)]
    app = FastAPI()
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
    await client.aclose()
