"""TokenReview / SubjectAccessReview v1 webhooks over HTTPS with the exact payloads kube-apiserver
sends, answers validated against lightkube's Kubernetes models."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.authorization_v1 import SubjectAccessReview

from tests.fixtures.kube import KubeServer, sample_node, seal_token

TR = "/apis/webhooks/tokenreview"
SAR = "/apis/webhooks/subjectaccessreview"


@pytest.fixture(scope="module")
def http(kube_server: KubeServer) -> Iterator[httpx.Client]:
    ctx = ssl.create_default_context(cadata=kube_server.identity.ca_pem.decode())
    with httpx.Client(base_url=kube_server.url, verify=ctx, timeout=10) as client:
        yield client


def token_review(token: str, audiences: list[str] | None = None) -> dict[str, Any]:
    """What kube-apiserver's webhook token authenticator POSTs (v1)."""
    spec: dict[str, Any] = {"token": token}
    if audiences is not None:
        spec["audiences"] = audiences
    return {
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": {"user": {}},
    }


def sar(user: str, groups: list[str], extra: dict[str, list[str]], **attrs: str) -> dict[str, Any]:
    return {
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {
            "resourceAttributes": {"namespace": "default", "version": "v1", **attrs},
            "user": user,
            "groups": groups,
            "extra": extra,
            "uid": "u1",
        },
        "status": {"allowed": False},
    }


def test_token_review_user(http: httpx.Client, kube_server: KubeServer) -> None:
    resp = http.post(
        TR, json=token_review(kube_server.tokens["basic"], ["https://kubernetes.default.svc"])
    )
    assert resp.status_code == 200
    body = resp.json()
    TokenReview.from_dict(body)  # the official model accepts it
    assert body["apiVersion"] == "authentication.k8s.io/v1" and body["kind"] == "TokenReview"
    assert body["spec"] == {"token": "", "audiences": ["https://kubernetes.default.svc"]}
    status = body["status"]
    claims = kube_server.claims["basic"]
    assert status["authenticated"] is True
    assert status["user"]["username"] == f"seal:{claims.owner}"
    assert status["user"]["groups"] == [
        "seal:tier:basic",
        "seal:perm:pods:read",
        "seal:perm:services:read",
        "system:authenticated",
    ]
    assert status["user"]["extra"]["k3s-daas.io/token-id"] == [claims.token_id]
    assert kube_server.tokens["basic"] not in resp.text


def test_token_review_node(http: httpx.Client, kube_server: KubeServer) -> None:
    body = http.post(TR, json=token_review(kube_server.tokens["node"])).json()
    TokenReview.from_dict(body)
    assert body["status"]["user"]["username"] == "system:node:node-a"
    assert body["status"]["user"]["groups"] == ["system:nodes", "system:authenticated"]


@pytest.mark.parametrize("token", [seal_token(99), "", "not-a-token"])
def test_token_review_rejects(http: httpx.Client, token: str) -> None:
    resp = http.post(TR, json=token_review(token))
    assert resp.status_code == 200
    body = resp.json()
    TokenReview.from_dict(body)
    assert body["status"]["authenticated"] is False
    assert body["status"]["error"] in ("unknown_token", "no_token")
    assert "user" not in body["status"]


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[]",
        b'{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1beta1","spec":{"token":"x"}}',
        b'{"kind":"SubjectAccessReview","apiVersion":"authentication.k8s.io/v1","spec":{}}',
        b'{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1"}',
        b'{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","spec":{"token":1}}',
        b'{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","spec":{"tokn":"x"}}',
    ],
)
def test_malformed_token_review_is_400_status(http: httpx.Client, payload: bytes) -> None:
    resp = http.post(TR, content=payload, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["kind"] == "Status" and body["reason"] == "BadRequest" and body["code"] == 400
    assert "detail" not in body


def test_oversized_review_is_413(http: httpx.Client) -> None:
    resp = http.post(
        TR, content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 413
    assert resp.json()["reason"] == "RequestEntityTooLarge"


def _user(
    http: httpx.Client, kube_server: KubeServer, role: str
) -> tuple[str, list[str], dict[str, list[str]]]:
    """The user exactly as our TokenReview answered it (what the apiserver then reviews)."""
    user = http.post(TR, json=token_review(kube_server.tokens[role])).json()["status"]["user"]
    return user["username"], user["groups"], user["extra"]


@pytest.mark.parametrize(
    ("role", "attrs", "allowed"),
    [
        ("basic", {"verb": "list", "resource": "pods", "group": ""}, True),
        ("basic", {"verb": "create", "resource": "pods", "group": ""}, False),
        ("standard", {"verb": "create", "resource": "pods", "group": ""}, True),
        (
            "standard",
            {"verb": "get", "resource": "pods", "subresource": "exec", "group": ""},
            False,
        ),
        ("premium", {"verb": "delete", "resource": "deployments", "group": "apps"}, True),
    ],
)
def test_subject_access_review(
    http: httpx.Client, kube_server: KubeServer, role: str, attrs: dict[str, str], allowed: bool
) -> None:
    user, groups, extra = _user(http, kube_server, role)
    request = sar(user, groups, extra, **attrs)
    resp = http.post(SAR, json=request)
    assert resp.status_code == 200
    body = resp.json()
    SubjectAccessReview.from_dict(body)
    assert body["spec"]["resourceAttributes"]["verb"] == attrs["verb"]
    assert body["spec"]["user"] == user
    assert body["status"]["allowed"] is allowed
    assert body["status"].get("denied") in (None, False)  # never a hard deny: RBAC may still allow


def test_sar_no_opinion_for_forged_groups_and_nodes(http: httpx.Client) -> None:
    """A client-cert user claiming seal groups, and kubelets, get no opinion (RBAC/Node decide)."""
    for user, groups, extra in (
        ("mallory", ["seal:perm:*:*"], {}),
        ("seal:0xabc", ["seal:perm:*:*"], {}),  # no token-id extra: not from our TokenReview
        ("system:node:node-a", ["system:nodes"], {"k3s-daas.io/token-id": ["x"]}),
    ):
        body = http.post(SAR, json=sar(user, groups, extra, verb="get", resource="pods")).json()
        SubjectAccessReview.from_dict(body)
        assert body["status"]["allowed"] is False
        assert "denied" not in body["status"]


def test_sar_denies_the_kubelet_of_a_revoked_node(
    http: httpx.Client, kube_server: KubeServer
) -> None:
    """A revoked node's kubelet keeps its client certificate: the webhook (first in the chain)
    answers an explicit deny, which stops the Node authorizer from allowing it."""
    kube_server.nodes.put(sample_node("node-r", status="revoked", reason="stake_slashed"))
    try:
        for attrs in ({"verb": "get", "resource": "pods"}, {"verb": "create", "resource": "nodes"}):
            request = sar(
                "system:node:node-r", ["system:nodes", "system:authenticated"], {}, **attrs
            )
            body = http.post(SAR, json=request).json()
            SubjectAccessReview.from_dict(body)
            assert body["status"]["allowed"] is False
            assert body["status"]["denied"] is True
            assert "stake_slashed" in body["status"]["reason"]
        # the same node name for another user, and a live node's kubelet: no opinion
        for user in ("node-r", "system:node:node-a"):
            request = sar(user, ["system:nodes"], {}, verb="get", resource="pods")
            assert "denied" not in http.post(SAR, json=request).json()["status"]
    finally:
        kube_server.nodes.delete("node-r")


def test_sar_non_resource_no_opinion(http: httpx.Client, kube_server: KubeServer) -> None:
    user, groups, extra = _user(http, kube_server, "premium")
    request = sar(user, groups, extra)
    del request["spec"]["resourceAttributes"]
    request["spec"]["nonResourceAttributes"] = {"path": "/metrics", "verb": "get"}
    body = http.post(SAR, json=request).json()
    SubjectAccessReview.from_dict(body)
    assert body["status"]["allowed"] is False


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r["spec"].pop("resourceAttributes"),
        lambda r: r["spec"].update(nonResourceAttributes={"path": "/x", "verb": "get"}),
        lambda r: r["spec"]["resourceAttributes"].update(verbb="get"),
        lambda r: r.update(apiVersion="authorization.k8s.io/v1beta1"),
        lambda r: r["spec"].update(groups="seal:perm:*:*"),
    ],
)
def test_malformed_sar_is_400_status(
    http: httpx.Client, mutate: Callable[[dict[str, Any]], object]
) -> None:
    request = sar("seal:0x1", [], {}, verb="get", resource="pods")
    mutate(request)
    resp = http.post(SAR, json=request)
    assert resp.status_code == 400
    assert resp.json()["kind"] == "Status"
