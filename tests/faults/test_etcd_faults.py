"""A master on a 3-member etcd under worker load: leader kill, then quorum loss, then recovery.

- Leader kill: writes resume on the surviving majority (failover measured from the kill to the
  first acknowledged write started after it); refusals meanwhile are 503, never 500.
- Quorum loss (a second member killed): registrations are answered 503, each within 1 s (not a
  hang); heartbeats too once the replica's stored replay guard W has passed (routine ones are
  answered from memory up to it: at most the liveness flush interval + the future tolerance,
  3 s, after the last flush; docs/nautilus.md "Replay guard"); the admin workers list is
  answered (from memory) all the same.
- Recovery: both members restarted on their data dirs; the same master process (never restarted)
  acknowledges writes again.
- Nothing acknowledged is lost: the registry read straight from etcd (with the master's data
  key) holds every acknowledged registration and heartbeat.

Short variant: 4 workers, one leader kill; long (`make faults`): 12 workers, three leader kills,
a longer quorum loss.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.etcd import EtcdCluster
from harness.master import MasterProcess
from tests.faults.load import Acks, cancel, drive, mint, stored_records

#: Longest answer while etcd has no quorum: the store's deadline (the store URL's `?timeout=`,
#: 0.7 s by default) bounds the whole request.
QUORUM_BOUND = 1.0
#: Routine heartbeats may still be acknowledged this long after the quorum is lost: the last
#: flush's W (flush interval 1 s + future tolerance 2 s), a flush that committed as the members
#: died (up to the store deadline, 0.7 s) and the answer's own time on a loaded machine.
GUARD_BOUND = 4.5
#: From a leader kill to the first acknowledged write: an etcd election (about 1 s at etcd's
#: default 1,000 ms election timeout) plus a client retry.
FAILOVER_BOUND = 10.0
#: From the quorum's return to the first acknowledged write, without restarting the master.
RECOVERY_BOUND = 20.0


@pytest.mark.parametrize(
    ("workers", "leader_kills", "outage"),
    [
        pytest.param(4, 1, 6.0, id="short", marks=pytest.mark.timeout(300)),
        pytest.param(12, 3, 10.0, id="long", marks=[pytest.mark.faults, pytest.mark.timeout(900)]),
    ],
)
async def test_etcd_leader_kill_and_quorum_loss(
    devnet: DevnetProcess,
    master_factory: Callable[..., MasterProcess],
    etcd_cluster_factory: Callable[[int], EtcdCluster],
    workers: int,
    leader_kills: int,
    outage: float,
) -> None:
    cluster = etcd_cluster_factory(3)
    master = master_factory(K3S_DAAS_NAUTILUS_STORE_URL=cluster.all_url)  # default deadline
    stakers = await mint(devnet, f"e{master.port}", workers)
    acks = Acks()
    failovers: list[float] = []
    tls = ssl.create_default_context(cafile=master.ca_path)
    async with httpx.AsyncClient(base_url=master.url, verify=tls, timeout=30) as http:
        tasks = [asyncio.create_task(drive(http, s, lambda: master.public_key, acks))
                 for s in stakers]  # fmt: skip
        await asyncio.sleep(1.5)
        for _ in range(leader_kills):
            leader = cluster.leader()
            cluster.kill(leader)
            killed = time.monotonic()
            await asyncio.sleep(4.0)
            failover = acks.first_ack_after(killed)
            assert failover is not None and failover < FAILOVER_BOUND, acks.statuses(killed)
            failovers.append(failover)
            await asyncio.to_thread(cluster.restart, leader)  # waits until all are healthy
        during_failover = acks.statuses(since=0)

        # quorum loss: two of three members down
        leader = cluster.leader()
        down = [leader, next(m for m in cluster.members if m is not leader)]
        for member in down:
            cluster.kill(member)
        lost_at = time.monotonic()
        await asyncio.sleep(outage)
        started = time.monotonic()
        admin = await http.get(
            "/api/v1/workers", headers={"Authorization": f"Bearer {master.admin_token}"}
        )
        admin_seconds = time.monotonic() - started

        back = time.monotonic()
        await asyncio.to_thread(cluster.restart, *down)
        await asyncio.sleep(2.0)
        recovery = acks.first_ack_after(back)
        await cancel(tasks)

    settled = lost_at + 0.5  # a request begun as the members died may still have committed
    outage_answers = [a for a in acks.answers if lost_at <= a.started < back]
    without_quorum = Counter(a.status for a in outage_answers if a.started >= settled
                             and a.ended < back)  # fmt: skip
    slowest = max(a.ended - a.started for a in outage_answers)
    key = (master.data_dir / "data.key").read_bytes()
    records = await stored_records(cluster.all_url, key)
    five_xx = sum(n for s, n in acks.statuses().items() if s >= 500)
    last_ack = max((a.started - lost_at for a in outage_answers if a.status == 200), default=0.0)
    print(
        f"\netcd 3 members, {workers} workers: {len(acks.registered)} registrations + "
        f"{sum(acks.beats.values())} heartbeats acknowledged, "
        f"{len(records)} records in etcd, {len(acks.lost(records))} lost; leader failover "
        f"{', '.join(f'{f:.2f}' for f in failovers)} s; without quorum {dict(without_quorum)}, "
        f"slowest answer {slowest:.2f} s, admin list {admin.status_code} in {admin_seconds:.2f} s; "
        f"recovery {recovery if recovery is None else round(recovery, 2)} s; "
        f"{five_xx} answers >= 500 in all (statuses {dict(acks.statuses())}); last "
        f"acknowledgement begun {last_ack:.2f} s after the loss"
    )
    assert not acks.lost(records)
    assert 500 not in during_failover and 0 not in during_failover, during_failover
    assert without_quorum and set(without_quorum) <= {200, 503}, without_quorum
    # Acknowledged without quorum: answered before the members came back. A heartbeat begun in
    # the last LEASE_WAIT (0.5 s) of the outage waits for a flush, and the first flush after
    # the quorum's return answers it: acknowledged with quorum, like the recovery itself.
    acked = [a for a in outage_answers if a.status == 200 and a.ended < back]
    late = [(round(a.started - lost_at, 3), round(a.ended - lost_at, 3), a.kind) for a in acked
            if a.kind != "heartbeat" or a.started >= lost_at + GUARD_BOUND]  # fmt: skip
    assert not late, f"acknowledged after the guard (s after the loss): {late}"
    assert any(a.status == 503 and a.started >= lost_at + GUARD_BOUND for a in outage_answers)
    assert slowest <= QUORUM_BOUND
    assert admin.status_code == 200 and admin_seconds <= QUORUM_BOUND, admin.text
    assert recovery is not None and recovery < RECOVERY_BOUND
    assert all(s in (200, 503) for s in acks.statuses())
    assert master.proc.poll() is None
