"""The kube-apiserver webhooks on their own mTLS listener (`webhook_port`), on a real master.

Only a client holding a certificate from the master's CA gets a TLS session at all, so the
TokenReview endpoint is no longer an oracle for whoever can reach the master; the main port stops
serving the webhooks. `k3s-daas nautilus k3s-config --client-cert-from` writes the webhook
kubeconfigs with such a certificate (what kube-apiserver presents).
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, chain, new_staker
from harness.processes import CLI, free_port
from k3s_daas.kube.tls import ServerIdentity, issue_client_certificate
from k3s_daas.kube.webhooks import TOKENREVIEW_PATH

pytestmark = pytest.mark.timeout(180)


def review(token: str) -> dict[str, object]:
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token},
    }


def client_context(
    ca: str, cert_pem: bytes | None, key_pem: bytes | None, tmp: Path
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    if cert_pem is not None and key_pem is not None:
        (tmp / "client.crt").write_bytes(cert_pem)
        (tmp / "client.key").write_bytes(key_pem)
        ctx.load_cert_chain(tmp / "client.crt", tmp / "client.key")
    return ctx


async def test_webhooks_require_a_client_certificate_from_the_master_ca(
    devnet: DevnetProcess, master_factory: Callable[..., MasterProcess], tmp_path: Path
) -> None:
    port = free_port()
    master = master_factory(K3S_DAAS_NAUTILUS_WEBHOOK_PORT=str(port))
    webhook_url = str(master.info["webhook_url"])
    assert webhook_url == f"https://127.0.0.1:{port}"
    client, package = chain(devnet)
    try:
        staker = await new_staker(package, devnet, "mtls-w1")
    finally:
        await client.close()

    # kube-apiserver's kubeconfig, written by the CLI with a fresh client certificate
    out = tmp_path / "k3s"
    written = subprocess.run(
        [CLI, "nautilus", "k3s-config", "--master-url", webhook_url, "--ca", master.ca_path,
         "--output", str(out), "--client-cert-from", str(master.data_dir / "tls")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    user = json.loads((out / "authn-webhook.kubeconfig").read_text())["users"][0]["user"]
    cert_pem = base64.b64decode(user["client-certificate-data"])
    key_pem = base64.b64decode(user["client-key-data"])

    trusted = client_context(master.ca_path, cert_pem, key_pem, tmp_path)
    async with httpx.AsyncClient(base_url=webhook_url, verify=trusted, timeout=15) as http:
        answer = await http.post(TOKENREVIEW_PATH, json=review(staker.token))
        assert answer.status_code == 200
        assert answer.json()["status"]["authenticated"] is True
        assert (await http.get("/api/v1/noop")).status_code == 404  # webhooks only here

    # no client certificate, or one from another CA: no TLS session at all
    other = tmp_path / "other"
    ServerIdentity.load_or_create(other, ["localhost"], ["127.0.0.1"])
    foreign = issue_client_certificate(other)
    for cert, key in ((None, None), (foreign.cert_pem, foreign.key_pem)):
        ctx = client_context(master.ca_path, cert, key, tmp_path)
        async with httpx.AsyncClient(base_url=webhook_url, verify=ctx, timeout=15) as http:
            with pytest.raises(httpx.TransportError):
                await http.post(TOKENREVIEW_PATH, json=review(staker.token))

    # the main port no longer serves the webhooks
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=15) as http:
        assert (await http.post(TOKENREVIEW_PATH, json=review(staker.token))).status_code == 404
