"""The object-id negative cache (nautilus.absent_ids): random tokens cost one chain read per
distinct object id, whatever their secrets; bounded, short-lived, forgotten on creation.

`CountingChain` is a fake chain reader that counts the object ids it was asked for.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections import Counter
from collections.abc import Sequence

from k3s_daas.chain import EpochInfo, EventData, ObjectData
from k3s_daas.nautilus.absent_ids import AbsentIds
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.settings import ValidatorSettings
from k3s_daas.nautilus.validator import Validator
from k3s_daas.nautilus.watcher import ChainWatcher
from k3s_daas.seal.protocol import Reason
from k3s_daas.seal.token import format_token, secret_commitment

PKG = "0x" + "ab" * 32
POOL = "0x" + "01" * 32


def oid() -> str:
    return "0x" + secrets.token_hex(32)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class CountingChain:
    """Objects by id; counts every id read (`reads`); `gate` holds reads until opened."""

    def __init__(self) -> None:
        self.objects: dict[str, ObjectData] = {}
        self.reads: Counter[str] = Counter()
        self.gate: asyncio.Event | None = None

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectData | None]:
        self.reads.update(object_ids)
        if self.gate is not None:
            await self.gate.wait()
        return [self.objects.get(i) for i in object_ids]

    async def get_epoch(self) -> EpochInfo:
        return EpochInfo(5, 1000, 0)

    def token_reads(self) -> int:
        return sum(n for object_id, n in self.reads.items() if object_id != POOL)


def pool() -> ObjectData:
    fields = {"id": POOL, "min_stake": "100", "standard_threshold": "1000",
              "premium_threshold": "10000", "token_lifetime_epochs": "100",
              "unbonding_epochs": "2", "total_staked": "0", "slashed": "0",
              "node_stakes": {"id": oid(), "size": "0"}}  # fmt: skip
    return ObjectData(POOL, 1, f"{PKG}::staking::StakingPool", None, True, fields)


def coin(object_id: str) -> ObjectData:
    """A real object that is not a SealToken."""
    return ObjectData(object_id, 1, "0x2::coin::Coin<0x2::sui::SUI>", None, False,
                      {"id": object_id, "balance": "5"})  # fmt: skip


def seal_token(object_id: str, secret: bytes) -> ObjectData:
    fields = {
        "id": object_id, "token_hash": base64.b64encode(secret_commitment(secret)).decode(),
        "owner": "0x" + "0a" * 32, "node_id": "n1", "stake_record": oid(), "stake_amount": "1000",
        "stake_type": 0, "permissions": ["pods:read"], "tier": 1, "issued_at": "0",
        "expires_at": "100", "enclave": oid(),
    }  # fmt: skip
    return ObjectData(object_id, 3, f"{PKG}::k8s_gateway::SealToken", None, False, fields)


def validator(chain: CountingChain, clock: FakeClock, **settings: object) -> Validator:
    chain.objects[POOL] = pool()
    config = ValidatorSettings.model_validate(settings)
    return Validator(chain, PKG, POOL, Metrics(), config, clock=clock)


async def refusal(v: Validator, token: str) -> str:
    try:
        await v.validate(token)
    except TokenRejected as exc:
        return str(exc.reason)
    raise AssertionError("the token was accepted")


def random_token(object_id: str) -> str:
    return format_token(object_id, secrets.token_bytes(32))


async def test_distinct_secrets_of_one_id_cost_one_read() -> None:
    chain, clock = CountingChain(), FakeClock()
    v = validator(chain, clock)
    ghost = oid()
    for _ in range(200):
        assert await refusal(v, random_token(ghost)) == "not_found"
    assert chain.reads[ghost] == 1
    existing = oid()
    chain.objects[existing] = coin(existing)
    for _ in range(50):
        assert await refusal(v, random_token(existing)) == "wrong_type"
    assert chain.reads[existing] == 1


async def test_distinct_ids_cost_one_read_each() -> None:
    chain, clock = CountingChain(), FakeClock()
    v = validator(chain, clock)
    ids = [oid() for _ in range(30)]
    for _ in range(5):
        for object_id in ids:
            assert await refusal(v, random_token(object_id)) == "not_found"
    assert chain.token_reads() == 30 and set(chain.reads) - {POOL} == set(ids)


async def test_concurrent_tokens_of_one_id_share_the_read() -> None:
    chain, clock = CountingChain(), FakeClock()
    v = validator(chain, clock, batch_window_ms=0)  # no batching window to hide behind
    await v.min_stake()
    ghost, chain.gate = oid(), asyncio.Event()
    tasks = [asyncio.ensure_future(refusal(v, random_token(ghost))) for _ in range(20)]
    for _ in range(50):
        await asyncio.sleep(0)
    chain.gate.set()
    assert set(await asyncio.gather(*tasks)) == {"not_found"}
    assert chain.reads[ghost] == 1


async def test_short_lived_and_bounded() -> None:
    chain, clock = CountingChain(), FakeClock()
    v = validator(chain, clock, absent_ttl=5.0, absent_cache_size=10, negative_ttl=0)
    ghost = oid()
    await refusal(v, random_token(ghost))
    clock.now += 4.9
    await refusal(v, random_token(ghost))
    assert chain.reads[ghost] == 1
    clock.now += 0.2  # past the TTL: read again
    await refusal(v, random_token(ghost))
    assert chain.reads[ghost] == 2
    for _ in range(100):
        await refusal(v, random_token(oid()))
    assert len(v.absent) == 10  # the least recent dropped


async def test_real_tokens_and_wrong_secrets_are_not_remembered_by_id() -> None:
    chain, clock = CountingChain(), FakeClock()
    v = validator(chain, clock, negative_ttl=0)
    real = oid()
    chain.objects[real] = seal_token(real, secrets.token_bytes(32))
    for _ in range(3):
        assert await refusal(v, random_token(real)) == "bad_secret"
    assert chain.reads[real] == 3 and len(v.absent) == 0  # the secret is the token's business


async def test_creation_of_the_id_forgets_it() -> None:
    """A node lagging the chain said not_found; the watcher saw SealTokenCreated: read again."""
    chain, clock = CountingChain(), FakeClock()
    v = validator(chain, clock, negative_ttl=0)
    secret, created = secrets.token_bytes(32), oid()
    assert await refusal(v, format_token(created, secret)) == "not_found"
    chain.objects[created] = seal_token(created, secret)
    assert await refusal(v, format_token(created, secret)) == "not_found"  # still remembered
    v.absent.forget(created)
    await refusal(v, format_token(created, secret))  # read: it exists (its stake does not here)
    assert chain.reads[created] == 2
    assert v.absent.refusal(created) is None  # a missing StakeRecord is not the token id's fault


async def test_a_read_overtaken_by_a_creation_is_not_remembered() -> None:
    absent = AbsentIds(60.0, 10, FakeClock())
    generation = absent.generation
    absent.forget("0x" + "aa" * 32)  # the event lands while the read is in flight
    absent.remember("0x" + "aa" * 32, Reason.NOT_FOUND, generation)
    assert absent.refusal("0x" + "aa" * 32) is None
    absent.remember("0x" + "aa" * 32, Reason.BAD_SECRET, absent.generation)
    assert len(absent) == 0  # only not_found / wrong_type belong to the id
    absent.remember("0x" + "aa" * 32, Reason.WRONG_TYPE, absent.generation)
    assert absent.refusal("0x" + "aa" * 32) is Reason.WRONG_TYPE


async def test_the_watcher_forgets_an_id_the_chain_creates() -> None:
    chain, clock = CountingChain(), FakeClock()
    v = validator(chain, clock, negative_ttl=0)
    created = oid()
    await refusal(v, random_token(created))
    assert v.absent.refusal(created) is Reason.NOT_FOUND
    watcher = ChainWatcher(chain, PKG, v, None, None, Metrics())  # type: ignore[arg-type]
    event = EventData(7, "digest", 0, f"{PKG}::k8s_gateway::SealTokenCreated", "k8s_gateway",
                      "SealTokenCreated", {"token_id": created, "stake_id": oid()})  # fmt: skip
    assert await watcher.handle(event) == []
    assert v.absent.refusal(created) is None
