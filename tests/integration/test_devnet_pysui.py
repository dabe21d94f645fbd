"""Wire compatibility: pysui's own high-level gRPC transaction builder, unmodified except for its
channel (pysui always dials with TLS; the devnet speaks plaintext), builds, signs and executes
against the devnet."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from grpclib.client import Channel
from pysui import PysuiConfiguration
from pysui.sui.sui_common import sui_commands as cmd
from pysui.sui.sui_common.config import confgroup
from pysui.sui.sui_grpc.pgrpc_clients import GrpcProtocolClient
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess
from k3s_daas.chain import SuiKeyPair


@pytest.fixture
async def staker(devnet: DevnetProcess, tmp_path: Path) -> AsyncIterator[tuple[Any, SuiKeyPair]]:
    key = SuiKeyPair.generate()
    devnet.faucet(key.address)
    cfg = PysuiConfiguration.initialize_config(
        in_folder=tmp_path / "pysui", init_groups=[{"name": "base", "make_active": True}]
    )
    cfg.new_group(
        group_name="k3s-devnet",
        profile_block=[
            {
                "profile_name": "devnet",
                "url": f"localhost:{devnet.grpc_port}",
                "network_type": confgroup.NetworkType.LOCAL,
                "faucet_url": None,
                "faucet_status_url": None,
                "make_active": True,
            }
        ],
        key_block=[{"key_string": key.to_suiprivkey(), "alias": "staker"}],
        active_address_index=0,
        group_protocol=confgroup.GroupProtocol.GRPC,
        make_group_active=True,
    )
    client = GrpcProtocolClient(pysui_config=cfg)
    client._channel.close()  # the one change: a plaintext channel instead of its forced TLS
    client._channel = Channel(devnet.grpc_host, devnet.grpc_port)
    await client._init_protocol()
    yield client, key
    await client.close()


async def _stake(
    client: Any, devnet: DevnetProcess, amount: int, node_id: str
) -> v2.ExecutedTransaction:
    txn = await client.transaction()
    coin = await txn.split_coin(coin=txn.gas, amounts=[amount])
    await txn.move_call(
        target=f"{devnet.deployment.package_id}::staking::stake_for_node",
        arguments=[devnet.deployment.pool_id, coin, node_id],
    )
    signed = await txn.build_and_sign()
    result = await client.execute(command=cmd.ExecuteTransaction(**signed))
    assert result.is_ok(), result.result_string
    executed = result.result_data
    assert isinstance(executed, v2.ExecutedTransaction)
    return executed


async def test_pysui_builder_stakes_through_the_devnet(
    devnet: DevnetProcess, staker: tuple[Any, SuiKeyPair]
) -> None:
    client, key = staker
    node_id = f"node-{secrets.token_hex(4)}"
    executed = await _stake(client, devnet, 1_000, node_id)
    assert executed.effects is not None
    assert executed.effects.status is not None
    assert executed.effects.status.success, executed.effects.status
    assert executed.digest is not None
    owned = await client.execute(command=cmd.GetGas(owner=key.address))
    assert owned.is_ok()
    got = await client.execute(command=cmd.GetTransaction(digest=executed.digest))
    assert got.is_ok(), got.result_string


async def test_pysui_move_abort_is_failed_effects_not_an_rpc_error(
    devnet: DevnetProcess, staker: tuple[Any, SuiKeyPair]
) -> None:
    client, _ = staker
    executed = await _stake(client, devnet, 1, f"node-{secrets.token_hex(4)}")  # < min_stake
    assert executed.effects is not None
    status = executed.effects.status
    assert status is not None
    assert status.success is False
    assert status.error is not None
    assert status.error.kind == v2.ExecutionErrorExecutionErrorKind.MOVE_ABORT
    assert status.error.abort is not None
    assert status.error.abort.location is not None
    assert status.error.abort.location.module == "staking"
    assert status.error.abort.location.package == devnet.deployment.package_id
