"""K3s mode against the recorded-shape fake kube-apiserver (tests.fixtures.k3s.py, a
TEST DOUBLE: no K3s can run here): join tokens, node teardown, the master's cluster backends.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lightkube import AsyncClient

from k3s_daas.kube.k3s import (
    BOOTSTRAP_GROUP,
    BootstrapTokenIssuer,
    K3sApiError,
    NodeRevoker,
    ca_hash,
    connect_cluster,
)
from k3s_daas.kube.k3s_config import write_k3s_config
from k3s_daas.kube.types import KubeError
from k3s_daas.nautilus.cluster import K3sCluster, StandaloneCluster, open_cluster
from k3s_daas.nautilus.errors import MasterError, StartupError
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.settings import NautilusSettings
from tests.fixtures.clock import FakeClock
from tests.fixtures.k3s import SECRETS_PATH, FakeKubeApiserver, running_apiserver


@pytest.fixture
async def apiserver(tmp_path: Path) -> AsyncIterator[tuple[FakeKubeApiserver, AsyncClient]]:
    with running_apiserver(tmp_path) as fake:
        api_client = fake.api_client(tmp_path)
        try:
            yield fake, api_client
        finally:
            await api_client.close()


CA_PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


async def test_issue_bootstrap_token(apiserver: tuple[FakeKubeApiserver, AsyncClient]) -> None:
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


async def test_issue_retries_id_collisions(
    apiserver: tuple[FakeKubeApiserver, AsyncClient],
) -> None:
    fake, api_client = apiserver
    fake.conflicts = 2
    token = await BootstrapTokenIssuer(api_client, CA_PEM, timedelta(minutes=5)).issue("w")
    names = [r.body["metadata"]["name"] for r in fake.requests]
    assert len(names) == 3 and len(fake.secrets) == 1
    assert token.endswith(names[-1].removeprefix("bootstrap-token-") + "." + token[-16:])


async def test_issue_error_has_status_only(
    apiserver: tuple[FakeKubeApiserver, AsyncClient],
) -> None:
    fake, api_client = apiserver
    fake.fail_with = 500
    with pytest.raises(K3sApiError) as info:
        await BootstrapTokenIssuer(api_client, CA_PEM, timedelta(minutes=5)).issue("w")
    assert "500" in info.value.message and "secret-data" not in info.value.message
    assert info.value.reason == "k3s_api_error"


async def test_revoke_deletes_tokens_then_cordons_and_deletes(
    apiserver: tuple[FakeKubeApiserver, AsyncClient],
) -> None:
    fake, api_client = apiserver
    issuer = BootstrapTokenIssuer(api_client, CA_PEM, timedelta(minutes=5))
    await issuer.issue("worker-1")
    await issuer.issue("worker-2")
    fake.nodes.add("worker-1")
    fake.requests.clear()
    [token_1] = [n for n, s in fake.secrets.items() if "worker-1" in str(s["metadata"])]
    assert await NodeRevoker(api_client).revoke("worker-1") is True
    assert fake.calls() == [
        ("GET", SECRETS_PATH),
        ("DELETE", f"{SECRETS_PATH}/{token_1}"),
        ("PATCH", "/api/v1/nodes/worker-1"),
        ("DELETE", "/api/v1/nodes/worker-1"),
    ]
    assert fake.requests[0].query["labelSelector"] == ["k3s-daas.io/node=worker-1"]
    patch = fake.requests[2]
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert patch.body == {"spec": {"unschedulable": True}}
    assert "worker-1" not in fake.nodes
    # only worker-1's join token is gone
    labels = [s["metadata"]["labels"]["k3s-daas.io/node"] for s in fake.secrets.values()]
    assert labels == ["worker-2"]


async def test_revoke_missing_node_is_fine(
    apiserver: tuple[FakeKubeApiserver, AsyncClient],
) -> None:
    fake, api_client = apiserver
    assert await NodeRevoker(api_client).revoke("gone") is False
    assert fake.calls() == [("GET", SECRETS_PATH), ("PATCH", "/api/v1/nodes/gone")]


async def test_revoke_error_is_a_k3s_api_error(
    apiserver: tuple[FakeKubeApiserver, AsyncClient],
) -> None:
    fake, api_client = apiserver
    fake.fail_with = 503
    with pytest.raises(K3sApiError) as info:
        await NodeRevoker(api_client).revoke("worker-1")
    assert "503" in info.value.message and "secret-data" not in info.value.message


# -- connecting from an admin kubeconfig -----------------------------------------------------------
async def test_connect_cluster_reads_server_and_ca(tmp_path: Path) -> None:
    with running_apiserver(tmp_path) as fake:
        assert fake.identity is not None
        api = connect_cluster(fake.write_kubeconfig(tmp_path / "k3s.yaml"))
        try:
            assert api.server == fake.url
            assert api.ca_pem == fake.identity.ca_path.read_bytes()
        finally:
            await api.client.close()
        override = tmp_path / "server-ca.crt"
        override.write_bytes(CA_PEM)
        api = connect_cluster(tmp_path / "k3s.yaml", override)
        assert api.ca_pem == CA_PEM
        await api.client.close()


@pytest.mark.parametrize(
    "content",
    ["not: [valid", '{"apiVersion": "v1", "kind": "Config"}', ""],
)
def test_connect_cluster_refuses_bad_kubeconfigs(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(KubeError) as info:
        connect_cluster(path)
    assert info.value.reason in ("bad_kubeconfig", "bad_ca")
    with pytest.raises(KubeError):
        connect_cluster(tmp_path / "missing.yaml")


def test_connect_cluster_without_a_ca_is_refused(tmp_path: Path) -> None:
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }  # fmt: skip
    path = tmp_path / "k.yaml"
    path.write_text(json.dumps(config))
    with pytest.raises(KubeError) as info:
        connect_cluster(path)
    assert info.value.reason == "bad_ca"


# -- the master's cluster backends -----------------------------------------------------------------
async def test_standalone_cluster_mints_nothing() -> None:
    cluster = StandaloneCluster()
    assert await cluster.admit("w") is None
    cluster.revoked("w", "stake_slashed")  # nothing to do, nothing raised
    await cluster.close()


async def test_k3s_cluster_admits_and_tears_down(tmp_path: Path) -> None:
    with running_apiserver(tmp_path) as fake:
        settings = NautilusSettings(
            data_dir=tmp_path, cluster="k3s", k3s_kubeconfig=fake.write_kubeconfig(tmp_path / "k"),
            k3s_server_url="https://10.0.0.1:6443", join_token_ttl=300,
        )  # fmt: skip
        metrics = Metrics()
        cluster = open_cluster(settings, metrics)
        assert isinstance(cluster, K3sCluster) and cluster.mode == "k3s"
        join = await cluster.admit("worker-1")
        assert join is not None and join.server == "https://10.0.0.1:6443"
        assert fake.identity is not None
        assert join.token.startswith(f"K10{ca_hash(fake.identity.ca_path.read_bytes())}::")
        [name] = fake.secrets
        assert join.token.endswith("::" + fake.secret_token(name))
        fake.nodes.add("worker-1")
        cluster.revoked("worker-1", "stake_slashed")  # returns at once; the teardown runs behind
        await cluster.drain()
        assert "worker-1" not in fake.nodes and not fake.secrets
        assert metrics.cluster_actions.labels("node_revoke", "ok")._value.get() == 1
        await cluster.close()


async def test_k3s_cluster_retries_teardown_until_the_api_answers(tmp_path: Path) -> None:
    with running_apiserver(tmp_path) as fake:
        api = connect_cluster(fake.write_kubeconfig(tmp_path / "k"))
        clock = FakeClock()
        cluster = K3sCluster(
            api, Metrics(), token_ttl=timedelta(minutes=5), retry_delay=0.05, sleep=clock.sleep,
            rng=lambda: 1.0,  # the jitter's largest draw: the schedule's ceilings
        )  # fmt: skip
        fake.nodes.add("worker-1")
        fake.fail_with = 503
        cluster.revoked("worker-1", "stake_slashed")
        await asyncio.wait_for(clock.sleeping(1), 10)  # the first attempt failed
        clock.advance(0.05)
        await asyncio.wait_for(clock.sleeping(2), 10)  # so did the retry; it backs off
        assert "worker-1" in fake.nodes
        assert clock.sleeps == [0.05, 0.1]
        fake.fail_with = None
        clock.advance(0.1)
        await cluster.drain()
        assert "worker-1" not in fake.nodes
        await cluster.close()


async def test_k3s_cluster_admit_failure_is_a_503(tmp_path: Path) -> None:
    with running_apiserver(tmp_path) as fake:
        api = connect_cluster(fake.write_kubeconfig(tmp_path / "k"))
        cluster = K3sCluster(api, Metrics(), token_ttl=timedelta(minutes=5))
        fake.fail_with = 500
        with pytest.raises(MasterError) as info:
            await cluster.admit("worker-1")
        assert (info.value.status, info.value.reason) == (503, "k3s_unavailable")
        await cluster.close()


def test_k3s_cluster_needs_a_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(StartupError):
        open_cluster(NautilusSettings(data_dir=tmp_path, cluster="k3s"), Metrics())
    bad = tmp_path / "bad.yaml"
    bad.write_text("{}")
    with pytest.raises(StartupError):
        open_cluster(
            NautilusSettings(data_dir=tmp_path, cluster="k3s", k3s_kubeconfig=bad), Metrics()
        )


def test_write_k3s_config(tmp_path: Path) -> None:
    config = write_k3s_config(tmp_path / "k3s", "https://master.example:8443/", CA_PEM)
    authn, authz = config.files
    assert config.server_flags == [
        f"--kube-apiserver-arg=authentication-token-webhook-config-file={authn}",
        "--kube-apiserver-arg=authentication-token-webhook-version=v1",
        f"--kube-apiserver-arg=authorization-webhook-config-file={authz}",
        "--kube-apiserver-arg=authorization-webhook-version=v1",
        "--kube-apiserver-arg=authorization-mode=Webhook,Node,RBAC",
        "--kube-apiserver-arg=authentication-token-webhook-cache-ttl=10s",
        "--kube-apiserver-arg=authorization-webhook-cache-authorized-ttl=10s",
        "--kube-apiserver-arg=authorization-webhook-cache-unauthorized-ttl=10s",
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


async def test_unreachable_api_is_a_k3s_api_error(tmp_path: Path) -> None:
    """A refused connection (not an HTTP answer) must not escape as an httpx error (a 500)."""
    with running_apiserver(tmp_path) as fake:
        kubeconfig = fake.write_kubeconfig(tmp_path / "k")
    api = connect_cluster(kubeconfig)  # the server is gone now: connections are refused
    try:
        with pytest.raises(K3sApiError) as info:
            await BootstrapTokenIssuer(api.client, CA_PEM, timedelta(minutes=5)).issue("w")
        assert "unreachable" in info.value.message
        with pytest.raises(K3sApiError):
            await NodeRevoker(api.client).revoke("w")
        cluster = K3sCluster(api, Metrics(), token_ttl=timedelta(minutes=5))
        with pytest.raises(MasterError) as admitted:
            await cluster.admit("w")
        assert admitted.value.status == 503
    finally:
        await api.client.close()
