"""The etcd store over TLS with client certificates and DNS names, against a real 3-member etcd
started with certificates this test makes (`harness.certs`): each member's certificate is checked
against the name in the URL, a client without a certificate or with the wrong CA gets nothing, and
with the member in use killed the store moves to another one and keeps writing."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.certs import TestCA
from harness.etcd import EtcdCluster, EtcdTls, start_etcd_cluster
from k3s_daas.nautilus.store import StoreUnavailableError, open_store
from k3s_daas.nautilus.store.etcd import EtcdStore
from tests.conftest import require_tool


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    require_tool(shutil.which("etcd") is not None, "etcd")
    base = tmp_path_factory.mktemp("etcd-tls")
    ca = TestCA.create(base / "pki")
    certs = [ca.issue(f"member{i}", ["localhost"]) for i in range(3)]  # not 127.0.0.1
    tls = EtcdTls(ca.ca_path, ca.issue("client", ["k3s-daas-master"]))
    cluster = start_etcd_cluster(base / "data", 3, tls=tls, certs=certs, hosts=["localhost"] * 3)
    yield cluster
    cluster.stop()


def _prefix() -> str:
    return f"/tls-{os.urandom(4).hex()}/"


async def test_tls_with_client_certificate_and_dns_names(tls_cluster: EtcdCluster) -> None:
    url = tls_cluster.all_url
    assert url.startswith("etcd://localhost:") and "tls_cert=" in url
    store = open_store(url)
    prefix = _prefix()
    watch = store.watch(prefix)
    await watch.start()
    try:
        revision = await store.put(prefix + "a", b"one")
        got = await store.get(prefix + "a")
        assert got is not None and got.value == b"one" and got.revision == revision
        assert await store.compare_and_set(prefix + "b", b"two", expected_revision=None)
        event = await asyncio.wait_for(anext(aiter(watch)), 10)
        assert event.key == prefix + "a"
    finally:
        await watch.aclose()
        await store.close()


async def test_refused_without_client_cert_wrong_ca_wrong_name_or_plaintext(
    tls_cluster: EtcdCluster, tmp_path: Path
) -> None:
    assert tls_cluster.tls is not None
    member = tls_cluster.members[0]
    port = member.client_port
    other = TestCA.create(tmp_path / "other")
    client = tls_cluster.tls.client
    urls = {
        "no client certificate": f"etcd://localhost:{port}?tls_ca={tls_cluster.tls.ca}",
        "another CA": f"etcd://localhost:{port}?tls_ca={other.ca_path}"
        f"&tls_cert={client.cert}&tls_key={client.key}",
        "a name the certificate lacks": f"etcd://127.0.0.1:{port}{tls_cluster.tls.query()}",
        "plaintext": f"etcd://localhost:{port}",
    }
    for what, url in urls.items():
        store = open_store(url)
        try:
            with pytest.raises(StoreUnavailableError):
                await store.put("/tls-refused", b"x")
        finally:
            await store.close()
        print(f"refused: {what}")


async def test_member_in_use_killed_writes_go_on(tls_cluster: EtcdCluster) -> None:
    store = EtcdStore.from_url(tls_cluster.all_url)
    prefix = _prefix()
    try:
        await store.put(prefix + "before", b"1")
        in_use = tls_cluster.members[0]  # the store starts with the first endpoint
        tls_cluster.kill(in_use)
        landed: list[bool] = []
        for i in range(20):  # a call may fail while the store moves on (or etcd elects a new
            try:  # leader, if it was the leader: ~1 s, longer on a loaded machine); then all land
                await store.put(prefix + f"after-{i}", b"2")
                landed.append(True)
            except StoreUnavailableError:
                landed.append(False)
        assert all(landed[10:]) and sum(landed) >= 12, f"writes after the kill: {landed}"
        got = await store.get(prefix + "after-19")
        assert got is not None and got.value == b"2"
    finally:
        await store.close()
        tls_cluster.restart(*[m for m in tls_cluster.members if not m.alive()])
