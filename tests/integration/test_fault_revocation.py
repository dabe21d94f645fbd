"""Revocation under faults: Redis cut off while a stake is slashed, then a replica restarted.

Two real masters share a real etcd (registry, cursor, revocation records) and a real Redis
(validation cache) reached through a `TcpProxy` the test cuts: refusing connections (Redis as if
killed) or holding them silent (a partition). Replica A reads token R from the
chain (the answer lands in Redis); Redis is cut off; R's stake is slashed, so both refuse R but
neither can write its Redis tombstone; B is killed and restarted, its watcher resuming from the
shared cursor, past the slash. When Redis comes back the pre-slash entry is still there: neither
replica may accept R again (before the fix, B did, from Redis and then from its own cache).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.devnet import DevnetProcess
from harness.etcd import EtcdCluster
from harness.master import MasterProcess, chain, new_staker
from harness.processes import wait_for
from harness.proxy import TcpProxy
from tests.fixtures.services import RedisServer

pytestmark = pytest.mark.timeout(300)


def refuses(master: MasterProcess, token: str, reason: str) -> bool:
    return master.validate(token).get("reason") == reason


@pytest.mark.parametrize(
    ("restart", "partition"),
    [("kill9", "refused"), ("stop", "silent")],  # Redis as if killed / behind a black hole
)
async def test_redis_partition_and_replica_restart_never_accept_a_slashed_token(
    restart: str,
    partition: str,
    devnet: DevnetProcess,
    master_factory: Callable[..., MasterProcess],
    etcd_cluster_factory: Callable[[int], EtcdCluster],
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    etcd = etcd_cluster_factory(1)
    with TcpProxy(redis_server.port) as redis_link:
        env = {
            "K3S_DAAS_NAUTILUS_STORE_URL": etcd.url,
            "K3S_DAAS_NAUTILUS_DATA_KEY_FILE": str(tmp_path / "shared-data.key"),
            "K3S_DAAS_NAUTILUS_SHARED_CACHE_URL": f"redis://{redis_link.address}/0",
            # the pre-slash entry must outlive the restart, as with the defaults (30 s / 60 s)
            "K3S_DAAS_NAUTILUS_CACHE_TTL": "90",
            "K3S_DAAS_NAUTILUS_STALENESS": "120",
            "K3S_DAAS_NAUTILUS_RATE_LIMIT": "0",  # every refusal answered, none 429
        }
        a, b = master_factory(**env), master_factory(**env)
        client, package = chain(devnet)
        try:
            staker = await new_staker(package, devnet, f"fault-{restart}")
            token = staker.token
            assert a.validate(token)["valid"] is True  # a chain read, offered to Redis
            assert b.validate(token)["valid"] is True  # from Redis

            redis_link.cut(hang=partition == "silent")
            await package.slash(devnet.admin_key, staker.minted.stake_record_id)
            wait_for(lambda: refuses(a, token, "stake_slashed"), timeout=20)
            wait_for(lambda: refuses(b, token, "stake_slashed"), timeout=20)
            time.sleep(1.0)  # let every watcher save its cursor past the slash

            b.kill9() if restart == "kill9" else b.stop()
            b.start()  # resumes from the cursor shared in etcd, past the slash
            # A long partition outlives TCP's retransmissions: what was held is dropped, so the
            # tombstone writes never reach Redis (as when it was refused).
            redis_link.cut()
            redis_link.heal()

            accepted, asked = 0, 0
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                for replica in (a, b):
                    asked += 1
                    answer = replica.validate(token)
                    accepted += answer.get("valid") is True
                    assert answer.get("valid") is True or answer["reason"] == "stake_slashed"
            print(
                f"\n{restart}, Redis {partition}: {accepted} of {asked} accepted the slashed token"
            )
            assert accepted == 0
        finally:
            await client.close()
