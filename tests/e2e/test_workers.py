"""The whole path with real processes: devnet + Nautilus master + worker agents.

Each worker is a real `k3s-daas worker start` process: it gets gas from the devnet faucet,
stakes and mints in one PTB, attests the master against the chain, registers and heartbeats.
Slashing one on chain makes exactly that worker exit with code 3 naming `stake_slashed`. The
devnet, like a full node, sends checkpoint events without JSON and tags a one-call stake's
`StakeCreated` with module `k8s_gateway`: the master revokes from the events' BCS alone.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess
from harness.processes import CLI, stop_process, wait_for
from harness.workers import ready, start_worker, state


@pytest.mark.timeout(240)
def test_three_workers_then_a_slash(
    devnet: DevnetProcess, master: MasterProcess, tmp_path: Path
) -> None:
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    try:
        for i, stake in enumerate([100, 1_000, 10_000], start=1):
            procs[f"w{i}"] = start_worker(tmp_path, devnet, [master], f"e2e-w{i}", stake)
        for proc, folder in procs.values():

            def settled(f: Path = folder, p: subprocess.Popen[bytes] = proc) -> bool:
                return ready(f) or p.poll() is not None

            wait_for(settled, timeout=90)
            assert proc.poll() is None, (folder / "worker.log").read_text()[-2000:]
        workers = master.workers()
        assert {workers[f"e2e-w{i}"]["tier"] for i in (1, 2, 3)} == {"basic", "standard", "premium"}
        assert all(workers[f"e2e-w{i}"]["status"] == "ready" for i in (1, 2, 3))
        token_file = state(procs["w2"][1])
        assert token_file["token"].startswith("seal_")
        # Restart resumes without a second stake: the same token and stake come back.
        stop_process(procs["w1"][0])
        assert procs["w1"][0].returncode == 0  # SIGTERM = graceful leave
        assert state(procs["w1"][1])["status"] == "left"
        before = state(procs["w1"][1])
        procs["w1"] = start_worker(tmp_path, devnet, [master], "e2e-w1", 100)
        wait_for(lambda: ready(procs["w1"][1], beats=before["heartbeats"] + 1), timeout=60)
        after = state(procs["w1"][1])
        assert after["stake_record_id"] == before["stake_record_id"]
        assert after["token_id"] == before["token_id"]
        # Slash worker 2 on chain: it exits 3 naming stake_slashed; the others keep going.
        slash = subprocess.run(
            [
                CLI,
                "devnet",
                "slash",
                "e2e-w2",
                "--deployment",
                str(devnet.data_dir / "devnet.json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert slash.returncode == 0, slash.stderr
        proc2, folder2 = procs["w2"]
        proc2.wait(timeout=60)
        assert proc2.returncode == 3
        assert state(folder2)["reason"] == "stake_slashed"
        wait_for(lambda: master.workers()["e2e-w2"]["status"] == "revoked", timeout=20)
        beats = {n: state(procs[n][1])["heartbeats"] for n in ("w1", "w3")}
        time.sleep(2)
        for n in ("w1", "w3"):
            assert procs[n][0].poll() is None
            assert state(procs[n][1])["heartbeats"] > beats[n]
    finally:
        for proc, _ in procs.values():
            stop_process(proc)


@pytest.mark.timeout(240)
def test_failover_to_the_second_master(
    devnet: DevnetProcess, master_factory: Any, tmp_path: Path
) -> None:
    first, second = master_factory(), master_factory()
    proc, folder = start_worker(tmp_path, devnet, [first, second], "e2e-failover", 1_000)
    try:
        wait_for(lambda: ready(folder) or proc.poll() is not None, timeout=90)
        assert state(folder)["master_url"] == first.url
        first.kill9()
        # its next heartbeat goes to the second at once: not registered there (a store of its
        # own), it registers, and the heartbeat after makes it ready
        wait_for(
            lambda: state(folder).get("master_url") == second.url and ready(folder), timeout=30
        )
        assert proc.poll() is None
        assert second.workers()["e2e-failover"]["status"] == "ready"
    finally:
        stop_process(proc)


@pytest.mark.timeout(240)
def test_token_rotation_before_expiry_keeps_the_node_ready(
    devnet: DevnetProcess, master: MasterProcess, tmp_path: Path
) -> None:
    proc, folder = start_worker(tmp_path, devnet, [master], "e2e-rotate", 1_000)
    try:
        wait_for(lambda: ready(folder) or proc.poll() is not None, timeout=90)
        before = state(folder)
        expires = int(before["token_expires_epoch"])
        epoch = devnet.advance_epoch()
        while epoch < expires - 1:  # one epoch before expiry: the worker must rotate now
            epoch = devnet.advance_epoch()
        wait_for(lambda: int(state(folder).get("token_expires_epoch", 0)) > expires, timeout=30)
        after = state(folder)
        assert after["token_id"] == before["token_id"]  # same object, new secret
        assert after["token"] != before["token"]
        beats = after["heartbeats"]
        wait_for(lambda: state(folder)["heartbeats"] >= beats + 2, timeout=20)
        assert state(folder)["status"] == "ready"
        assert proc.poll() is None
    finally:
        stop_process(proc)


@pytest.mark.timeout(180)
def test_worker_without_endpoints_finds_its_master_on_chain(
    devnet: DevnetProcess, master: MasterProcess, tmp_path: Path
) -> None:
    """No `nautilus_endpoint`: the worker tries the endpoints the enclaves advertise on chain
    (its token's assigned enclave first) and keeps the one whose attestation verifies."""
    proc, folder = start_worker(
        tmp_path, devnet, [master], "e2e-discover", 1_000, nautilus_endpoint=[]
    )
    try:
        wait_for(lambda: ready(folder) or proc.poll() is not None, timeout=90)
        assert proc.poll() is None, (folder / "worker.log").read_text()[-2000:]
        assert state(folder)["master_url"] in {master.url, master.url + "/"}
        assert master.workers()["e2e-discover"]["status"] == "ready"
    finally:
        stop_process(proc)
