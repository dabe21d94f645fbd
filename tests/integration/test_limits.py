"""Input limits on every listener of a real master (its API with the standalone Kubernetes API,
its mTLS webhook listener) and of the devnet's faucet: deep JSON is a 400, oversize or too many
headers a 431 while real kubectl still works, slow clients time out, a client hanging up is one
debug line, and SIGTERM ends the process within 5 s whatever its clients do."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import APIRouter

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, Staker, chain, new_staker
from harness.processes import free_port
from k3s_daas.devnet.faucet import create_app as faucet_app
from k3s_daas.kube.api import router as kube_router
from k3s_daas.kube.tls import issue_client_certificate
from k3s_daas.kube.webhooks import router as webhook_router
from k3s_daas.nautilus.routes import api_router, ops_router, worker_router
from k3s_daas.seal.protocol import PATHS
from tests.fixtures.kube import Kubectl, token_kubeconfig

pytestmark = pytest.mark.timeout(240)

DEEP = b"[" * 1000 + b"]" * 1000  # ~2 KB: what made four endpoints answer 500
JUST_TOO_DEEP = b'{"spec":' + b"[" * 32 + b"]" * 32 + b"}"  # 33 levels
SHORT_TIMEOUTS = {
    "K3S_DAAS_NAUTILUS_HEADER_TIMEOUT": "1.5",
    "K3S_DAAS_NAUTILUS_BODY_TIMEOUT": "1.5",
    "K3S_DAAS_LOG_LEVEL": "debug",
}


@dataclass
class Listener:
    """One listening port: how to reach it and the shape its errors have."""

    name: str
    url: str
    verify: ssl.SSLContext | bool
    faucet: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.verify, timeout=15,
                            headers=self.headers, **kw)  # fmt: skip

    def socket(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if isinstance(self.verify, ssl.SSLContext):
            return self.verify.wrap_socket(sock, server_hostname="127.0.0.1")
        return sock


@dataclass
class Setup:
    master: MasterProcess
    devnet: DevnetProcess
    staker: Staker
    api: Listener
    webhook: Listener
    faucet: Listener

    @property
    def listeners(self) -> list[Listener]:
        return [self.api, self.webhook, self.faucet]


def _routes(router: APIRouter) -> Iterator[tuple[set[str], str]]:
    for route in router.routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner)
        else:
            yield set(getattr(route, "methods", None) or ()), str(getattr(route, "path", ""))


def post_paths() -> set[str]:
    """Every POST route of every listener, read from the routers themselves."""
    routers = [worker_router, api_router, ops_router, kube_router, webhook_router]
    routers.append(faucet_app(cast(Any, None)).router)
    on_the_app = {PATHS["heartbeat"]}  # answered before the routers (nautilus.fast_route)
    return on_the_app | {path for r in routers for methods, path in _routes(r) if "POST" in methods}


#: route -> (listener, request path, error shape): routes reading a JSON body answer exactly 400.
BODY_ROUTES = {
    "/api/v1/register-worker": ("api", "/api/v1/register-worker", "master"),
    "/api/v1/nodes/heartbeat": ("api", "/api/v1/nodes/heartbeat", "master"),
    "/api/v1/nodes/leave": ("api", "/api/v1/nodes/leave", "master"),
    "/api/v1/validate": ("api", "/api/v1/validate", "master"),
    "/apis/authentication.k8s.io/v1/selfsubjectreviews":
        ("api", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "status"),
    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
        ("api", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "status"),
    "/apis/webhooks/tokenreview": ("webhook", "/apis/webhooks/tokenreview", "status"),
    "/apis/webhooks/subjectaccessreview":
        ("webhook", "/apis/webhooks/subjectaccessreview", "status"),
    "/v2/gas": ("faucet", "/v2/gas", "sui"),
}  # fmt: skip
#: Routes that take no body (catch-alls, devnet admin): never a 5xx.
OTHER_ROUTES = {
    "/api": ("api", "/api"),
    "/api/{rest:path}": ("api", "/api/v1/namespaces/default/pods"),
    "/apis": ("api", "/apis"),
    "/apis/{rest:path}": ("api", "/apis/apps/v1/deployments"),
    "/version": ("api", "/version"),
    "/api/v1/noop": ("api", "/api/v1/noop"),  # the benchmarks' baseline: reads no body
    "/devnet/epoch": ("faucet", "/devnet/epoch"),
}


def assert_shape(shape: str, response: httpx.Response, status: int) -> None:
    """`response` has `status` and the error shape of its route."""
    assert response.status_code == status, (shape, response.text[:300])
    body = response.json()
    if shape == "master":
        assert set(body) == {"error", "message"}, body
    elif shape == "status":
        assert body["kind"] == "Status" and body["code"] == status, body
    else:
        assert body["status"]["Failure"], body


def client_context(master: MasterProcess, tmp: Path) -> ssl.SSLContext:
    """What kube-apiserver presents to the webhook listener: a certificate from the master's CA."""
    issued = issue_client_certificate(master.data_dir / "tls")
    (tmp / "client.crt").write_bytes(issued.cert_pem)
    (tmp / "client.key").write_bytes(issued.key_pem)
    ctx = ssl.create_default_context(cafile=master.ca_path)
    ctx.load_cert_chain(tmp / "client.crt", tmp / "client.key")
    return ctx


async def _staker(devnet: DevnetProcess) -> Staker:
    client, package = chain(devnet)
    try:
        return await new_staker(package, devnet, "limits-w1")
    finally:
        await client.close()


@pytest.fixture(scope="module")
def setup(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("limits")
    env = {**SHORT_TIMEOUTS, "K3S_DAAS_NAUTILUS_WEBHOOK_PORT": str(free_port())}
    master = MasterProcess(devnet, tmp / "data", free_port(), env)
    master.start()
    staker = asyncio.run(_staker(devnet))
    server_ca = ssl.create_default_context(cafile=master.ca_path)
    bearer = {"Authorization": f"Bearer {staker.token}"}
    yield Setup(
        master=master,
        devnet=devnet,
        staker=staker,
        api=Listener("api", master.url, server_ca, headers=bearer),
        webhook=Listener("webhook", str(master.info["webhook_url"]), client_context(master, tmp)),
        faucet=Listener("faucet", devnet.faucet_url.rstrip("/"), False, faucet=True),
    )  # fmt: skip
    master.stop()


def log_since(master: MasterProcess, offset: int) -> list[dict[str, Any]]:
    text = master.log_path.read_bytes()[offset:].decode()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def read_all(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes (or `timeout`)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionError):
        pass
    return data


# -- JSON depth ---------------------------------------------------------------------------------
def test_every_post_route_is_covered() -> None:
    assert post_paths() == set(BODY_ROUTES) | set(OTHER_ROUTES)


def test_deep_json_is_a_400_on_every_post_endpoint(setup: Setup) -> None:
    by_name = {listener.name: listener for listener in setup.listeners}
    for route, (name, path, shape) in BODY_ROUTES.items():
        listener = by_name[name]
        with listener.client() as http:
            for body in (DEEP, JUST_TOO_DEEP, b'{"a":' + DEEP + b"}"):
                answer = http.post(path, content=body, headers={
                    "content-type": "application/json", "x-seal-token": setup.staker.token})  # fmt: skip
                assert_shape(shape, answer, 400)
                assert "nested deeper" in answer.text, (route, answer.text)
    for name, path in OTHER_ROUTES.values():
        with by_name[name].client() as http:
            answer = http.post(path, content=DEEP, headers={"content-type": "application/json"})
            assert answer.status_code < 500, (path, answer.text[:200])


def test_a_deep_continue_token_is_a_400(setup: Setup) -> None:
    token = base64.urlsafe_b64encode(b'{"after":' + b"[" * 3000 + b"]" * 3000 + b"}")
    with setup.api.client() as http:
        answer = http.get("/api/v1/nodes", params={"limit": "1", "continue": token.decode()})
    assert_shape("status", answer, 400)


# -- headers --------------------------------------------------------------------------------------
def test_oversize_and_too_many_headers_are_431_on_every_listener(setup: Setup) -> None:
    for listener in setup.listeners:
        path = "/devnet/info" if listener.faucet else "/api/v1/noop"
        with listener.client() as http:
            under = http.get(path, headers={"x-fill": "a" * 12_000}).status_code
            assert under < 500 and under != 431, (listener.name, under)  # the webhook port: 404
            for size in (17_000, 1024 * 1024):
                answer = http.get(path, headers={"x-fill": "a" * size})
                assert answer.status_code == 431, (listener.name, size)
                assert answer.json()["error"] == "headers_too_large"
            many = {f"x-h{i}": "1" for i in range(120)}
            answer = http.get(path, headers=many)
            assert answer.status_code == 431, listener.name
            assert answer.json() == {"error": "headers_too_large", "message": "at most 100 headers"}
    with setup.api.client() as http:
        assert http.get("/health_check").status_code == 200


def test_real_kubectl_works_within_the_limits(setup: Setup, kubectl: Kubectl,
                                              tmp_path: Path) -> None:  # fmt: skip
    ca_pem = Path(setup.master.ca_path).read_bytes()
    config = token_kubeconfig(tmp_path / "kc", setup.master.url, ca_pem, setup.staker.token)
    for args in (("version",), ("auth", "whoami"), ("auth", "can-i", "list", "pods"),
                 ("get", "nodes")):  # fmt: skip
        result = kubectl(config, *args)
        assert result.returncode == 0, (args, result.stderr)
    assert "limits-w1" in kubectl(config, "auth", "whoami").stdout


# -- slow and vanishing clients ---------------------------------------------------------------------
def test_slow_clients_get_a_408_and_the_connection_closed(setup: Setup) -> None:
    for listener in (setup.api, setup.webhook):
        with listener.socket() as sock:  # a head that never ends (slowloris)
            sock.sendall(b"GET /health_check HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            started = time.monotonic()
            answer = read_all(sock, timeout=10)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
            assert time.monotonic() - started < 5
        with listener.socket() as sock:  # a body that never ends
            post = "/apis/webhooks/tokenreview" if listener is setup.webhook else "/api/v1/validate"
            sock.sendall(f"POST {post} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Content-Length: 500\r\n\r\n{{".encode())  # fmt: skip
            answer = read_all(sock, timeout=10)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        with listener.socket() as sock:  # a connection that never says anything
            started = time.monotonic()
            assert read_all(sock, timeout=10) == b""
            assert time.monotonic() - started < 5


def test_a_client_hanging_up_mid_body_is_one_debug_line(setup: Setup) -> None:
    offset = setup.master.log_path.stat().st_size
    cases = [(setup.api, "/api/v1/register-worker"), (setup.api, "/api/v1/validate"),
             (setup.api, "/apis/authentication.k8s.io/v1/selfsubjectreviews"),
             (setup.webhook, "/apis/webhooks/tokenreview")]  # fmt: skip
    for listener, path in cases:
        with listener.socket() as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Authorization: Bearer {setup.staker.token}\r\n"
                         f"Content-Length: 4000\r\n\r\n".encode() + b'{"node_id":')  # fmt: skip
            time.sleep(0.3)
    time.sleep(0.5)
    with setup.api.client() as http:
        assert http.get("/health_check").status_code == 200
    lines = log_since(setup.master, offset)
    gone = [line for line in lines if line["event"] == "client hung up mid-request"]
    assert [line["path"] for line in gone] == [path for _, path in cases]
    assert all(line["level"] == "debug" for line in gone)
    assert not [line for line in lines if line["level"] in ("warning", "error", "critical")]
    assert "Traceback" not in setup.master.log_path.read_bytes()[offset:].decode()


# -- shutdown -------------------------------------------------------------------------------------
def stuck_clients(listener: Listener, requests: int = 400) -> list[socket.socket]:
    """A client that never completes its body, one that never reads its (large) answers, one
    that never finishes its head and one that never starts its TLS handshake."""
    faucet = listener.faucet
    unfinished = listener.socket()
    post = "/v2/gas" if faucet else "/api/v1/validate"
    unfinished.sendall(f"POST {post} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       f"Content-Length: 1000\r\n\r\n{{".encode())  # fmt: skip
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", listener.port))
    deaf = raw
    if isinstance(listener.verify, ssl.SSLContext):
        deaf = listener.verify.wrap_socket(raw, server_hostname="127.0.0.1")
    path = "/devnet/info" if faucet else "/get_attestation"
    deaf.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * requests)
    slow = listener.socket()
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    silent = socket.create_connection(("127.0.0.1", listener.port))
    return [unfinished, deaf, slow, silent]


def exit_seconds(proc: Any, started: float) -> float:
    try:
        proc.wait(timeout=15)
    except Exception:
        return float("inf")
    return time.monotonic() - started


def test_sigterm_with_stuck_tls_clients_exits_within_5s(
    master_factory: Callable[..., MasterProcess],
) -> None:
    master = master_factory()
    listener = Listener("api", master.url, ssl.create_default_context(cafile=master.ca_path))
    clients = stuck_clients(listener)
    body = json.dumps({"token": "seal_" + "ab" * 64}).encode()
    in_flight = listener.socket()
    in_flight.sendall(
        b"POST /api/v1/validate HTTP/1.1\r\nHost: x\r\nContent-Type: "
        b"application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:9]
    )
    time.sleep(1.0)  # the answers pile up unread
    offset = master.log_path.stat().st_size
    started = time.monotonic()
    master.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    in_flight.sendall(body[9:])  # a request in flight at SIGTERM is finished within the grace
    answer = read_all(in_flight, timeout=5)
    seconds = exit_seconds(master.proc, started)
    for sock in [*clients, in_flight]:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert b"connection: close" in answer.lower() and b'"reason":"not_found"' in answer
    assert seconds < 5, seconds
    assert master.proc.returncode == 0
    lines = log_since(master, offset)
    assert not [line for line in lines if line["level"] in ("error", "critical")], lines
    assert "Traceback" not in master.log_path.read_bytes()[offset:].decode()


def test_sigterm_with_stuck_faucet_clients_stops_the_devnet_within_5s(
    devnet_factory: Callable[[], DevnetProcess],
) -> None:
    devnet = devnet_factory()
    clients = stuck_clients(Listener("faucet", devnet.faucet_url.rstrip("/"), False, faucet=True))
    time.sleep(1.0)
    offset = devnet.log_path.stat().st_size
    started = time.monotonic()
    devnet.proc.send_signal(signal.SIGTERM)
    seconds = exit_seconds(devnet.proc, started)
    for sock in clients:
        sock.close()
    assert seconds < 5, seconds
    tail = devnet.log_path.read_bytes()[offset:].decode()
    assert '"level": "error"' not in tail and "Traceback" not in tail, tail[-2000:]
