"""Durability: `kill -9` in the middle of a stream of transactions never leaves a half-applied
one; after a restart every committed transaction's objects, events and checkpoints are intact."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import httpx
from grpclib.client import Channel
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess


def _grant_forever(
    devnet: DevnetProcess, done: list[dict[str, str]], stop: threading.Event
) -> None:
    with httpx.Client(timeout=5) as http:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                response = http.post(
                    f"{devnet.faucet_url}/v2/gas",
                    json={"FixedAmountRequest": {"recipient": hex(n), "amount": n}},
                )
            except httpx.HTTPError:
                return  # the devnet was killed
            if response.status_code == 200:
                coin = response.json()["coins_sent"][0]
                done.append({"id": coin["id"], "digest": coin["transferTxDigest"], "n": str(n)})


async def _check_chain(devnet: DevnetProcess, acknowledged: list[dict[str, str]]) -> int:
    channel = Channel(devnet.grpc_host, devnet.grpc_port)
    ledger = v2.LedgerServiceStub(channel)
    everything = FieldMask(paths=["*"])
    try:
        tip = (await ledger.get_checkpoint(v2.GetCheckpointRequest())).checkpoint
        assert tip is not None
        assert tip.sequence_number is not None
        previous: str | None = None
        committed: set[str] = set()
        for seq in range(tip.sequence_number + 1):  # contiguous, hash-linked checkpoints
            cp = (
                await ledger.get_checkpoint(
                    v2.GetCheckpointRequest(sequence_number=seq, read_mask=everything)
                )
            ).checkpoint
            assert cp is not None
            assert cp.summary is not None
            assert cp.summary.previous_digest == previous
            previous = cp.digest
            for tx in cp.transactions:
                assert tx.effects is not None
                assert tx.checkpoint == seq
                committed.add(str(tx.digest))
                for change in tx.effects.changed_objects:  # every output version is stored
                    if change.output_version is None:
                        continue
                    obj = (
                        await ledger.get_object(
                            v2.GetObjectRequest(
                                object_id=change.object_id, version=change.output_version
                            )
                        )
                    ).object
                    assert obj is not None
                    assert obj.digest == change.output_digest
        for grant in acknowledged:  # every grant the faucet confirmed survived the kill
            assert grant["digest"] in committed
            coin = (
                await ledger.get_object(
                    v2.GetObjectRequest(object_id=grant["id"], read_mask=everything)
                )
            ).object
            assert coin is not None
            assert coin.balance == int(grant["n"])
        return tip.sequence_number
    finally:
        channel.close()


async def test_kill9_mid_stream_then_restart_is_consistent(
    devnet_factory: Callable[[], DevnetProcess],
) -> None:
    devnet = devnet_factory()
    chain_id = devnet.deployment.chain_id
    acknowledged: list[dict[str, str]] = []
    stop = threading.Event()
    workers = [
        threading.Thread(target=_grant_forever, args=(devnet, acknowledged, stop)) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    while len(acknowledged) < 40:
        await asyncio.sleep(0.02)
    devnet.kill9()  # while the three clients are still sending
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
    devnet.restart()
    assert devnet.deployment.chain_id == chain_id  # resumed, no new genesis
    height = await _check_chain(devnet, acknowledged)
    assert height >= len(acknowledged)
    closed = httpx.post(f"{devnet.admin_url}/epoch", timeout=10).json()
    devnet.restart()
    info = httpx.get(f"{devnet.admin_url}/info", timeout=5).json()
    assert info["epoch"] == closed["epoch"]
    # the closing checkpoint follows the checked ones (idle heartbeats may sit between) and
    # the restarted devnet goes on from it
    assert height < closed["checkpoint"] <= info["checkpoint"]
