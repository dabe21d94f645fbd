"""The master verifies the chain by default (the devnet's deployment names its committee): a
real master reading the devnet over TLS (`https://`, a self-signed CA) through `LyingNode`
answers valid tokens with the verified checkpoint, refuses a forged token the node makes up
(`unverified_chain_data`) and refuses to start on an endpoint of another chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.devnet import DevnetProcess
from harness.lying_node import LyingNode, forged_token, in_turn, serve_object
from harness.master import MasterProcess, chain, new_staker
from harness.processes import free_port
from k3s_daas.kube.tls import ServerIdentity

pytestmark = pytest.mark.timeout(240)


async def test_a_master_over_tls_answers_with_its_checkpoint_and_refuses_a_forge(
    devnet: DevnetProcess, tmp_path: Path
) -> None:
    identity = ServerIdentity.load_or_create(tmp_path / "tls", ["localhost"], ["127.0.0.1"])
    with LyingNode(devnet.grpc_port, tls=identity) as node:
        master = MasterProcess(devnet, tmp_path / "master", free_port(), {
            "K3S_DAAS_NAUTILUS_CHAIN": json.dumps([node.url]),
            "K3S_DAAS_NAUTILUS_CHAIN_CA_FILE": str(identity.ca_path),
        })  # fmt: skip
        master.start()
        try:
            client, package = chain(devnet)
            staker = await new_staker(package, devnet, "verified-node")
            await client.close()
            answer = master.validate(staker.token)
            assert answer["valid"] is True and isinstance(answer["checkpoint"], int)
            assert answer["claims"]["checkpoint"] == answer["checkpoint"]
            forged, made_up = forged_token(
                devnet.deployment, staker.key.address, staker.minted.view.enclave
            )
            node.lie = in_turn(*(serve_object(o) for o in made_up))
            refused = master.validate(forged)
            assert refused["valid"] is False and refused["reason"] == "unverified_chain_data"
            assert "/sui.rpc.v2.LedgerService/GetCheckpoint" in node.calls
        finally:
            master.stop()


def test_a_master_refuses_to_start_on_another_chain(
    devnet: DevnetProcess, devnet_factory: object, tmp_path: Path
) -> None:
    other = devnet_factory()  # type: ignore[operator]
    master = MasterProcess(devnet, tmp_path / "master", free_port(), {
        "K3S_DAAS_NAUTILUS_CHAIN": json.dumps([other.grpc_target]),
    })  # fmt: skip
    with pytest.raises(RuntimeError, match="wrong_chain"):
        master.start()
