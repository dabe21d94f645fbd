"""The validation cache shared by replicas, on a real Redis (and a real devnet for the chain).

Three validators stand for three replicas: what one read from the chain another gets from Redis;
after a slash the tombstone hides the entry from a replica that never saw it, even when a slow
replica writes the stale answer again; a tampered, foreign-key or unreachable Redis is a miss.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from harness.devnet import DevnetProcess
from harness.master import chain, new_staker
from harness.processes import free_port
from k3s_daas.chain import ChainClient, K3sDaasPackage
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.shared_cache import (
    PREFIX,
    RETRY_AFTER_S,
    RedisSharedCache,
    open_shared_cache,
)
from k3s_daas.nautilus.store import StoreConfigError
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal.token import token_fingerprint
from tests.fixtures.services import RedisServer

# The master only registers an enclave on chain: minting a Seal token needs one (E_NO_ENCLAVE).
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("master")]
KEY = os.urandom(32)


@pytest.fixture
async def package(devnet: DevnetProcess) -> AsyncIterator[tuple[ChainClient, K3sDaasPackage]]:
    client, pkg = chain(devnet)
    yield client, pkg
    await client.close()


def replica(client: ChainClient, devnet: DevnetProcess, redis_url: str) -> Validator:
    shared = open_shared_cache(redis_url, KEY, ttl=30.0)
    return Validator(
        client, devnet.deployment.package_id, devnet.deployment.pool_id, Metrics(), shared=shared
    )


def count(validator: Validator, outcome: str) -> float:
    return float(validator.metrics.cache.labels(outcome)._value.get())


async def test_replicas_share_reads_and_tombstones_hide_revoked_answers(
    devnet: DevnetProcess,
    package: tuple[ChainClient, K3sDaasPackage],
    redis_server: RedisServer,
) -> None:
    client, pkg = package
    staker = await new_staker(pkg, devnet, f"sc-{os.urandom(3).hex()}")
    token = staker.token
    a, b = replica(client, devnet, redis_server.url), replica(client, devnet, redis_server.url)
    try:
        claims = await a.validate(token)  # a reads the chain and offers the answer
        assert count(a, "shared_hit") == 0
        assert await b.validate(token) == claims  # b never touches the chain for it
        assert count(b, "shared_hit") == 1

        await pkg.slash(devnet.admin_key, staker.minted.stake_record_id)
        # a's watcher applies StakeSlashed: purge its own cache, tombstone the stake in Redis
        a.purge_stake(claims.stake_record_id)
        await a.shared.forget_stake(claims.stake_record_id)
        # a slow replica writes the pre-slash answer again after the tombstone: still hidden
        await b.shared.put(token_fingerprint(token), claims, time.time() - 0.5)

        c = replica(client, devnet, redis_server.url)  # a replica that never saw the token
        try:
            with pytest.raises(TokenRejected) as info:
                await c.validate(token)
            assert info.value.reason == "stake_slashed"
            assert count(c, "shared_hit") == 0
        finally:
            await c.shared.close()
    finally:
        await a.shared.close()
        await b.shared.close()


async def test_tampered_or_foreign_entries_are_misses(
    devnet: DevnetProcess,
    package: tuple[ChainClient, K3sDaasPackage],
    redis_server: RedisServer,
) -> None:
    client, pkg = package
    staker = await new_staker(pkg, devnet, f"sc-{os.urandom(3).hex()}")
    fp = token_fingerprint(staker.token)
    a = replica(client, devnet, redis_server.url)
    try:
        claims = await a.validate(staker.token)
        shared = a.shared
        assert isinstance(shared, RedisSharedCache)
        assert (await shared.get(fp)) is not None
        raw = await shared.client.hget(PREFIX + "v:" + fp, "c")
        assert raw is not None and claims.owner.encode() not in raw  # sealed, not readable
        other = RedisSharedCache(shared.client, os.urandom(32), ttl=30.0)  # another data key
        assert await other.get(fp) is None
        await shared.client.hset(PREFIX + "v:" + fp, "c", b"\x01" + os.urandom(60))  # forged
        assert await shared.get(fp) is None
        b = replica(client, devnet, redis_server.url)
        try:
            assert await b.validate(staker.token) == claims  # from the chain instead
            assert count(b, "shared_hit") == 0
        finally:
            await b.shared.close()
    finally:
        await a.shared.close()


async def test_unreachable_redis_is_a_miss_not_an_error(
    devnet: DevnetProcess, package: tuple[ChainClient, K3sDaasPackage]
) -> None:
    client, pkg = package
    staker = await new_staker(pkg, devnet, f"sc-{os.urandom(3).hex()}")
    v = replica(client, devnet, f"redis://127.0.0.1:{free_port()}/0")
    try:
        start = time.monotonic()
        claims = await v.validate(staker.token)
        assert claims.node_id == staker.node_id
        await v.shared.forget_stake(claims.stake_record_id)  # swallowed, logged
        assert time.monotonic() - start < 5
    finally:
        await v.shared.close()
    with pytest.raises(StoreConfigError):
        open_shared_cache("http://127.0.0.1:1", KEY, ttl=30.0)


async def test_a_failed_tombstone_stops_reading_redis_until_entries_expire(
    redis_server: RedisServer,
) -> None:
    """If the tombstone for a slash cannot be written, this replica must not read back the
    pre-slash entry later: it ignores Redis for cache_ttl."""
    from k3s_daas.seal import Claims, Tier

    claims = Claims(
        owner="0x" + "ab" * 32, node_id="n", stake_type=0, stake_amount=1000,
        permissions=("pods:read",), tier=Tier.STANDARD, expires_at_epoch=100,
        token_id="0x" + "01" * 32, stake_record_id="0x" + "02" * 32, enclave_id="0x" + "03" * 32,
    )  # fmt: skip
    shared = open_shared_cache(redis_server.url, KEY, ttl=30.0)
    assert isinstance(shared, RedisSharedCache)
    fp = "f" * 64
    try:
        await shared.put(fp, claims, time.time())
        assert await shared.get(fp) is not None

        async def broken(*args: object, **kwargs: object) -> None:
            raise ConnectionError("double: Redis refused the tombstone")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(shared.client, "set", broken)
            await shared.forget_stake(claims.stake_record_id)
        # a read in flight during the outage fails just after: it must not shorten the pause
        shared._failed("read", ConnectionError("double: a read timed out"))
        await asyncio.sleep(RETRY_AFTER_S + 0.2)  # past the pause any failure causes
        assert await shared.get(fp) is None  # the entry is still in Redis, but not read
        assert await shared.client.exists(PREFIX + "v:" + fp) == 1
    finally:
        await shared.close()
