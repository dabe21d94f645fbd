"""The operator path to a real network, rehearsed on the devnet.

Genesis publishes the package as `sui client publish` does (EnclaveConfig with empty PCRs,
version 0; the project's `nautilus::init`). `devnet start` then pins the simulated enclave's
PCRs in a separate transaction signed by the admin; `--publish-only` stops before that, and
there a master refuses to start (one line naming `k3s-daas chain update-pcrs`) until the
operator has run `chain import-publish` on the publish record and `chain update-pcrs`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from grpclib.client import Channel
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess
from harness.processes import CLI, free_port, port_open, stop_process, wait_for
from k3s_daas.attestation import simulated_pcrs
from k3s_daas.chain import ChainClient, Deployment, K3sDaasPackage, parse_publish_output

NEXT_STEP = "k3s-daas chain update-pcrs"


def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"K3S_DAAS_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=90, env=env)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def start_master(deployment: Path, data: Path, port: int) -> subprocess.Popen[bytes]:
    log = (data.parent / f"{data.name}.log").open("ab")
    proc = subprocess.Popen(
        [CLI, "nautilus", "start", "--deployment", str(deployment), "--data", str(data),
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={"K3S_DAAS_HOME": str(data.parent),
                                                   "K3S_DAAS_LOG_JSON": "true"},
    )  # fmt: skip
    log.close()
    return proc


@pytest.fixture
def publish_only(tmp_path: Path) -> Iterator[DevnetProcess]:
    node = DevnetProcess(tmp_path / "devnet", free_port(), free_port(), ("--publish-only",))
    node.start()
    yield node
    node.stop()


async def read_config(dep: Deployment) -> tuple[int, dict[int, bytes], tuple[str, ...]]:
    async with ChainClient.from_deployment(dep) as client:
        config = await K3sDaasPackage(client, dep).get_enclave_config()
    return config.version, config.pcrs, config.basic


def measurements_file(path: Path, pcrs: dict[int, bytes]) -> Path:
    """What `nitro-cli describe-eif` prints, for the simulated enclave's image."""
    hexes = {f"PCR{i}": pcrs[i].hex() for i in (0, 1, 2)}
    measurements = {"HashAlgorithm": "Sha384 { ... }", **hexes}
    document = {"EifVersion": 4, "Measurements": measurements, "IsSigned": False}
    path.write_text(json.dumps(document, indent=2))
    return path


async def test_fresh_publish_then_import_update_pcrs_and_register(
    publish_only: DevnetProcess, tmp_path: Path
) -> None:
    devnet = publish_only
    home = tmp_path / "home"
    version, pcrs, _ = await read_config(devnet.deployment)
    assert version == 0 and pcrs == {0: b"", 1: b"", 2: b""}

    # Before update-pcrs a master refuses to start, in one line naming the next step.
    refused = run("nautilus", "start", "--deployment", str(devnet.data_dir / "devnet.json"),
                  "--data", str(tmp_path / "refused"), "--port", str(free_port()), home=home)  # fmt: skip
    line = one_line(refused)
    assert "no PCRs yet (version 0" in line and "E_PCR_MISMATCH" in line and NEXT_STEP in line

    # chain import-publish: the devnet's publish record -> a deployment file (chain id asked).
    attestation = devnet.data_dir / "attestation"
    dep_path = tmp_path / "deployment.json"
    imported = run(
        "chain", "import-publish", str(devnet.data_dir / "publish.json"),
        "--endpoint", devnet.grpc_target, "-o", str(dep_path), "--faucet-url", devnet.faucet_url,
        "--attestation-root", str(attestation / "attestation-root.pem"),
        "--attestation-ca-key", str(attestation / "attestation-root.key"), home=home,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    dep = Deployment.load(dep_path)
    want = devnet.deployment
    assert (dep.chain_id, dep.package_id, dep.pool_id) == (
        want.chain_id, want.package_id, want.pool_id)  # fmt: skip
    assert (dep.enclave_config_id, dep.admin_cap_id) == (want.enclave_config_id, want.admin_cap_id)
    assert dep.admin_key_path is None  # the admin key never goes into the shared file

    # chain update-pcrs: the wrong key is refused before anything is signed.
    other = tmp_path / "other.key"
    assert run("keys", "new", "-o", str(other), home=home).returncode == 0
    measured = measurements_file(tmp_path / "describe-eif.json", simulated_pcrs())
    update = ["chain", "update-pcrs", "--deployment", str(dep_path),
              "--from-measurements", str(measured), "--json"]  # fmt: skip
    line = one_line(run(*update, "--admin-key", str(other), home=home))
    assert "is owned by " + devnet.admin_key.address in line and "(not_admin)" in line
    assert (await read_config(dep))[0] == 0

    pinned = run(*update, "--admin-key", str(devnet.data_dir / "admin.key"), home=home)
    assert pinned.returncode == 0, pinned.stderr
    answer = json.loads(pinned.stdout)
    assert (answer["version"], answer["sent"]) == (1, True)
    assert answer["pcr0"] == simulated_pcrs()[0].hex()
    version, pcrs, _ = await read_config(dep)
    assert version == 1 and pcrs == {i: simulated_pcrs()[i] for i in (0, 1, 2)}

    # The master, reading the imported deployment, now registers its enclave.
    data, port = tmp_path / "master", free_port()
    master = start_master(dep_path, data, port)
    try:
        wait_for(
            lambda: master.poll() is None and (data / "nautilus.json").exists() and port_open(port),
            timeout=60,
        )
        enclave_id = json.loads((data / "nautilus.json").read_text())["enclave_id"]
    finally:
        stop_process(master)
    assert enclave_id in (await read_config(dep))[2]


def test_update_pcrs_without_a_source_off_the_devnet_is_one_line(tmp_path: Path) -> None:
    """A deployment without a dev CA has no default PCRs: the operator names the image's."""
    fixture = Path(__file__).parent.parent / "data" / "sui_client_publish.handwritten.json"
    dep = tmp_path / "testnet.json"
    made = run("chain", "import-publish", str(fixture), "--chain-id", "4c78adac", "-o", str(dep),
               "--endpoint", "https://fullnode.testnet.sui.io:443", home=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    line = one_line(run("chain", "update-pcrs", "--deployment", str(dep), home=tmp_path))
    assert "--from-measurements" in line and "nitro-cli describe-eif" in line
    line = one_line(run("chain", "update-pcrs", "--deployment", str(dep), "--pcr0", "ab",
                        home=tmp_path))  # fmt: skip
    assert "all three of --pcr0, --pcr1 and --pcr2" in line


def mask(*paths: str) -> FieldMask:
    return FieldMask(paths=list(paths))


async def test_devnet_start_pins_pcrs_in_a_separate_signed_transaction(
    devnet: DevnetProcess,
) -> None:
    dep = devnet.deployment
    version, pcrs, _ = await read_config(dep)
    assert version == 1 and pcrs == {i: simulated_pcrs()[i] for i in (0, 1, 2)}

    channel = Channel(devnet.grpc_host, devnet.grpc_port)
    try:
        ledger = v2.LedgerServiceStub(channel)
        # genesis (checkpoint 0) left the config as a publish does: empty PCRs, version 0
        at_genesis = await ledger.get_object(
            v2.GetObjectRequest(object_id=dep.enclave_config_id, version=1, read_mask=mask("json"))
        )
        assert at_genesis.object is not None and at_genesis.object.json is not None
        fields = at_genesis.object.json.to_dict()
        assert (fields["version"], fields["pcr0"]) == ("0", "")
        # checkpoint 1: update_pcrs, a programmable transaction the admin signed
        checkpoint = (await ledger.get_checkpoint(v2.GetCheckpointRequest(
            sequence_number=1, read_mask=mask("transactions.digest")))).checkpoint  # fmt: skip
        assert checkpoint is not None and len(checkpoint.transactions) == 1
        tx = (await ledger.get_transaction(v2.GetTransactionRequest(
            digest=checkpoint.transactions[0].digest,
            read_mask=mask("transaction", "signatures", "events")))).transaction  # fmt: skip
    finally:
        channel.close()
    assert tx is not None and tx.transaction is not None
    assert tx.transaction.sender == devnet.admin_key.address
    assert len(tx.signatures) == 1
    assert tx.events is not None
    assert [e.event_type for e in tx.events.events] == [dep.type_of("nautilus", "PcrsUpdated")]

    # publish.json is that genesis publish, in the CLI's shape; the ids are devnet.json's
    record = parse_publish_output((devnet.data_dir / "publish.json").read_text())
    assert (record.package_id, record.enclave_config_id, record.admin_address) == (
        dep.package_id, dep.enclave_config_id, devnet.admin_key.address)  # fmt: skip

    # idempotent: a restart pins nothing new (no transaction writes the config again; the
    # devnet's idle heartbeats move the tip, so the tip proves nothing here)
    async with ChainClient.from_deployment(dep) as client:
        before = await client.get_object(dep.enclave_config_id)
    devnet.restart()
    async with ChainClient.from_deployment(devnet.deployment) as client:
        after = await client.get_object(dep.enclave_config_id)
    assert before is not None and after is not None and after.version == before.version


def test_import_publish_checks_the_node_holds_the_publish(
    devnet: DevnetProcess, tmp_path: Path
) -> None:
    """Without --chain-id the node is asked, and a publish from another network is refused."""
    fixture = Path(__file__).parent.parent / "data" / "sui_client_publish.handwritten.json"
    out = tmp_path / "d.json"
    line = one_line(run("chain", "import-publish", str(fixture), "--endpoint", devnet.grpc_target,
                        "-o", str(out), home=tmp_path))  # fmt: skip
    assert "not found on " + devnet.grpc_target in line and "network of the publish" in line
    assert not out.exists()
