"""Several hosts, each a network namespace on one bridge (harness.netns), names resolved from a
per-namespace hosts file: `chain` (devnet), `e1`-`e3` (one etcd cluster), `m1`, `m2` (two master
replicas on that etcd, each listening on 0.0.0.0 and advertising https://mN.k3s-daas.test:8443),
`w1`-`w3` (worker agents) and `ops` (kubectl).

Checked: the workers attest and heartbeat through the advertised names (w1 is given both URLs,
w2 and w3 find them on chain); kubectl on `ops` lists the nodes through m1's name; a slash
revokes w2 on both masters; with m1's cable pulled the workers on it move to m2 within one
heartbeat interval (plus the heartbeat timeout); with e1's cable pulled too, heartbeats (each a
store write) go on. Where namespaces cannot be made it skips in one line (fails when CI=true).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from harness.devnet import DevnetProcess
from harness.etcd import EtcdCluster, EtcdMember
from harness.master import MasterProcess
from harness.netns import Testnet, unavailable
from harness.probe import probe
from harness.processes import CLI, VENV_BIN, stop_process, wait_for
from harness.workers import ready, start_worker, state
from k3s_daas.chain import SuiKeyPair
from tests.conftest import IN_CI

INTERVAL = 2.0  # heartbeat seconds, masters and workers
HEARTBEAT_TIMEOUT = 1.0  # the worker's per-heartbeat timeout at this interval (worker/masters.py)
JITTER = 0.1
SLACK = 1.5  # attesting m2 and one round trip on a loaded 2-core machine
HOSTS = ["chain", "e1", "e2", "e3", "m1", "m2", "w1", "w2", "w3", "ops"]
PORT = 8443


def _run(net: Testnet, host: str, *argv: str, timeout: float = 60) -> str:
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [*net.prefix(host), *argv], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert done.returncode == 0, f"{argv[:3]} on {host}: {done.stderr[-1500:]}"
    return done.stdout


def _fund(net: Testnet, devnet: DevnetProcess, address: str) -> None:
    """The faucet serves loopback peers only: ask it from the chain host."""
    _run(net, "chain", CLI, "devnet", "faucet", address, "--data", str(devnet.data_dir))


def _workers(net: Testnet, master: MasterProcess) -> dict[str, dict[str, Any]]:
    status, body = probe(
        net.prefix("ops"), master.url + "/api/v1/workers", ca=master.ca_path,
        bearer=Path(master.info["admin_token_path"]),
    )  # fmt: skip
    assert status == 200, body
    return {w["node_id"]: w for w in body["workers"]}


def _settled(folder: Path, proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: ready(folder) or proc.poll() is not None


def _status_is(net: Testnet, master: MasterProcess, node: str, status: str) -> Callable[[], bool]:
    return lambda: _workers(net, master)[node]["status"] == status


def _beat_after(folder: Path, beats: int) -> Callable[[], bool]:
    return lambda: int(state(folder).get("heartbeats", 0)) > beats


def _at(folder: Path, url: str) -> Callable[[], bool]:
    return lambda: state(folder).get("master_url") == url


@pytest.fixture
def net() -> Iterator[Testnet]:
    reason = unavailable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"network namespaces are required in CI: {reason}")
        pytest.skip(f"no network namespaces: {reason}")
    testnet = Testnet.create(HOSTS)
    yield testnet
    testnet.destroy()


@pytest.mark.timeout(600)
def test_three_hosts_roles_over_advertised_names(net: Testnet, tmp_path: Path) -> None:
    started: list[subprocess.Popen[bytes]] = []
    etcd: EtcdCluster | None = None
    try:
        devnet = DevnetProcess(
            tmp_path / "chain", 9000, 9123, netns=net.prefix("chain"), host=net.name("chain")
        )
        devnet.start()
        started.append(devnet.proc)
        assert str(devnet.deployment.grpc_endpoints[0]) == f"{net.name('chain')}:9000"

        members = []
        for host in ("e1", "e2", "e3"):
            folder = tmp_path / host
            folder.mkdir(mode=0o700)
            members.append(
                EtcdMember(host, 2379, 2380, folder, host=net.name(host), listen="0.0.0.0",
                           prefix=net.prefix(host))
            )  # fmt: skip
        etcd = EtcdCluster(members, tmp_path)
        etcd.start()
        assert etcd.all_url.startswith(f"etcd://{net.name('e1')}:2379,")

        env = {
            "K3S_DAAS_NAUTILUS_STORE_URL": etcd.all_url,
            "K3S_DAAS_NAUTILUS_DATA_KEY_FILE": str(tmp_path / "shared-data.key"),
            "K3S_DAAS_NAUTILUS_HEARTBEAT_INTERVAL": str(INTERVAL),
        }
        masters: dict[str, MasterProcess] = {}
        for host in ("m1", "m2"):
            data = tmp_path / host
            data.mkdir(mode=0o700)
            operator = SuiKeyPair.generate()
            operator.save(data / "operator.key")
            _fund(net, devnet, operator.address)  # the master's host has no faucet
            url = f"https://{net.name(host)}:{PORT}"
            masters[host] = MasterProcess(
                devnet, data, PORT, env, netns=net.prefix(host),
                args=("--host", "0.0.0.0", "--advertised-url", url, "--tls-san", host),
            )  # fmt: skip
        for master in masters.values():
            master.start()
            started.append(master.proc)
        m1, m2 = masters["m1"], masters["m2"]
        assert m1.url == f"https://{net.name('m1')}:{PORT}"
        cert = x509.load_pem_x509_certificate(Path(m1.info["cert_path"]).read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {"localhost", net.name("m1"), "m1"} <= set(names.get_values_for_type(x509.DNSName))

        folders: dict[str, Path] = {}
        procs: dict[str, subprocess.Popen[bytes]] = {}
        for i, host in enumerate(("w1", "w2", "w3"), start=1):
            key = SuiKeyPair.generate()
            (tmp_path / host).mkdir()
            key.save(tmp_path / host / "sui.key")
            _fund(net, devnet, key.address)
            endpoints = [m1.url, m2.url] if host == "w1" else None  # None: found on chain
            procs[host], folders[host] = start_worker(
                tmp_path, devnet, [], host, 1_000 * i, netns=net.prefix(host),
                nautilus_endpoint=endpoints, heartbeat_interval=INTERVAL,
            )  # fmt: skip
            started.append(procs[host])
        for host, folder in folders.items():
            wait_for(_settled(folder, procs[host]), 180)
            assert procs[host].poll() is None, (folder / "worker.log").read_text()[-2000:]
            assert state(folder)["master_url"] in (m1.url, m2.url)
        seen = _workers(net, m2)
        assert {seen[h]["status"] for h in ("w1", "w2", "w3")} == {"ready"}

        # kubectl on ops, through m1's advertised name, with w1's token.
        kubeconfig = tmp_path / "ops.kubeconfig"
        _run(net, "ops", CLI, "kubeconfig", "--master-url", m1.url, "--ca", m1.ca_path,
             "--worker-state", str(folders["w1"] / "state.json"), "-o", str(kubeconfig))  # fmt: skip
        kubectl = [str(VENV_BIN / "kubectl"), "--kubeconfig", str(kubeconfig)]
        nodes = json.loads(_run(net, "ops", *kubectl, "get", "nodes", "-o", "json"))
        assert {n["metadata"]["name"] for n in nodes["items"]} >= {"w1", "w2", "w3"}

        # Slash w2 on chain: it exits 3, both masters revoke it.
        _run(net, "chain", CLI, "devnet", "slash", "w2",
             "--deployment", str(devnet.data_dir / "devnet.json"))  # fmt: skip
        procs["w2"].wait(timeout=60)
        assert procs["w2"].returncode == 3
        assert state(folders["w2"])["reason"] == "stake_slashed"
        for master in (m1, m2):
            wait_for(_status_is(net, master, "w2", "revoked"), 30)

        # m1's cable pulled: its workers go on at m2 within one interval (+ the timeout).
        on_m1 = [h for h in ("w1", "w3") if state(folders[h])["master_url"] == m1.url]
        assert "w1" in on_m1  # w1 lists m1 first
        beats = {h: state(folders[h])["heartbeats"] for h in ("w1", "w3")}
        net.link_down("m1")
        pulled = time.monotonic()
        for host in on_m1:
            wait_for(_at(folders[host], m2.url), 30, 0.02)
        landed = time.monotonic() - pulled
        bound = INTERVAL * (1 + JITTER) + HEARTBEAT_TIMEOUT + SLACK
        assert landed <= bound, f"on m2 {landed:.2f} s after m1's link went down (> {bound})"
        for host in ("w1", "w3"):
            wait_for(_beat_after(folders[host], beats[host]), INTERVAL * (1 + JITTER) + SLACK)
            assert state(folders[host])["status"] == "ready"
        print(f"\nm1 link down -> workers on m2 after {landed:.2f} s (interval {INTERVAL} s)")

        # e1's cable pulled (the member the masters dial first): heartbeats, each a store
        # write, go on through e2/e3.
        before = {h: _workers(net, m2)[h]["heartbeats"] for h in ("w1", "w3")}
        net.link_down("e1")
        cut = time.monotonic()

        def written() -> bool:
            now = _workers(net, m2)
            return all(now[h]["heartbeats"] >= before[h] + 3 for h in ("w1", "w3"))

        wait_for(written, timeout=30, interval=0.5)
        print(
            f"e1 link down -> 3 more heartbeats stored per worker in {time.monotonic() - cut:.1f} s"
        )
        for host in ("w1", "w3"):
            assert procs[host].poll() is None
            assert _workers(net, m2)[host]["status"] == "ready"
        moved = f'"failed": "{net.name("e1")}:2379"'  # m2 was on e1 and left it
        assert moved in m2.log_path.read_text()
    finally:
        for proc in reversed(started):
            stop_process(proc)
        if etcd is not None:
            etcd.stop()
