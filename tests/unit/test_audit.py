"""The hash-chained audit log: append, verify, and that every kind of tampering is named."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from k3s_daas.nautilus.audit import (
    GENESIS_HASH,
    HEAD_KEY,
    AuditError,
    AuditLog,
    entry_hash,
    entry_key,
    tail,
    verify,
)
from k3s_daas.nautilus.store import SealedStore, Store, open_store
from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.token import token_fingerprint

TOKEN = "seal_" + "ab" * 32 + "cd" * 32


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}", data_key=os.urandom(32))
    yield opened
    await opened.close()


async def fill(store: Store, count: int) -> AuditLog:
    log = AuditLog(store)
    for i in range(count):
        await log.append(
            actor="nautilus",
            action="register",
            subject=f"node-{i}",
            decision="allow" if i % 3 else "deny",
            reason=None if i % 3 else "stake_slashed",
            token_fingerprint=token_fingerprint(TOKEN),
            details={"tier": "basic", "stake": i},
        )
    await log.settle()  # the head moves in the background
    return log


async def stored(store: Store, key: str) -> bytes:
    """The raw value at `key`, which the test has written."""
    entry = await store.get(key)
    assert entry is not None
    return entry.value


async def rewrite(store: Store, seq: int, **changes: object) -> None:
    """Re-store entry `seq` validly sealed but with other content (an insider with the key)."""
    entry = await store.get(entry_key(seq))
    assert entry is not None
    data = json.loads(entry.value)
    data.update(changes)
    await store.put(entry_key(seq), canonical_json(data))


async def test_hundred_entries_verify(store: Store) -> None:
    await fill(store, 100)
    result = await verify(store, page=7)  # several pages
    assert result.ok and result.entries_checked == 100
    assert result.first_bad_seq is None and result.problem is None
    first = json.loads(await stored(store, entry_key(1)))
    assert first["prev_hash"] == GENESIS_HASH and first["hash"] == entry_hash(first)
    head = json.loads(await stored(store, HEAD_KEY))
    assert head["seq"] == 100


async def test_entry_shape_and_no_token(store: Store) -> None:
    log = AuditLog(store)
    entry = await log.append(
        actor="a",
        action="validate",
        subject="s",
        decision="deny",
        token_fingerprint=token_fingerprint(TOKEN),
    )
    assert entry.seq == 1 and entry.token_fingerprint == token_fingerprint(TOKEN)
    raw = await stored(store, entry_key(1))
    assert raw == canonical_json(json.loads(raw)) and b" " not in raw
    assert TOKEN.encode() not in raw
    with pytest.raises(AuditError) as caught:
        await log.append(actor="a", action="x", subject="s", decision="d", token_fingerprint=TOKEN)
    assert caught.value.reason == "audit_bad_entry"
    with pytest.raises(AuditError):
        await log.append(actor="a", action="x", subject="s", decision="d", details={"t": TOKEN})
    assert (await verify(store)).entries_checked == 1


async def test_changed_content_is_named(store: Store) -> None:
    await fill(store, 20)
    await rewrite(store, 7, decision="allow", subject="node-evil")
    result = await verify(store)
    assert not result.ok and result.first_bad_seq == 7 and result.entries_checked == 6
    assert "does not match its hash" in (result.problem or "")


async def test_rehashed_entry_breaks_the_next_link(store: Store) -> None:
    await fill(store, 20)
    entry = json.loads(await stored(store, entry_key(7)))
    entry["decision"] = "allow"
    entry["hash"] = entry_hash(entry)
    await store.put(entry_key(7), canonical_json(entry))
    result = await verify(store)
    assert not result.ok and result.first_bad_seq == 8
    assert "prev_hash" in (result.problem or "")


async def test_rehashed_last_entry_disagrees_with_the_head(store: Store) -> None:
    await fill(store, 5)
    entry = json.loads(await stored(store, entry_key(5)))
    entry["reason"] = "covered up"
    entry["hash"] = entry_hash(entry)
    await store.put(entry_key(5), canonical_json(entry))
    result = await verify(store)
    assert not result.ok and result.first_bad_seq == 5 and "head" in (result.problem or "")


async def test_deleted_entries_are_named(store: Store) -> None:
    await fill(store, 30)
    await store.delete(entry_key(12))
    result = await verify(store)
    assert not result.ok and result.first_bad_seq == 12 and "missing" in (result.problem or "")


async def test_truncated_tail_is_named(store: Store) -> None:
    await fill(store, 10)
    await store.delete(entry_key(10))
    await store.delete(entry_key(9))
    result = await verify(store)
    assert not result.ok and result.first_bad_seq == 9 and result.entries_checked == 8


async def test_tampered_sealed_bytes_are_named(store: Store) -> None:
    await fill(store, 5)
    assert isinstance(store, SealedStore)
    raw = await stored(store.inner, entry_key(3))
    await store.inner.put(entry_key(3), raw[:-1] + bytes([raw[-1] ^ 1]))
    result = await verify(store)
    assert (
        not result.ok and result.first_bad_seq == 3 and "store_tampered" in (result.problem or "")
    )


async def test_concurrent_appends_stay_linear(store: Store) -> None:
    logs = [AuditLog(store), AuditLog(store)]  # two writers, as two replicas would be
    await asyncio.gather(
        *(
            logs[i % 2].append(actor=f"r{i % 2}", action="a", subject=str(i), decision="allow")
            for i in range(40)
        )
    )
    for log in logs:
        await log.settle()
    head = json.loads(await stored(store, HEAD_KEY))
    assert head["seq"] == 40  # background head moves never go backwards
    result = await verify(store)
    assert result.ok and result.entries_checked == 40
    subjects = sorted(int(e.subject) for e in await tail(store, 40))
    assert subjects == list(range(40))


async def test_head_lag_is_repaired(store: Store) -> None:
    """A crash between writing entry N and moving the head leaves no hole."""
    await fill(store, 3)
    head = await stored(store, HEAD_KEY)
    log = await fill(store, 1)  # entry 4
    await store.put(HEAD_KEY, head)  # head back at 3
    assert (await verify(store)).ok
    entry = await log.append(actor="a", action="b", subject="c", decision="allow")
    assert entry.seq == 5 and (await verify(store)).entries_checked == 5


async def test_tail_returns_the_last_entries(store: Store) -> None:
    await fill(store, 25)
    last = await tail(store, 20)
    assert [e.seq for e in last] == list(range(6, 26))
    assert await tail(store, 0) == []
    assert [e.seq for e in await tail(store, 100)] == list(range(1, 26))


async def test_empty_log_verifies() -> None:
    store = open_store("memory://")
    result = await verify(store)
    assert result.ok and result.entries_checked == 0
    await store.close()
