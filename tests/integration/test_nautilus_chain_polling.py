"""The master against a full node without the subscription service (`devnet start
--no-subscriptions`): SubscribeCheckpoints answers UNIMPLEMENTED like the real node, the watcher
polls GetCheckpoint instead, and a slash still revokes the worker at once.

This module owns its devnet (module-scoped, overriding the shared `devnet` fixture).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, chain, new_staker
from harness.processes import free_port
from k3s_daas.chain import K3sDaasPackage

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetProcess]:
    """A devnet playing a full node without the subscription service."""
    node = DevnetProcess(
        tmp_path_factory.mktemp("devnet-nosub") / "data",
        free_port(),
        free_port(),
        ("--no-subscriptions",),
    )
    node.start()
    yield node
    node.stop()


@pytest.fixture
async def package(devnet: DevnetProcess) -> AsyncIterator[K3sDaasPackage]:
    client, pkg = chain(devnet)
    yield pkg
    await client.close()


async def test_subscribe_checkpoints_is_unimplemented_and_reads_still_work(
    devnet: DevnetProcess,
) -> None:
    channel = Channel(devnet.grpc_host, devnet.grpc_port)
    try:
        request = v2.SubscribeCheckpointsRequest(read_mask=FieldMask(paths=["sequence_number"]))
        with pytest.raises(GRPCError) as caught:
            async for _ in v2.SubscriptionServiceStub(channel).subscribe_checkpoints(request):
                pass
        assert caught.value.status == Status.UNIMPLEMENTED
        assert caught.value.message == "subscription service not enabled"
        latest = await v2.LedgerServiceStub(channel).get_checkpoint(v2.GetCheckpointRequest())
        assert latest.checkpoint is not None and latest.checkpoint.sequence_number is not None
    finally:
        channel.close()


async def test_the_watcher_polls_and_a_slash_revokes_at_once(
    master: MasterProcess, devnet: DevnetProcess, package: K3sDaasPackage
) -> None:
    staker = await new_staker(package, devnet, f"p-{secrets.token_hex(4)}")
    assert master.validate(staker.token)["valid"] is True
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=20) as http:
        assert (await staker.send(http, "register", master.public_key)).status_code == 200
    await package.slash(devnet.admin_key, staker.minted.stake_record_id)
    deadline = time.monotonic() + 15
    while master.workers()[staker.node_id]["status"] != "revoked":
        assert time.monotonic() < deadline, master.workers()[staker.node_id]
        time.sleep(0.05)
    assert master.workers()[staker.node_id]["reason"] == "stake_slashed"
    assert master.validate(staker.token)["reason"] == "stake_slashed"
    with master.http() as http:
        health = http.get("/health_check").json()
        metrics = http.get("/metrics").text
    assert health["watcher_mode"] == "poll"
    assert 'nautilus_watcher_mode{mode="poll"} 1.0' in metrics
    assert 'nautilus_watcher_mode{mode="stream"} 0.0' in metrics
