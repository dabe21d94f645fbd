"""etcd as the shared store of several master replicas: one audit chain, sealing, fail-over."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable

import httpx

from harness.etcd import EtcdCluster
from k3s_daas.nautilus.audit import AuditLog, tail, verify
from k3s_daas.nautilus.store import StoreIntegrityError, StoreUnavailableError, open_store
from k3s_daas.nautilus.store.etcd import EtcdStore


async def test_two_replicas_keep_one_linear_chain(
    etcd_cluster_factory: Callable[[int], EtcdCluster],
) -> None:
    cluster = etcd_cluster_factory(1)  # a fresh etcd: the audit prefix is global
    key = os.urandom(32)
    replicas = [open_store(cluster.url, data_key=key) for _ in range(2)]
    logs = [AuditLog(s) for s in replicas]

    async def writer(index: int) -> None:
        for i in range(25):
            await logs[index].append(
                actor=f"replica-{index}",
                action="register",
                subject=f"{index}-{i}",
                decision="allow",
            )

    await asyncio.gather(writer(0), writer(1))
    result = await verify(replicas[0])
    assert result.ok and result.entries_checked == 50
    entries = await tail(replicas[1], 50)
    assert [e.seq for e in entries] == list(range(1, 51))
    assert {e.actor for e in entries} == {"replica-0", "replica-1"}
    assert sorted(e.subject for e in entries) == sorted(
        f"{r}-{i}" for r in (0, 1) for i in range(25)
    )
    for store in replicas:
        await store.close()


async def test_sealed_values_on_etcd(etcd_server: EtcdCluster) -> None:
    key = os.urandom(32)
    sealed = open_store(etcd_server.url, data_key=key)
    raw = open_store(etcd_server.url)
    prefix = f"/sealed-{os.urandom(4).hex()}/"
    await sealed.put(prefix + "a", b"secret value")
    stored = await raw.get(prefix + "a")
    assert stored is not None and b"secret value" not in stored.value
    await raw.put(prefix + "b", stored.value)  # moved to another key
    try:
        await sealed.get(prefix + "b")
        raise AssertionError("a moved value opened")
    except StoreIntegrityError as exc:
        assert exc.key == prefix + "b"
    await sealed.close()
    await raw.close()


async def test_leader_kill_loses_no_acknowledged_write(
    etcd_cluster_factory: Callable[[int], EtcdCluster],
) -> None:
    cluster = etcd_cluster_factory(3)
    leader = cluster.leader()
    # the client dials the leader first (pick-first), so the kill also forces a client fail-over
    order = [leader] + [m for m in cluster.members if m is not leader]
    endpoints = ",".join(f"127.0.0.1:{m.client_port}" for m in order)
    store = open_store(f"etcd://{endpoints}?timeout=3")
    acknowledged: dict[str, bytes] = {}
    failures = 0

    async def write(i: int) -> None:
        nonlocal failures
        try:
            await store.put(f"/fault/{i:05d}", str(i).encode())
            acknowledged[f"/fault/{i:05d}"] = str(i).encode()
        except StoreUnavailableError:
            failures += 1

    for i in range(150):
        await write(i)
    cluster.kill(leader)
    for i in range(150, 300):
        await write(i)
    assert len(acknowledged) > 150, failures  # writes resumed on the surviving majority
    assert f"/fault/{299:05d}" in acknowledged
    await store.close()

    survivors = open_store(cluster.url)  # only the live members
    stored = {k: e.value for k, e in await survivors.range("/fault/")}
    # a put whose answer was lost may still have landed, so stored may hold a few more
    assert set(acknowledged) <= set(stored)
    for k, v in acknowledged.items():
        assert stored[k] == v
    await survivors.close()


async def test_quorum_loss_fails_fast_and_recovers_without_reopening(
    etcd_cluster_factory: Callable[[int], EtcdCluster],
) -> None:
    """Two of three members down: every call ends in StoreUnavailableError within 1 s (the
    deadline, not etcd's own request timeout); back up, the same store object writes again."""
    cluster = etcd_cluster_factory(3)
    store = open_store(cluster.all_url)  # the default deadline
    acknowledged: dict[str, bytes] = {}
    for i in range(20):
        await store.put(f"/quorum/{i:03d}", b"v%d" % i)
        acknowledged[f"/quorum/{i:03d}"] = b"v%d" % i
    down = [m for m in cluster.members if m is not cluster.members[-1]]
    for member in down:
        cluster.kill(member)
    loop = asyncio.get_running_loop()
    outcomes = []
    for call in (
        lambda: store.put("/quorum/lost", b"x"),
        lambda: store.compare_and_set("/quorum/cas", b"x", expected_revision=None),
        lambda: store.get("/quorum/000"),
        lambda: store.range("/quorum/"),
    ):
        started = loop.time()
        try:
            await call()
            outcomes.append("answered")
        except StoreUnavailableError:
            outcomes.append("unavailable")
        assert loop.time() - started < 1.0, outcomes
    assert outcomes == ["unavailable"] * 4
    cluster.restart(*down)
    deadline = loop.time() + 30
    while True:  # the same store (no reopen): writes come back once the cluster has a leader
        try:
            await store.put("/quorum/back", b"y")
            break
        except StoreUnavailableError:
            assert loop.time() < deadline, "writes did not recover"
            await asyncio.sleep(0.2)
    acknowledged["/quorum/back"] = b"y"
    stored = {k: e.value for k, e in await store.range("/quorum/")}
    assert all(stored.get(k) == v for k, v in acknowledged.items())  # 0 acknowledged writes lost
    await store.close()


async def test_the_store_compacts_etcd_history_one_period_behind(
    etcd_cluster_factory: Callable[[int], EtcdCluster],
) -> None:
    """etcd keeps every revision until compacted (and refuses writes at its quota): the store
    compacts up to the revision it noted one period before, as the kube-apiserver does."""
    cluster = etcd_cluster_factory(1)
    store = inner = EtcdStore.from_url(cluster.url + "?compact=0.2")
    first = await store.put("/history/k", b"v1")
    await store.put("/history/k", b"v2")
    member = cluster.members[0]

    def read_at(revision: int) -> httpx.Response:
        key = base64.b64encode(b"/history/k").decode()
        return httpx.post(f"{member.client_url}/v3/kv/range",
                          json={"key": key, "revision": revision}, timeout=5)  # fmt: skip

    assert read_at(first).json()["kvs"][0]["value"] == base64.b64encode(b"v1").decode()
    for _ in range(100):  # first tick notes the revision, the next compacts up to it
        if inner.compactions:
            break
        await asyncio.sleep(0.1)
    assert inner.compactions >= 1
    assert "compacted" in read_at(first).text  # the old revision is gone
    got = await store.get("/history/k")
    assert got is not None and got.value == b"v2"  # the current one stays
    behind = EtcdStore(inner.endpoints, compact=0)  # another replica, one period behind
    behind._noted_revision = first
    assert await behind.compact_once() == first  # a no-op, not an error
    await behind.close()
    await store.close()
