"""Sealing at rest (AES-256-GCM bound to the key path) and SQLite persistence.

Reads the raw SQLite file and rows the way an attacker with the disk would, and checks that no
plaintext shows, that tampering or moving a value is caught, and that state survives reopening.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k3s_daas.nautilus.store import (
    BytesStore,
    MemoryStore,
    SealedStore,
    Sealer,
    SqliteStore,
    StoreConfigError,
    StoreIntegrityError,
    open_store,
)
from k3s_daas.nautilus.store.sealed import NONCE_LENGTH, OVERHEAD, VERSION

SECRET = b"worker-record: owner 0xabc, stake 12345, a value nobody may read off the disk"


def raw_files(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def rows(path: Path) -> dict[str, bytes]:
    with sqlite3.connect(path) as conn:
        return {k: bytes(v) for k, v in conn.execute("SELECT key, value FROM kv")}


def rewrite(path: Path, key: str, value: bytes) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE kv SET value = ? WHERE key = ?", (value, key))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.db"


async def test_sqlite_file_holds_no_plaintext(db: Path) -> None:
    key = os.urandom(32)
    store = open_store(f"sqlite:///{db}", data_key=key)
    await store.put("/workers/node-1", SECRET)
    await store.put("/workers/node-2", SECRET, ttl=60)
    await store.close()
    disk = raw_files(db)
    assert b"/workers/node-1" in disk  # keys stay readable (documented)
    assert SECRET not in disk and SECRET[:24] not in disk
    stored = rows(db)["/workers/node-1"]
    assert stored[0] == VERSION and len(stored) == len(SECRET) + OVERHEAD
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


async def test_same_value_twice_seals_differently(db: Path) -> None:
    sealer = Sealer(os.urandom(32))
    a, b = sealer.seal("/k", SECRET), sealer.seal("/k", SECRET)
    assert a != b and a[1 : 1 + NONCE_LENGTH] != b[1 : 1 + NONCE_LENGTH]
    assert sealer.open("/k", a) == sealer.open("/k", b) == SECRET


async def test_tampered_row_raises(db: Path) -> None:
    key = os.urandom(32)
    store = open_store(f"sqlite:///{db}", data_key=key)
    await store.put("/workers/n", SECRET)
    sealed = bytearray(rows(db)["/workers/n"])
    sealed[-1] ^= 0x01
    rewrite(db, "/workers/n", bytes(sealed))
    with pytest.raises(StoreIntegrityError) as caught:
        await store.get("/workers/n")
    assert caught.value.reason == "store_tampered" and caught.value.key == "/workers/n"
    with pytest.raises(StoreIntegrityError):
        await store.range("/workers/")
    rewrite(db, "/workers/n", b"plain text, never sealed")
    with pytest.raises(StoreIntegrityError):
        await store.get("/workers/n")
    await store.close()


async def test_value_moved_to_another_key_fails(db: Path) -> None:
    store = open_store(f"sqlite:///{db}", data_key=os.urandom(32))
    await store.put("/workers/honest", b'{"status":"revoked"}')
    await store.put("/workers/mallory", b'{"status":"ready"}')
    rewrite(db, "/workers/mallory", rows(db)["/workers/honest"])
    with pytest.raises(StoreIntegrityError):
        await store.get("/workers/mallory")
    entry = await store.get("/workers/honest")
    assert entry is not None and entry.value == b'{"status":"revoked"}'
    await store.close()


async def test_wrong_data_key_fails(db: Path) -> None:
    store = open_store(f"sqlite:///{db}", data_key=os.urandom(32))
    await store.put("/k", SECRET)
    await store.close()
    other = open_store(f"sqlite:///{db}", data_key=os.urandom(32))
    with pytest.raises(StoreIntegrityError):
        await other.get("/k")
    await other.close()


async def test_sealed_watch_opens_values() -> None:
    store = SealedStore(MemoryStore(), os.urandom(32))
    async with store.watch("/w/") as events:
        await store.put("/w/a", SECRET)
        event = await anext(events)
    assert event.entry is not None and event.entry.value == SECRET
    stored = await store.inner.get("/w/a")
    assert stored is not None and stored.value != SECRET
    await store.close()


async def test_persistence_across_reopen(db: Path) -> None:
    key = os.urandom(32)
    store = open_store(f"sqlite:///{db}", data_key=key)
    r1 = await store.put("/a", b"1")
    r2 = await store.put("/b", b"2")
    await store.delete("/b")
    await store.close()
    again = open_store(f"sqlite:///{db}", data_key=key)
    entry = await again.get("/a")
    assert entry is not None and entry.value == b"1" and entry.revision == r1
    assert await again.get("/b") is None
    assert await again.put("/c", b"3") > r2 + 1  # revisions keep growing after a restart
    assert not await again.compare_and_set("/a", b"x", expected_revision=None)
    await again.close()


def test_open_store_refuses_bad_urls_and_keys(tmp_path: Path) -> None:
    for url in (
        "mysql://x",
        "sqlite://relative.db",
        "etcd://",
        "etcd://a:1,b",  # a member without a port
        "etcd://bad_name!:1",
        "etcd://127.0.0.1:x",
        "memory://host",
        f"sqlite:///{tmp_path}/s.db?foo=1",
    ):
        with pytest.raises(StoreConfigError):
            open_store(url)
    with pytest.raises(StoreConfigError):
        open_store("memory://", data_key=b"short")
    assert isinstance(open_store(f"sqlite:///{tmp_path}/s.db"), SqliteStore)
    assert isinstance(open_store("memory://", data_key=bytes(32)), SealedStore)


async def test_bytes_view_compares_values() -> None:
    view = BytesStore(open_store("memory://", data_key=os.urandom(32)))
    assert await view.compare_and_set("/nonce/1", None, b"1", ttl=60)
    assert not await view.compare_and_set("/nonce/1", None, b"1")
    assert await view.get("/nonce/1") == b"1"
    assert not await view.compare_and_set("/nonce/1", b"other", b"2")
    assert await view.compare_and_set("/nonce/1", b"1", b"2")
    assert await view.range("/nonce/") == [("/nonce/1", b"2")]
    await view.close()


@settings(max_examples=200, deadline=None)
@given(
    value=st.binary(max_size=256),
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
)
def test_any_flipped_byte_fails_to_open(value: bytes, position: int, flip: int) -> None:
    sealer = Sealer(bytes(range(32)))
    sealed = bytearray(sealer.seal("/workers/n", value))
    assert sealer.open("/workers/n", bytes(sealed)) == value
    sealed[position % len(sealed)] ^= flip
    with pytest.raises(StoreIntegrityError):
        sealer.open("/workers/n", bytes(sealed))
