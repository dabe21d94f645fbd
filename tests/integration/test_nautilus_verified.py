"""The master verifies the chain by default (the devnet's deployment names its committee): a
real master reading the devnet over TLS (`https://`, a self-signed CA) through `LyingNode`
answers valid tokens with the verified checkpoint, refuses a forged token the node makes up
(`unverified_chain_data`) on validate and on register-worker, refuses to start on an endpoint
of another chain, and stops saying "valid" within `staleness` once the node withholds
checkpoints (the devnet certifies one at least every second, idle or not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.lying_node import LyingNode, forged_token, in_turn, serve_object, withhold_after
from harness.master import TEST_ENV, MasterProcess, Staker, chain, new_staker
from harness.processes import free_port, wait_for
from k3s_daas.kube.tls import ServerIdentity

pytestmark = pytest.mark.timeout(240)
STALENESS = float(TEST_ENV["K3S_DAAS_NAUTILUS_STALENESS"])
CHAIN_TIMEOUT = float(TEST_ENV["K3S_DAAS_NAUTILUS_CHAIN_TIMEOUT"])
SLACK = 3.0  # the devnet's checkpoint interval, HTTPS round trips, a shared 2-core machine


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


def _health(master: MasterProcess) -> dict[str, Any]:
    with master.http() as client:
        return dict(client.get("/health_check").json())


async def test_withheld_checkpoints_end_valid_answers_within_staleness(
    devnet: DevnetProcess, tmp_path: Path
) -> None:
    with LyingNode(devnet.grpc_port) as node:
        master = MasterProcess(devnet, tmp_path / "master", free_port(), {
            "K3S_DAAS_NAUTILUS_CHAIN": json.dumps([node.address]),
            "K3S_DAAS_NAUTILUS_CACHE_TTL": "600",  # the answer stays cached: only time refuses it
        })  # fmt: skip
        master.start()
        try:
            client, package = chain(devnet)
            staker = await new_staker(package, devnet, "fresh-node")
            later = await new_staker(package, devnet, "later-node")  # never asked before the lie
            assert master.validate(staker.token)["valid"] is True
            health = _health(master)
            assert health["chain_fresh"] is True and health["chain_age_bound_seconds"] == STALENESS
            node.lie = withhold_after(await client.latest_checkpoint())
            await client.close()
            # Idle or not, the devnet certifies a checkpoint every second: none reaches the
            # master any more, so its newest one ages past `staleness` and "valid" ends.
            wait_for(lambda: master.validate(staker.token).get("reason") == "chain_unavailable",
                     timeout=STALENESS + CHAIN_TIMEOUT + SLACK)  # fmt: skip
            assert master.validate(later.token)["reason"] == "chain_unavailable"
            health = _health(master)
            assert health["chain_fresh"] is False and health["chain_age_seconds"] > STALENESS
            with master.http() as http:  # the node still answers, so only this check fails
                ready = http.get("/readyz", params={"verbose": ""})
            assert ready.status_code == 503 and "[+]chain ok" in ready.text
            assert "[-]checkpoints failed: the newest verified checkpoint is" in ready.text
            node.lie = None  # the chain flows again: answers come back without a restart
            wait_for(lambda: master.validate(staker.token).get("valid") is True, timeout=30)
            assert master.validate(later.token)["valid"] is True
            assert _health(master)["chain_fresh"] is True
        finally:
            master.stop()


async def test_register_worker_refuses_a_forged_token(
    devnet: DevnetProcess, tmp_path: Path
) -> None:
    with LyingNode(devnet.grpc_port) as node:
        master = MasterProcess(devnet, tmp_path / "master", free_port(), {
            "K3S_DAAS_NAUTILUS_CHAIN": json.dumps([node.address]),
        })  # fmt: skip
        master.start()
        try:
            client, package = chain(devnet)
            attacker = await new_staker(package, devnet, "forging-node")
            await client.close()
            forged, made_up = forged_token(
                devnet.deployment, attacker.key.address, attacker.minted.view.enclave
            )
            node.lie = in_turn(*(serve_object(o) for o in made_up))
            as_forger = Staker(attacker.key, "forged-node", attacker.minted)
            async with httpx.AsyncClient(
                base_url=master.url, verify=master.ca_path, timeout=20
            ) as http:
                response = await as_forger.send(http, "register", master.public_key, token=forged)
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "unverified_chain_data"
            assert "forged-node" not in master.workers()
        finally:
            master.stop()
