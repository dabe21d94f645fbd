"""`chain import-publish` reads what `sui client publish --json` prints.

The fixture `tests/data/sui_client_publish.handwritten.json` is written by hand after the real
shape (MystenLabs/sui `crates/sui-json-rpc-types/src/object_changes.rs` `ObjectChange`,
serde-tagged by `type`, camelCase; the CLI prints `SuiClientCommandResult::TransactionBlock(
SuiTransactionBlockResponse)` untagged): a gas coin `mutated`, our three init objects and the
UpgradeCap `created`, one `published`. Framework types are short (`0x2::…`), ours are long.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.processes import CLI
from k3s_daas.chain import Deployment, PublishOutputError, parse_publish_output

FIXTURE = Path(__file__).parent.parent / "data" / "sui_client_publish.handwritten.json"
PACKAGE = "0x038a3f05a8bb9f265dc87631522f3e118d3fc9d7456c0a691f5d98b085c505e0"
POOL = "0x6adfa1007089ea0e2ba266fd25a9a2d91ba45503720f1b1baec6c5c8e1a33c70"
CONFIG = "0x1efe7e4eaef68428afef7057581a0457d73ca7e5a1b4baa06035ac38289d8c92"
CAP = "0x844c706da8325c4db8873f30c24c4e41ebb7ed942af85a2208bbed4958f70468"
PUBLISHER = "0x03ac3f5283e8dbe0ed452332eaa88aef1872c82dc7fdfdd48e1ca91672b32369"


def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text())
    return loaded


def parse(value: dict[str, Any]) -> Any:
    return parse_publish_output(json.dumps(value), "publish.json")


def test_the_fixture_yields_every_id() -> None:
    record = parse_publish_output(FIXTURE.read_text(), str(FIXTURE))
    assert (record.package_id, record.pool_id, record.enclave_config_id) == (PACKAGE, POOL, CONFIG)
    assert (record.admin_cap_id, record.admin_address) == (CAP, PUBLISHER)
    assert record.digest == "5Uv5GFSSoBERZedirFSJ55iCpSS4CYY8GKH45ksAWyGF"
    dep = record.deployment("4c78adac", ["https://fullnode.testnet.sui.io:443"])
    assert isinstance(dep, Deployment)
    assert (dep.package_id, dep.admin_cap_id, dep.chain_id) == (PACKAGE, CAP, "4c78adac")
    assert str(dep.grpc_endpoints[0]) == "https://fullnode.testnet.sui.io:443"


def test_build_lines_before_the_json_are_skipped() -> None:
    noisy = (
        "[note] Dependencies on Bridge, MoveStdlib, Sui, and SuiSystem are automatically added\n"
        "INCLUDING DEPENDENCY Sui\nBUILDING k3s_daas\nSkipping dependency verification\n"
        + FIXTURE.read_text()
        + "$ \n"
    )
    assert parse_publish_output(noisy).pool_id == POOL


def test_short_addresses_in_types_are_normalised() -> None:
    value = doc()
    short = PACKAGE.replace("0x0", "0x", 1)  # the package id has a leading zero digit
    for change in value["objectChanges"]:
        if change["type"] == "created" and PACKAGE in change.get("objectType", ""):
            change["objectType"] = change["objectType"].replace(PACKAGE, short)
    assert parse(value).enclave_config_id == CONFIG


def _without(kind: str, type_suffix: str = "") -> dict[str, Any]:
    value = doc()
    value["objectChanges"] = [
        c
        for c in value["objectChanges"]
        if not (c["type"] == kind and c.get("objectType", "").endswith(type_suffix))
    ]
    return value


def _with(path: tuple[str | int, ...], new: Any) -> dict[str, Any]:
    value = copy.deepcopy(doc())
    target: Any = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return value


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (_without("created", "::nautilus::EnclaveConfig"), "lacks the nautilus::EnclaveConfig"),
        (_without("created", "::staking::AdminCap"), "lacks the staking::AdminCap"),
        (_without("published"), "publishes 0 packages"),
        (_with(("objectChanges",), None), "no objectChanges"),
        ({"digest": "x", "effects": {}}, "no objectChanges"),
        (_with(("effects", "status"), {"status": "failure", "error": "InsufficientGas"}),
         "failed on chain: InsufficientGas"),
        (_with(("objectChanges", 5, "modules"), ["coin"]), "not k3s_daas"),
        (_with(("objectChanges", 1, "owner"), {"AddressOwner": PUBLISHER}),
         "owned AddressOwner, expected Shared"),
        (_with(("objectChanges", 5, "packageId"), "0xnothex"), "packageId is not a Sui id"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_our_publish_is_one_clear_error(
    value: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(PublishOutputError, match="publish") as info:
        parse(value)
    assert fragment in info.value.message
    assert "\n" not in info.value.message
    assert info.value.reason == "bad_publish_output"


@pytest.mark.parametrize("text", ["", "not json at all", "[1, 2]", '{"digest": '])
def test_non_json_is_refused(text: str) -> None:
    with pytest.raises(PublishOutputError, match=r"expected the JSON|JSON list"):
        parse_publish_output(text, "out.txt")


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60, input=stdin)


def test_import_publish_writes_the_deployment_file(tmp_path: Path) -> None:
    out = tmp_path / "deployment.json"
    args = ["chain", "import-publish", "--chain-id", "4c78adac", "-o", str(out),
            "--endpoint", "https://fullnode.testnet.sui.io:443", "--endpoint", "10.0.0.5:9000"]  # fmt: skip
    result = run(*args, str(FIXTURE))
    assert result.returncode == 0, result.stderr
    dep = Deployment.load(out)
    assert (dep.package_id, dep.pool_id, dep.enclave_config_id) == (PACKAGE, POOL, CONFIG)
    assert (dep.admin_cap_id, dep.chain_id) == (CAP, "4c78adac")
    assert [str(e) for e in dep.grpc_endpoints] == [
        "https://fullnode.testnet.sui.io:443",
        "10.0.0.5:9000",
    ]
    assert dep.admin_key_path is None and dep.attestation_ca_key_path is None
    assert PUBLISHER in result.stdout and "update-pcrs" in result.stdout
    again = run(*args, str(FIXTURE))  # never overwritten silently
    assert again.returncode == 1 and "--force" in again.stderr
    piped = run(*args, "--force", "-", stdin="BUILDING k3s_daas\n" + FIXTURE.read_text())
    assert piped.returncode == 0, piped.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"Measurements": {}}', "no objectChanges"),
        ("INCLUDING DEPENDENCY Sui\n", "is not JSON"),
    ],
)
def test_import_publish_bad_file_is_one_line(tmp_path: Path, content: str, fragment: str) -> None:
    bad = tmp_path / "publish.json"
    bad.write_text(content)
    result = run("chain", "import-publish", str(bad), "--chain-id", "x", "--endpoint", "h:1",
                 "-o", str(tmp_path / "d.json"))  # fmt: skip
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d.json").exists()
