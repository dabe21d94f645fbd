"""Registry rules: node conflicts (409), lifecycle transitions, terminal states, the change feed.

`DictStore` is a test double of the Store (get/put/compare_and_set/range in a dict, no watch).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta

import pytest

from k3s_daas.nautilus.errors import MasterError
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import Registry
from k3s_daas.nautilus.store import WatchStream
from k3s_daas.nautilus.worker_record import WorkerRecord
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.protocol import NodeStatus, Reason


class DictStore:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self.data[key] = value

    async def compare_and_set(self, key: str, expected: bytes | None, value: bytes, *,
                              ttl: float | None = None) -> bool:  # fmt: skip
        if self.data.get(key) != expected:
            return False
        self.data[key] = value
        return True

    async def range(self, prefix: str) -> list[tuple[str, bytes]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    def watch(self, prefix: str) -> WatchStream:
        raise NotImplementedError("no change feed: tests on a DictStore never follow it")


def registered(registry: Registry, node_id: str) -> WorkerRecord:
    """The registry's record of `node_id`, which the test has registered."""
    found = registry.get(node_id)
    assert found is not None
    return found


def claims(owner: str = "0x" + "a" * 64, node: str = "n1", stake: str = "0x" + "5" * 64) -> Claims:
    return Claims(owner=owner, node_id=node, stake_amount=1000, permissions=("pods:read",),
                  tier=Tier.STANDARD, expires_at_epoch=100, token_id="0x" + "1" * 64,
                  stake_record_id=stake, enclave_id="0x" + "e" * 64)  # fmt: skip


async def test_node_registered_by_another_owner_is_a_conflict() -> None:
    reg = Registry(DictStore(), Metrics())
    await reg.register(claims(), "f" * 64)
    with pytest.raises(MasterError) as info:
        await reg.register(claims(owner="0x" + "b" * 64), "e" * 64)
    assert (info.value.status, info.value.reason) == (409, "node_conflict")
    await reg.set_status("n1", NodeStatus.LEFT, Reason.GRACEFUL_LEAVE)
    again = await reg.register(claims(owner="0x" + "b" * 64), "e" * 64)
    assert again.status == "registered" and again.owner == "0x" + "b" * 64


async def test_lifecycle_and_reload() -> None:
    store = DictStore()
    reg = Registry(store, Metrics())
    t0 = datetime.now(UTC)
    await reg.register(claims(), "f" * 64, now=t0)
    ready = await reg.heartbeat(claims(), "f" * 64, running_pods=1, resource_usage={}, now=t0)
    assert ready.status == "ready"
    assert await reg.sweep(1.0, 3, 10, now=t0 + timedelta(seconds=2)) == []
    assert await reg.sweep(1.0, 3, 10, now=t0 + timedelta(seconds=4)) == [("n1", "not_ready")]
    assert await reg.sweep(1.0, 3, 10, now=t0 + timedelta(seconds=11)) == [("n1", "evicted")]
    with pytest.raises(MasterError) as info:
        await reg.heartbeat(claims(), "f" * 64, running_pods=0, resource_usage={})
    assert info.value.reason == "not_registered"
    fresh = Registry(store, Metrics())
    assert await fresh.load() == 1
    assert registered(fresh, "n1").status == "evicted"
    assert fresh.revision == reg.revision


async def test_revoked_is_terminal_with_its_reason() -> None:
    reg = Registry(DictStore(), Metrics())
    await reg.register(claims(), "f" * 64)
    assert await reg.revoke_where(stake_id="0x" + "5" * 64, reason=Reason.STAKE_SLASHED) == ["n1"]
    with pytest.raises(MasterError) as info:
        await reg.heartbeat(claims(), "f" * 64, running_pods=0, resource_usage={})
    assert (info.value.status, info.value.reason) == (403, "stake_slashed")
    assert await reg.sweep(1.0, 3, 10, now=datetime.now(UTC) + timedelta(hours=1)) == []


async def test_watch_feed() -> None:
    reg = Registry(DictStore(), Metrics())
    seen: list[tuple[str, str, int]] = []

    async def follow() -> None:
        async for kind, node, rv in reg.watch(0):
            seen.append((kind, node.status, rv))
            if len(seen) == 2:
                return

    task = asyncio.create_task(follow())
    await reg.register(claims(), "f" * 64)
    await reg.heartbeat(claims(), "f" * 64, running_pods=0, resource_usage={})
    await asyncio.wait_for(task, 2)
    assert seen == [("ADDED", "registered", 1), ("MODIFIED", "ready", 2)]


async def test_replicas_sharing_a_store_follow_each_other() -> None:
    """Two registries on one (real, in-memory) Store, as two masters on one etcd: each sees the
    other's registrations, heartbeats and revocations, in its own change feed too."""
    from k3s_daas.nautilus.store import BytesStore, open_store

    store = BytesStore(open_store("memory://"))
    a, b = Registry(store, Metrics()), Registry(store, Metrics())
    followers = [asyncio.create_task(r.follow()) for r in (a, b)]
    try:
        await asyncio.sleep(0.05)  # both watches open
        since = b.revision
        await a.register(claims(node="n1"), "f" * 64)
        await a.register(claims(node="n2", stake="0x" + "6" * 64), "f" * 64)
        for _ in range(100):
            if b.get("n2") is not None:
                break
            await asyncio.sleep(0.01)
        got = b.get("n1")
        assert got is not None and got.status == "registered" and b.get("n2") is not None
        await b.heartbeat(claims(node="n1"), "f" * 64, running_pods=1, resource_usage={})
        await b.revoke_where(stake_id="0x" + "6" * 64, reason=Reason.STAKE_SLASHED)
        for _ in range(100):
            n1, n2 = a.get("n1"), a.get("n2")
            if n1 and n2 and n1.status == "ready" and n2.status == "revoked":
                break
            await asyncio.sleep(0.01)
        n1, n2 = a.get("n1"), a.get("n2")
        assert n1 is not None and n1.status == "ready" and n1.heartbeats == 1
        assert n2 is not None and (n2.status, n2.reason) == ("revoked", "stake_slashed")
        assert a.counts()["revoked"] == 1
        # own writes coming back through the watch are not applied twice
        assert a.followed == 2 and b.followed == 2
        # b's kube change feed shows the remote registrations
        feed = b.watch(since)
        assert isinstance(feed, AsyncGenerator)  # so it can be closed
        kinds = [(await anext(feed))[0] for _ in range(2)]
        assert kinds == ["ADDED", "ADDED"]
        await feed.aclose()
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        await store.close()


async def test_remote_records_are_ordered_by_store_revision_not_clocks() -> None:
    from k3s_daas.nautilus.registry import PREFIX
    from k3s_daas.nautilus.store import Entry, WatchEvent

    reg = Registry(DictStore(), Metrics())
    record = await reg.register(claims(), "f" * 64)

    def event(status: NodeStatus, updated: datetime, revision: int) -> WatchEvent:
        remote = record.replace(status=status, updated=updated)
        return WatchEvent("put", PREFIX + "n1", Entry(remote.to_json(), revision))

    behind = record.updated - timedelta(seconds=5)  # a replica whose clock is 5 s behind
    assert (
        await reg.apply(event(NodeStatus.REVOKED, behind, 10)) is True
    )  # the newer write still wins
    assert registered(reg, "n1").status == "revoked"
    assert (
        await reg.apply(event(NodeStatus.READY, record.updated + timedelta(1), 9)) is False
    )  # older
    assert (
        await reg.apply(event(NodeStatus.READY, behind, 0)) is False
    )  # catch-up read: older `updated`
    assert registered(reg, "n1").status == "revoked"
    bad = WatchEvent("put", PREFIX + "n1", Entry(b"{not json", 11))
    assert await reg.apply(bad) is False
