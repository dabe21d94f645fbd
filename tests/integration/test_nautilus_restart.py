"""kill -9 of the master during heartbeats from 50 workers: nothing registered is lost, and the
SQLite store holds no plaintext worker record (values are sealed with the enclave data key)."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, Staker, chain, new_staker

pytestmark = pytest.mark.timeout(300)
WORKERS = 50


async def test_kill9_during_heartbeats(master: MasterProcess, devnet: DevnetProcess) -> None:
    client, package = chain(devnet)
    try:
        prefix = secrets.token_hex(3)
        stakers: list[Staker] = []
        for i in range(WORKERS):  # one-call mint (stake + token in one transaction) each
            stakers.append(await new_staker(package, devnet, f"r{prefix}-{i}"))
    finally:
        await client.close()
    key = master.public_key
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=30) as http:
        answers = await asyncio.gather(*(s.send(http, "register", key) for s in stakers))
        assert all(a.status_code == 200 for a in answers)

        async def beat_forever(s: Staker) -> None:
            while True:
                try:
                    await s.send(http, "heartbeat", key)
                except httpx.HTTPError:
                    return
                await asyncio.sleep(0.05)

        beats = [asyncio.create_task(beat_forever(s)) for s in stakers]
        await asyncio.sleep(1.0)
        master.kill9()
        await asyncio.gather(*beats)
    master.start()
    rows = master.workers()
    names = {s.node_id for s in stakers}
    assert names <= set(rows)
    assert all(rows[n]["owner"] == s.key.address for s in stakers for n in [s.node_id])
    raw = (master.data_dir / "store.db").read_bytes()
    for extra in ("store.db-wal",):
        path = master.data_dir / extra
        if path.exists():
            raw += path.read_bytes()
    # Keys are plaintext paths (`/workers/<node_id>`, docs/storage.md); values are sealed, so
    # nothing a record holds — owner address, token id, stake id, status — is readable.
    assert b'"status"' not in raw
    for s in stakers[:10]:
        assert s.key.address.encode() not in raw
        assert s.key.address[2:].encode() not in raw
        assert s.minted.token_id.encode() not in raw
        assert s.minted.stake_record_id.encode() not in raw
    # the restarted master has a new enclave key: heartbeats signed for it are accepted
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=30) as http:
        start = time.monotonic()
        answer = await stakers[0].send(http, "heartbeat", master.public_key)
        assert answer.status_code == 200, answer.text
        print(f"\nfirst heartbeat after restart: {(time.monotonic() - start) * 1000:.1f} ms")
