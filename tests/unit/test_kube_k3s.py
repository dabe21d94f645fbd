"""K3s mode against a recorded-shape fake kube-apiserver (a TEST DOUBLE: no K3s can run here).

`FakeKubeApiserver` is a tiny real HTTPS server that records the exact method, path, content type
and JSON body the official `kubernetes` client sends and answers with response shapes recorded
from a real apiserver (Secret with base64 `data`, Node object on delete, `Status` on errors).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from k3s_daas.kube.k3s import (
    BOOTSTRAP_GROUP,
    BootstrapTokenIssuer,
    K3sApiError,
    NodeRevoker,
    ca_hash,
    write_k3s_config,
)
from k3s_daas.kube.tls import ServerIdentity
from k3s_daas.kube.types import KubeError


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str
    authorization: str
    body: Any


@dataclass
class FakeKubeApiserver:
    """Test double of kube-apiserver for the three calls K3s mode makes."""

    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicts: int = 0  # answer this many secret creations with 409 AlreadyExists
    fail_with: int | None = None

    def handle(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if self.fail_with is not None:
            return self.fail_with, _status(self.fail_with, "InternalError", "boom secret-data")
        if method == "POST" and path == "/api/v1/namespaces/kube-system/secrets":
            if self.conflicts:
                self.conflicts -= 1
                name = body["metadata"]["name"]
                return 409, _status(409, "AlreadyExists", f'secrets "{name}" already exists')
            name = body["metadata"]["name"]
            stored = {
                "kind": "Secret",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "namespace": "kube-system",
                    "uid": "6f1e5c0e-0000-4000-8000-000000000001",
                    "resourceVersion": "1042",
                    "creationTimestamp": "2025-01-01T00:00:00Z",
                    "labels": body["metadata"].get("labels", {}),
                },
                "data": {
                    k: base64.b64encode(v.encode()).decode() for k, v in body["stringData"].items()
                },
                "type": body["type"],
            }
            self.secrets[name] = stored
            return 201, stored
        match = re.fullmatch(r"/api/v1/nodes/([a-z0-9.-]+)", path)
        if match and method in ("PATCH", "DELETE"):
            name = match.group(1)
            if name not in self.nodes:
                return 404, _status(404, "NotFound", f'nodes "{name}" not found')
            node = {
                "kind": "Node",
                "apiVersion": "v1",
                "metadata": {"name": name, "uid": "n-1", "resourceVersion": "2001"},
                "spec": {"unschedulable": True},
                "status": {},
            }
            if method == "DELETE":
                self.nodes.discard(name)
            return 200, node
        return 404, _status(404, "NotFound", "the server could not find the requested resource")


@pytest.fixture
def apiserver(tmp_path: Path) -> Iterator[tuple[FakeKubeApiserver, Any]]:
    identity = ServerIdentity.load_or_create(tmp_path / "tls", ["localhost"], ["127.0.0.1"])
    fake = FakeKubeApiserver()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.loads(raw) if raw else None
            path = self.path.split("?")[0]
            fake.requests.append(
                Recorded(
                    self.command,
                    path,
                    self.headers.get("content-type", ""),
                    self.headers.get("authorization", ""),
                    body,
                )
            )
            code, answer = fake.handle(self.command, path, body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PATCH = do_DELETE = do_GET = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(identity.cert_path, identity.key_path)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"https://127.0.0.1:{server.server_address[1]}"
    config = k8s.Configuration()
    config.host = fake.url
    config.ssl_ca_cert = str(identity.ca_path)
    config.api_key = {"BearerToken": "admin-token"}
    config.api_key_prefix = {"BearerToken": "Bearer"}
    api_client = k8s.ApiClient(config)
    try:
        yield fake, api_client
    finally:
        api_client.close()
        server.shutdown()
        server.server_close()


CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


async def test_issue_bootstrap_token(apiserver: tuple[FakeKubeApiserver, Any]) -> None:
    fake, api_client = apiserver
    issuer = BootstrapTokenIssuer(api_client, CA_PEM, timedelta(minutes=10))
    before = datetime.now(UTC)
    token = await issuer.issue("worker-1")
    match = re.fullmatch(r"K10([0-9a-f]{64})::([a-z0-9]{6})\.([a-z0-9]{16})", token)
    assert match, token
    assert match.group(1) == hashlib.sha256(CA_PEM).hexdigest() == ca_hash(CA_PEM)
    token_id, secret = match.group(2), match.group(3)

    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/api/v1/namespaces/kube-system/secrets")
    assert req.content_type == "application/json"
    assert req.authorization == "Bearer admin-token"
    assert req.body["metadata"] == {
        "name": f"bootstrap-token-{token_id}",
        "namespace": "kube-system",
        "labels": {"k3s-daas.io/node": "worker-1"},
    }
    assert req.body["type"] == "bootstrap.kubernetes.io/token"
    data = req.body["stringData"]
    assert data["token-id"] == token_id and data["token-secret"] == secret
    assert data["usage-bootstrap-authentication"] == "true"
    assert data["usage-bootstrap-signing"] == "true"
    assert data["auth-extra-groups"] == BOOTSTRAP_GROUP
    expiration = datetime.fromisoformat(data["expiration"].replace("Z", "+00:00"))
    assert timedelta(minutes=9) < expiration - before <= timedelta(minutes=10, seconds=2)
    assert data["expiration"].endswith("Z")


async def test_issue_retries_id_collisions(apiserver: tuple[FakeKubeApiserver, Any]) -> None:
    fake, api_client = apiserver
    fake.conflicts = 2
    token = await BootstrapTokenIssuer(api_client, CA_PEM, timedelta(minutes=5)).issue("w")
    names = [r.body["metadata"]["name"] for r in fake.requests]
    assert len(names) == 3 and len(fake.secrets) == 1
    assert token.endswith(names[-1].removeprefix("bootstrap-token-") + "." + token[-16:])


async def test_issue_error_has_status_only(apiserver: tuple[FakeKubeApiserver, Any]) -> None:
    fake, api_client = apiserver
    fake.fail_with = 500
    with pytest.raises(K3sApiError) as info:
        await BootstrapTokenIssuer(api_client, CA_PEM, timedelta(minutes=5)).issue("w")
    assert "500" in info.value.message and "secret-data" not in info.value.message
    assert info.value.reason == "k3s_api_error"


async def test_revoke_cordons_then_deletes(apiserver: tuple[FakeKubeApiserver, Any]) -> None:
    fake, api_client = apiserver
    fake.nodes.add("worker-1")
    assert await NodeRevoker(api_client).revoke("worker-1") is True
    assert [(r.method, r.path) for r in fake.requests] == [
        ("PATCH", "/api/v1/nodes/worker-1"),
        ("DELETE", "/api/v1/nodes/worker-1"),
    ]
    patch = fake.requests[0]
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert patch.body == {"spec": {"unschedulable": True}}
    assert "worker-1" not in fake.nodes


async def test_revoke_missing_node_is_fine(apiserver: tuple[FakeKubeApiserver, Any]) -> None:
    fake, api_client = apiserver
    assert await NodeRevoker(api_client).revoke("gone") is False
    assert [(r.method, r.path) for r in fake.requests] == [("PATCH", "/api/v1/nodes/gone")]


def test_write_k3s_config(tmp_path: Path) -> None:
    config = write_k3s_config(tmp_path / "k3s", "https://master.example:8443/", CA_PEM)
    authn, authz = config.files
    assert config.server_flags == [
        f"--kube-apiserver-arg=authentication-token-webhook-config-file={authn}",
        "--kube-apiserver-arg=authentication-token-webhook-version=v1",
        f"--kube-apiserver-arg=authorization-webhook-config-file={authz}",
        "--kube-apiserver-arg=authorization-webhook-version=v1",
        "--kube-apiserver-arg=authorization-mode=Node,RBAC,Webhook",
    ]
    for path, route in ((authn, "tokenreview"), (authz, "subjectaccessreview")):
        assert path.stat().st_mode & 0o777 == 0o600
        cfg = json.loads(path.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        assert cluster["server"] == f"https://master.example:8443/apis/webhooks/{route}"
        assert base64.b64decode(cluster["certificate-authority-data"]) == CA_PEM
        assert cfg["current-context"] == cfg["contexts"][0]["name"]


@pytest.mark.parametrize(
    ("url", "ca"), [("http://master:8443", CA_PEM), ("https://", CA_PEM), ("https://m", b"junk")]
)
def test_write_k3s_config_refuses_bad_input(tmp_path: Path, url: str, ca: bytes) -> None:
    with pytest.raises(KubeError):
        write_k3s_config(tmp_path, url, ca)
