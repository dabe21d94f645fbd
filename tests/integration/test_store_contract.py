"""One contract, every backend: memory, SQLite (raw and sealed) and a real etcd member.

Each test asserts a property the master relies on: revisions for compare-and-set, exactly one
winner in a CAS race, prefix ranges with paging, TTL expiry (with a delete event), a watch
that reports puts and deletes in commit order, and batches (`put_many`) written all or none.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from harness.etcd import EtcdCluster
from k3s_daas.nautilus.store import (
    Entry,
    Store,
    StoreClosedError,
    StoreConfigError,
    WatchEvent,
    open_store,
    put_if_absent,
)
from k3s_daas.nautilus.store.base import MAX_BATCH_ITEMS, MAX_VALUE_LENGTH

BACKENDS = ["memory", "sqlite", "sealed-sqlite", "etcd"]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    kind = request.param
    if kind == "memory":
        opened = open_store("memory://")
    elif kind == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'store.db'}?sweep=0.2")
    elif kind == "sealed-sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'store.db'}?sweep=0.2", data_key=os.urandom(32))
    else:
        etcd: EtcdCluster = request.getfixturevalue("etcd_server")
        opened = open_store(etcd.url)
    yield opened
    await opened.close()


@pytest.fixture
def ns() -> str:
    """A fresh key prefix per test: the etcd member is shared by the whole session."""
    return f"/t-{uuid.uuid4().hex[:12]}/"


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def next_event(events: AsyncIterator[WatchEvent]) -> WatchEvent:
    return await asyncio.wait_for(anext(events), timeout=15)


async def test_put_get_and_revisions(store: Store, ns: str) -> None:
    assert await store.get(ns + "missing") is None
    r1 = await store.put(ns + "a", b"one")
    assert await store.get(ns + "a") == Entry(b"one", r1)
    r2 = await store.put(ns + "a", b"two")
    r3 = await store.put(ns + "b", b"three")
    assert r1 < r2 < r3
    assert await store.get(ns + "a") == Entry(b"two", r2)
    assert (await store.get(ns + "b")) == Entry(b"three", r3)


async def test_compare_and_set(store: Store, ns: str) -> None:
    key = ns + "cas"
    assert await store.compare_and_set(key, b"v1", expected_revision=None)
    assert not await put_if_absent(store, key, b"again")
    entry = await store.get(key)
    assert entry is not None and entry.value == b"v1"
    assert await store.compare_and_set(key, b"v2", expected_revision=entry.revision)
    assert not await store.compare_and_set(key, b"stale", expected_revision=entry.revision)
    assert not await store.compare_and_set(ns + "absent", b"x", expected_revision=entry.revision)
    final = await store.get(key)
    assert final is not None and final.value == b"v2" and final.revision > entry.revision


async def test_cas_race_has_exactly_one_winner(store: Store, ns: str) -> None:
    key = ns + "race"
    created = await asyncio.gather(
        *(store.compare_and_set(key, f"c{i}".encode(), expected_revision=None) for i in range(16))
    )
    assert created.count(True) == 1
    winner = created.index(True)
    entry = await store.get(key)
    assert entry is not None and entry.value == f"c{winner}".encode()

    updated = await asyncio.gather(
        *(
            store.compare_and_set(key, f"u{i}".encode(), expected_revision=entry.revision)
            for i in range(16)
        )
    )
    assert updated.count(True) == 1
    after = await store.get(key)
    assert after is not None and after.value == f"u{updated.index(True)}".encode()


async def test_delete(store: Store, ns: str) -> None:
    key = ns + "gone"
    await store.put(key, b"x")
    assert await store.delete(key) is True
    assert await store.get(key) is None
    assert await store.delete(key) is False
    assert await put_if_absent(store, key, b"back")  # absent again: may be created anew


async def test_range_by_prefix_with_limit_and_paging(store: Store, ns: str) -> None:
    for name in ("w/c", "w/a", "w/b", "wx", "v/a"):
        await store.put(ns + name, name.encode())
    rows = await store.range(ns + "w/")
    assert [k for k, _ in rows] == [ns + "w/a", ns + "w/b", ns + "w/c"]
    assert [e.value for _, e in rows] == [b"w/a", b"w/b", b"w/c"]
    assert [k for k, _ in await store.range(ns + "w/", limit=2)] == [ns + "w/a", ns + "w/b"]
    page = await store.range(ns + "w/", limit=2, after=ns + "w/b")
    assert [k for k, _ in page] == [ns + "w/c"]
    assert await store.range(ns + "nothing/") == []
    assert len(await store.range(ns + "w")) == 4  # w/a w/b w/c wx


async def test_ttl_expiry(store: Store, ns: str) -> None:
    key = ns + "lease"
    async with store.watch(ns) as events:
        await store.put(key, b"short", ttl=1)
        await store.put(ns + "keep", b"forever")
        assert (await store.get(key)) is not None

        async def expired() -> bool:
            return await store.get(key) is None

        await eventually(expired)
        assert [k for k, _ in await store.range(ns)] == [ns + "keep"]
        seen = [await next_event(events) for _ in range(3)]
        assert [(e.kind, e.key) for e in seen] == [
            ("put", key),
            ("put", ns + "keep"),
            ("delete", key),
        ]
    # an expired key counts as absent for compare-and-set
    assert await put_if_absent(store, key, b"new")


async def test_watch_sees_puts_and_deletes_in_order(store: Store, ns: str) -> None:
    async with store.watch(ns + "w/") as events:
        r1 = await store.put(ns + "w/a", b"1")
        await store.put(ns + "other", b"not watched")
        r2 = await store.put(ns + "w/b", b"2")
        await store.delete(ns + "w/a")
        assert await store.compare_and_set(ns + "w/b", b"3", expected_revision=r2)
        seen = [await next_event(events) for _ in range(4)]
    assert [(e.kind, e.key) for e in seen] == [
        ("put", ns + "w/a"),
        ("put", ns + "w/b"),
        ("delete", ns + "w/a"),
        ("put", ns + "w/b"),
    ]
    assert seen[0].entry == Entry(b"1", r1)
    assert seen[2].entry is None
    assert seen[3].entry is not None and seen[3].entry.value == b"3"


async def test_bad_input_is_refused(store: Store, ns: str) -> None:
    with pytest.raises(StoreConfigError):
        await store.put("no-leading-slash", b"x")
    with pytest.raises(StoreConfigError):
        await store.put(ns + "k", b"x", ttl=-1)
    with pytest.raises(StoreConfigError):
        await store.range(ns, limit=0)


async def test_put_many_writes_every_key_in_one_step(store: Store, ns: str) -> None:
    before = await store.put(ns + "m/b", b"old")
    async with store.watch(ns + "m/") as events:
        revision = await store.put_many([(ns + "m/c", b"3"), (ns + "m/a", b"1"),
                                         (ns + "m/b", b"2")])  # fmt: skip
        seen = [await next_event(events) for _ in range(3)]
    assert revision > before
    assert [(e.kind, e.key) for e in seen] == [("put", ns + "m/c"), ("put", ns + "m/a"),
                                               ("put", ns + "m/b")]  # fmt: skip
    rows = await store.range(ns + "m/")
    assert [(key, entry.value) for key, entry in rows] == [
        (ns + "m/a", b"1"), (ns + "m/b", b"2"), (ns + "m/c", b"3")]  # fmt: skip
    assert max(entry.revision for _, entry in rows) == revision
    assert all(before < entry.revision <= revision for _, entry in rows)


async def test_put_many_refuses_a_bad_batch_whole(store: Store, ns: str) -> None:
    good = (ns + "b/ok", b"x")
    for bad in (
        [],  # nothing to write
        [good, ("no-leading-slash", b"x")],
        [good, (ns + "b/ok", b"twice")],
        [(f"{ns}b/{i}", b"x") for i in range(MAX_BATCH_ITEMS + 1)],
        [
            good,
            (ns + "b/big1", bytes(MAX_VALUE_LENGTH // 2)),
            (ns + "b/big2", bytes(MAX_VALUE_LENGTH // 2)),
        ],
    ):
        with pytest.raises(StoreConfigError):
            await store.put_many(bad)
    assert await store.range(ns + "b/") == []  # nothing of any refused batch was written


async def test_closed_store_refuses_calls(store: Store, ns: str) -> None:
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.get(ns + "a")


async def test_concurrent_counter_loses_no_update(store: Store, ns: str) -> None:
    """40 writers increment one counter by CAS retry loops while 40 others put their own keys:
    every increment lands once and concurrent writes get distinct, ordered revisions."""
    key = ns + "counter"
    await store.put(key, b"0")

    async def increment() -> None:
        while True:
            current = await store.get(key)
            assert current is not None
            value = str(int(current.value) + 1).encode()
            if await store.compare_and_set(key, value, expected_revision=current.revision):
                return

    async with store.watch(ns + "own/") as events:
        revisions = await asyncio.gather(
            *(increment() for _ in range(40)),
            *(store.put(f"{ns}own/{i:02d}", b"x") for i in range(40)),
        )
        own = [r for r in revisions if r is not None]
        seen = [await next_event(events) for _ in range(40)]
    final = await store.get(key)
    assert final is not None and final.value == b"40"
    assert len(set(own)) == 40
    seen_revisions = [e.entry.revision for e in seen if e.entry is not None]
    assert seen_revisions == sorted(seen_revisions) and len(seen_revisions) == 40
