"""The checkpoint subscription keeps its promise across a consumer disconnect and a devnet
restart: every event of the package is processed exactly once by a consumer that records the
event key, and raw redelivery is limited to the one checkpoint that was being consumed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from harness.devnet import DevnetProcess
from k3s_daas.chain import (
    ChainClient,
    FileCursorStore,
    K3sDaasPackage,
    SuiKeyPair,
    checkpoint_events,
    subscribe,
)


async def ground_truth(client: ChainClient, first: int, package: str) -> list[tuple[str, int]]:
    """Every event key of the package from checkpoint `first` to the tip, read directly."""
    tip = await client.latest_checkpoint()
    keys: list[tuple[str, int]] = []
    for seq in range(first, tip + 1):
        cp = await client.get_checkpoint(seq)
        assert cp is not None
        keys += [e.key for e in checkpoint_events(cp, package)]
    return keys


async def test_resume_after_disconnect_and_devnet_restart(
    devnet_factory: Callable[[], DevnetProcess], tmp_path: Path
) -> None:
    node = devnet_factory()
    package = node.deployment.package_id
    cursor = FileCursorStore(tmp_path / "cursor.json")
    raw: list[tuple[str, int]] = []
    processed: set[tuple[str, int]] = set()
    key = SuiKeyPair.generate()
    node.faucet(key.address, 50 * 10**9)

    async with ChainClient.from_deployment(node.deployment, timeout=2.0) as client:
        pkg = K3sDaasPackage(client, node.deployment)
        first = await client.latest_checkpoint() + 1
        await cursor.save(first - 1)

        async def consume(stop_after: int | None = None) -> None:
            async for event in subscribe(client, cursor=cursor, package_id=package):
                raw.append(event.key)
                processed.add(event.key)  # the consumer's idempotent record
                if stop_after is not None and len(raw) >= stop_after:
                    return  # a consumer that goes away mid-stream

        async def wait_processed(n: int) -> None:
            async def done() -> None:
                while len(processed) < n:
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(done(), 60)

        # 1) three events, the consumer leaves after two (the second's cursor is not saved)
        for amount in (100, 101, 102):
            await pkg.stake_for_user(key, amount)
        await asyncio.wait_for(consume(stop_after=2), 30)
        # 2) three more while nobody listens
        for amount in (103, 104, 105):
            await pkg.stake_for_user(key, amount)
        consumer = asyncio.create_task(consume())
        await wait_processed(6)
        # 3) the devnet restarts under a running consumer; three more afterwards
        await asyncio.to_thread(node.restart)
        for amount in (106, 107, 108):
            await pkg.stake_for_user(key, amount)
        await wait_processed(9)
        await asyncio.sleep(0.3)  # anything extra would arrive now
        consumer.cancel()
        truth = await ground_truth(client, first, package)

    assert len(truth) == 9
    assert processed == set(truth)  # nothing lost, nothing foreign
    assert sorted(set(raw), key=raw.index) == truth  # delivered in chain order
    duplicates = [k for k, n in Counter(raw).items() if n > 1]
    assert duplicates == [truth[1]]  # only the event whose checkpoint was not acknowledged
    assert await cursor.load() is not None
