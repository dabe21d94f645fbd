"""Registry rules: node conflicts (409), lifecycle transitions, terminal states, the change feed.

`DictStore` is a test double of the Store (get/put/compare_and_set/range in a dict).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from k3s_daas.nautilus.errors import MasterError
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import Registry
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.permissions import Tier


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
    await reg.set_status("n1", "left", "graceful_leave")
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
    assert fresh.get("n1").status == "evicted"  # type: ignore[union-attr]
    assert fresh.revision == reg.revision


async def test_revoked_is_terminal_with_its_reason() -> None:
    reg = Registry(DictStore(), Metrics())
    await reg.register(claims(), "f" * 64)
    assert await reg.revoke_where(stake_id="0x" + "5" * 64, reason="stake_slashed") == ["n1"]
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
