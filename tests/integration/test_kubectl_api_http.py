"""The standalone API at the HTTP level: discovery negotiation (v2 / v2beta1 / legacy), Status
errors for every failure, pagination, protobuf self reviews, and the raw watch stream."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import httpx
import pytest

from k3s_daas.kube.protobuf import encode_self_subject_access_review, encode_self_subject_review
from tests.fixtures.kube import KubeServer, seal_token

V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
V2BETA1 = (
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"


@pytest.fixture(scope="module")
def http(kube_server: KubeServer) -> Iterator[httpx.Client]:
    ctx = ssl.create_default_context(cadata=kube_server.identity.ca_pem.decode())
    headers = {"authorization": f"Bearer {kube_server.tokens['basic']}"}
    with httpx.Client(base_url=kube_server.url, verify=ctx, timeout=10, headers=headers) as client:
        yield client


@pytest.mark.parametrize(("accept", "version"), [(V2, "v2"), (V2BETA1, "v2beta1")])
def test_aggregated_discovery_follows_accept(http: httpx.Client, accept: str, version: str) -> None:
    for path, names in (
        ("/api", [None]),
        ("/apis", ["authentication.k8s.io", "authorization.k8s.io"]),
    ):
        resp = http.get(path, headers={"accept": accept})
        assert resp.status_code == 200
        assert resp.headers["content-type"] == (
            f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
        )
        body = resp.json()
        assert body["apiVersion"] == f"apidiscovery.k8s.io/{version}"
        assert [i["metadata"].get("name") for i in body["items"]] == names
    core = http.get("/api", headers={"accept": accept}).json()["items"][0]["versions"][0]
    nodes = next(r for r in core["resources"] if r["resource"] == "nodes")
    assert nodes["responseKind"] == {"group": "", "version": "v1", "kind": "Node"}
    assert nodes["scope"] == "Cluster" and nodes["verbs"] == ["get", "list", "watch"]


def test_legacy_discovery(http: httpx.Client) -> None:
    assert http.get("/api", headers={"accept": "application/json"}).json()["versions"] == ["v1"]
    groups = http.get("/apis").json()
    assert groups["kind"] == "APIGroupList"
    assert [g["name"] for g in groups["groups"]] == [
        "authentication.k8s.io",
        "authorization.k8s.io",
    ]
    v1 = http.get("/api/v1").json()
    assert v1["kind"] == "APIResourceList"
    assert {r["name"] for r in v1["resources"]} == {"nodes", "pods", "events"}
    authz = http.get("/apis/authorization.k8s.io/v1").json()
    assert authz["resources"][0]["name"] == "selfsubjectaccessreviews"


def test_unauthenticated_is_401_status(kube_server: KubeServer, http: httpx.Client) -> None:
    for headers in (
        {"authorization": ""},
        {"authorization": f"Bearer {seal_token(77)}"},
        {"authorization": "Basic eDp5"},
    ):
        resp = http.get("/api/v1/nodes", headers=headers)
        assert resp.status_code == 401
        body = resp.json()
        assert body["kind"] == "Status" and body["reason"] == "Unauthorized" and body["code"] == 401
    # authentication comes before routing, as in the apiserver
    assert http.get("/api/v1/nope", headers={"authorization": ""}).status_code == 401


def test_errors_are_status_never_detail(http: httpx.Client) -> None:
    cases = [
        ("GET", "/api/v1/secrets", 404, "NotFound"),
        ("GET", "/apis/apps/v1", 404, "NotFound"),
        ("POST", "/api/v1/nodes", 405, "MethodNotAllowed"),
        ("DELETE", "/api/v1/nodes/node-a", 405, "MethodNotAllowed"),
        ("PUT", "/version", 405, "MethodNotAllowed"),
        ("GET", "/api/v1/nodes?limit=abc", 400, "BadRequest"),
        ("GET", "/api/v1/nodes?continue=!!!", 400, "BadRequest"),
        ("GET", "/api/v1/nodes?fieldSelector=spec.podCIDR=x", 400, "BadRequest"),
        ("GET", "/api/v1/nodes?watch=true&resourceVersion=x", 400, "BadRequest"),
    ]
    for method, path, code, reason in cases:
        resp = http.request(method, path)
        assert resp.status_code == code, (method, path, resp.text)
        body = resp.json()
        assert (body["kind"], body["reason"], body["code"]) == ("Status", reason, code)
        assert "detail" not in body
    resp = http.get("/api/v1/nodes", headers={"accept": PROTOBUF})
    assert resp.status_code == 406 and resp.json()["reason"] == "NotAcceptable"


def test_list_pagination_and_selectors(http: httpx.Client) -> None:
    first = http.get("/api/v1/nodes", params={"limit": 2}).json()
    assert first["kind"] == "NodeList"
    assert [n["metadata"]["name"] for n in first["items"]] == ["node-a", "node-b"]
    assert first["metadata"]["remainingItemCount"] == 1
    rest = http.get(
        "/api/v1/nodes", params={"limit": 2, "continue": first["metadata"]["continue"]}
    ).json()
    assert [n["metadata"]["name"] for n in rest["items"]] == ["node-c"]
    assert "continue" not in rest["metadata"]
    one = http.get("/api/v1/nodes", params={"fieldSelector": "metadata.name=node-b"}).json()
    assert [n["metadata"]["name"] for n in one["items"]] == ["node-b"]
    tier = http.get("/api/v1/nodes", params={"labelSelector": "k3s-daas.io/tier=basic"}).json()
    assert [n["metadata"]["name"] for n in tier["items"]] == ["node-c"]


def test_table_for_single_node(http: httpx.Client) -> None:
    resp = http.get("/api/v1/nodes/node-a", headers={"accept": TABLE})
    assert resp.headers["content-type"].startswith("application/json;as=Table")
    table = resp.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == [
        "Name",
        "Status",
        "Tier",
        "Stake",
        "Age",
        "Last-Heartbeat",
    ]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_pods_and_events_are_empty_lists(http: httpx.Client) -> None:
    pods = http.get("/api/v1/pods", params={"fieldSelector": "spec.nodeName=node-a"}).json()
    assert (pods["kind"], pods["items"]) == ("PodList", [])
    events = http.get("/api/v1/namespaces/default/events").json()
    assert (events["kind"], events["items"]) == ("EventList", [])


def test_protobuf_self_subject_access_review(http: httpx.Client) -> None:
    body = encode_self_subject_access_review(
        {"verb": "list", "resource": "pods", "namespace": "default"}
    )
    resp = http.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        content=body,
        headers={"content-type": PROTOBUF, "accept": f"{PROTOBUF}, application/json"},
    )
    assert resp.status_code == 201, resp.text
    answer = resp.json()
    assert answer["kind"] == "SelfSubjectAccessReview"
    assert answer["spec"]["resourceAttributes"]["resource"] == "pods"
    assert answer["status"]["allowed"] is True
    bad = http.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        content=body[:-3],
        headers={"content-type": PROTOBUF},
    )
    assert bad.status_code == 400 and bad.json()["kind"] == "Status"
    wrong = http.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        content=b"x",
        headers={"content-type": "application/yaml"},
    )
    assert wrong.status_code == 415 and wrong.json()["reason"] == "UnsupportedMediaType"


def test_protobuf_and_json_self_subject_review(http: httpx.Client, kube_server: KubeServer) -> None:
    path = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
    pb = http.post(path, content=encode_self_subject_review(), headers={"content-type": PROTOBUF})
    js = http.post(
        path, json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    )
    for resp in (pb, js):
        assert resp.status_code == 201, resp.text
        info = resp.json()["status"]["userInfo"]
        assert info["username"] == f"seal:{kube_server.claims['basic'].owner}"


def test_raw_watch_stream(http: httpx.Client, kube_server: KubeServer) -> None:
    """resourceVersion="" starts with ADDED for the current nodes; timeoutSeconds ends it."""
    with http.stream(
        "GET",
        "/api/v1/nodes",
        params={"watch": "true", "timeoutSeconds": "1", "fieldSelector": "metadata.name=node-a"},
    ) as resp:
        assert resp.status_code == 200
        events = [json.loads(line) for line in resp.iter_lines() if line]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "node-a")]
    assert events[0]["object"]["kind"] == "Node"
