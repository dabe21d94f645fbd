"""What keeps heartbeats cheap at 10,000 workers: a registered worker's heartbeat reads nothing
from the chain between re-checks while the watcher is caught up; status counts are kept, never
scanned; the re-check interval is at least ten heartbeat intervals.

The chain is `ChainDouble` (tests/unit/test_nautilus_validator.py), which counts round trips;
time is its `FakeClock`.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any

import pytest

from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.registry import Registry
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.nautilus.store import BytesStore, open_store
from k3s_daas.nautilus.validator import Validator
from k3s_daas.nautilus.watcher import ChainWatcher
from k3s_daas.nautilus.worker_record import WorkerRecord
from k3s_daas.seal.claims import Claims
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.protocol import NodeStatus, Reason
from k3s_daas.seal.token import parse_token
from tests.unit.test_nautilus_validator import POOL, ChainDouble, FakeClock, mint, validator


def reads(chain: ChainDouble) -> int:
    """Token and stake objects read from the chain so far: the pool (its min_stake) and the
    epoch are one cached value for the whole master, read every few seconds whatever the load."""
    return sum(1 for batch in chain.batches for object_id in batch if object_id != POOL)


async def admitted_worker(**settings: Any) -> tuple[ChainDouble, FakeClock, Validator, str]:
    chain, clock = ChainDouble(), FakeClock()
    v = validator(chain, clock, recheck_interval=300, staleness=60, cache_ttl=30, **settings)
    minted = mint(chain)
    await v.validate(minted.token)  # registration: one chain read
    v.note_caught_up(clock())
    return chain, clock, v, minted.token


async def test_heartbeats_of_a_registered_worker_read_nothing_from_the_chain() -> None:
    chain, clock, v, token = await admitted_worker()
    before = reads(chain)
    for _ in range(50):  # far past cache_ttl, as heartbeats every 10 s would be
        clock.advance(5)
        v.note_caught_up(clock())  # the watcher keeps up with the chain
        claims = await v.validate_admitted(parse_token(token))
        assert claims.node_id == "n1"
    assert reads(chain) == before


async def test_the_token_is_read_again_after_the_recheck_interval() -> None:
    chain, clock, v, token = await admitted_worker()
    before = reads(chain)
    clock.advance(301)
    v.note_caught_up(clock())
    await v.validate_admitted(parse_token(token))
    assert reads(chain) == before + 2  # the SealToken, then its StakeRecord
    clock.advance(10)
    v.note_caught_up(clock())
    await v.validate_admitted(parse_token(token))
    assert reads(chain) == before + 2  # confirmed again: the next 300 s are free


async def test_a_watcher_behind_the_chain_means_chain_reads_again() -> None:
    chain, clock, v, token = await admitted_worker()
    clock.advance(61)  # the watcher last caught up more than `staleness` ago
    before = reads(chain)
    await v.validate_admitted(parse_token(token))
    assert reads(chain) == before + 2


async def test_expiry_and_revocation_still_refuse_on_the_cheap_path() -> None:
    _, _, v, token = await admitted_worker()
    parsed = parse_token(token)
    claims = await v.validate_admitted(parsed)
    v.revoked.add("stake", claims.stake_record_id, Reason.STAKE_SLASHED, source="test")
    with pytest.raises(TokenRejected) as info:
        await v.validate_admitted(parsed)
    assert info.value.reason == Reason.STAKE_SLASHED

    chain2, clock2, v2, token2 = await admitted_worker()
    chain2.epoch = 100  # the token's expires_at
    clock2.advance(3)  # past epoch_ttl: the new epoch is read (the epoch, not the token)
    v2.note_caught_up(clock2())
    with pytest.raises(TokenRejected) as info:
        await v2.validate_admitted(parse_token(token2))
    assert info.value.reason == Reason.EXPIRED


def test_the_recheck_interval_is_at_least_ten_heartbeats() -> None:
    settings = NautilusSettings(heartbeat_interval=60, recheck_interval=100)
    assert settings.recheck_interval == 600
    assert NautilusSettings(heartbeat_interval=5).recheck_interval == 300


def test_the_watcher_reports_only_tips_its_cursor_reached() -> None:
    told: list[float] = []

    class Cursor:
        checkpoint: int | None = 10

    class ValidatorDouble:
        def note_caught_up(self, at: float) -> None:
            told.append(at)

    watcher = ChainWatcher.__new__(ChainWatcher)
    watcher.cursor = Cursor()  # type: ignore[assignment]  # only .checkpoint is read
    watcher.validator = ValidatorDouble()  # type: ignore[assignment]  # only note_caught_up
    tips: deque[tuple[int, float]] = deque([(9, 1.0), (10, 2.0), (12, 3.0)])
    watcher.caught_up(tips)
    assert told == [1.0, 2.0] and list(tips) == [(12, 3.0)]


def claims(node: str) -> Claims:
    return Claims(owner="0x" + "a" * 64, node_id=node, stake_amount=1000,
                  permissions=("pods:read",), tier=Tier.STANDARD, expires_at_epoch=100,
                  token_id="0x" + "1" * 64, stake_record_id="0x" + "5" * 64,
                  enclave_id="0x" + "e" * 64)  # fmt: skip


class NoScans(dict[str, WorkerRecord]):
    """The registry's records, refusing to be iterated: counting must not scan them."""

    def values(self) -> Any:
        raise AssertionError("scanned every record")

    def __iter__(self) -> Any:
        raise AssertionError("scanned every record")


async def test_status_counts_are_kept_as_records_change_never_scanned() -> None:
    store = BytesStore(open_store("memory://"))
    registry = Registry(store, Metrics())
    registry._records = NoScans()
    for i in range(5):
        await registry.register(claims(f"n{i}"), "f" * 64)
    await registry.heartbeat(claims("n0"), "f" * 64, running_pods=0, resource_usage={})
    await registry.set_status("n1", NodeStatus.LEFT, Reason.GRACEFUL_LEAVE)
    await registry.register(claims("n1"), "f" * 64)  # re-admitted after a terminal state
    await registry.set_status("n2", NodeStatus.REVOKED, Reason.STAKE_SLASHED)
    counts = registry.counts()
    assert (counts["registered"], counts["ready"], counts["revoked"], counts["left"]) == (
        3,
        1,
        1,
        0,
    )
    record = registry.get("n0")
    assert record is not None
    assert registry.metrics.workers.labels("ready")._value.get() == 1
    await store.close()


async def test_the_change_feed_holds_records_and_is_bounded() -> None:
    from k3s_daas.nautilus import registry as module

    store = BytesStore(open_store("memory://"))
    registry = Registry(store, Metrics())
    now = datetime.now(UTC)
    for i in range(module.HISTORY + 10):
        await registry.save(WorkerRecord(
            node_id=f"n{i}", owner="o", status=NodeStatus.READY, tier="basic", stake=1,
            permissions=(), token_fingerprint="0" * 16, token_id="t", stake_record_id="s",
            created=now, updated=now,
        ))  # fmt: skip
    assert len(registry._history) == module.HISTORY
    assert all(isinstance(r, WorkerRecord) for _, r in registry._history)
    await store.close()


def test_a_record_copy_changes_only_what_it_names() -> None:
    """`WorkerRecord.replace` copies slot by slot (a heartbeat makes one copy): the same result
    as `dataclasses.replace`, the original untouched, and an unknown name refused."""
    import dataclasses

    now = datetime.now(UTC)
    record = WorkerRecord(
        node_id="n1", owner="o", status=NodeStatus.REGISTERED, tier="basic", stake=1,
        permissions=("nodes:join",), token_fingerprint="0" * 16, token_id="t",
        stake_record_id="s", created=now, updated=now, resource_usage={"cpu": 0.5},
    )  # fmt: skip
    changes: dict[str, Any] = {"status": NodeStatus.READY, "heartbeats": 3, "last_timestamp": 7}
    copy = record.replace(**changes)
    assert copy == dataclasses.replace(record, **changes)
    assert copy is not record and type(copy) is WorkerRecord
    assert (copy.status, copy.heartbeats, copy.last_timestamp) == (NodeStatus.READY, 3, 7)
    assert (record.status, record.heartbeats) == (NodeStatus.REGISTERED, 0)
    assert copy.resource_usage is record.resource_usage  # shared, as dataclasses.replace does
    assert record.replace() == record
    with pytest.raises(TypeError, match="no field 'statu'"):
        record.replace(statu=NodeStatus.READY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.heartbeats = 4  # type: ignore[misc]
