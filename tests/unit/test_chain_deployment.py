"""devnet.json's endpoints are parsed when the file is loaded (a bad one is reported there, naming
the field), written back as the same text, and an operator's override is parsed the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k3s_daas.chain import ChainError, Deployment, DeploymentError, Endpoint

IDS = {
    "chain_id": "k3s-daas-devnet",
    "package_id": "0x" + "0d" * 32,
    "pool_id": "0x" + "01" * 32,
    "enclave_config_id": "0x" + "02" * 32,
}


def write(path: Path, endpoints: object) -> Path:
    path.write_text(json.dumps({**IDS, "grpc_endpoints": endpoints}), encoding="utf-8")
    return path


def test_endpoints_are_typed_once_loaded_and_saved_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "devnet.json", ["127.0.0.1:9000", "https://fullnode.example"])
    dep = Deployment.load(path)
    assert dep.grpc_endpoints == [
        Endpoint("127.0.0.1", 9000, False),
        Endpoint("fullnode.example", 443, True),
    ]
    dep.save(tmp_path / "copy.json")
    saved = json.loads((tmp_path / "copy.json").read_text(encoding="utf-8"))
    assert saved["grpc_endpoints"] == ["127.0.0.1:9000", "https://fullnode.example:443"]
    assert Deployment.load(tmp_path / "copy.json") == dep


@pytest.mark.parametrize(
    ("endpoints", "needle"),
    [
        (["127.0.0.1"], "grpc_endpoints.0: endpoint '127.0.0.1' needs a port"),
        (["ok:1", "ftp://x:1"], "grpc_endpoints.1: bad endpoint 'ftp://x:1'"),
        ([], "grpc_endpoints: List should have at least 1 item"),
        ([7], "grpc_endpoints.0: an endpoint is host:port"),
    ],
)
def test_a_bad_endpoint_is_reported_at_load(
    tmp_path: Path, endpoints: list[object], needle: str
) -> None:
    path = write(tmp_path / "devnet.json", endpoints)
    with pytest.raises(DeploymentError) as err:
        Deployment.load(path)
    assert err.value.reason == "bad_deployment"
    assert err.value.message.startswith(f"{path}: {needle}")


def test_override_replaces_the_endpoints_and_is_parsed_there(tmp_path: Path) -> None:
    dep = Deployment.load(write(tmp_path / "devnet.json", ["127.0.0.1:9000"]))
    assert dep.with_endpoints([]) is dep
    assert dep.with_endpoints(None) is dep
    moved = dep.with_endpoints(["[::1]:9001", "grpcs://node:8443"])
    assert moved.grpc_endpoints == [Endpoint("::1", 9001, False), Endpoint("node", 8443, True)]
    assert [str(e) for e in moved.grpc_endpoints] == ["[::1]:9001", "https://node:8443"]
    assert moved.package_id == dep.package_id
    with pytest.raises(ChainError) as err:
        dep.with_endpoints(["127.0.0.1:9000", "nope"])
    assert err.value.reason == "bad_endpoint"
    assert Endpoint.parse(str(moved.grpc_endpoints[0])) == moved.grpc_endpoints[0]


KEY = "8c66dc2c" + "00" * 92  # 96 bytes of hex (the format only; never decoded as a point here)


def test_the_anchor_committee_is_checked_at_load_and_sorted_by_key(tmp_path: Path) -> None:
    members = [
        {"public_key": "ff" * 96, "weight": 5000},
        {"public_key": "0x" + "AA" * 96, "weight": 5000},
    ]
    path = tmp_path / "devnet.json"
    body = {
        **IDS,
        "grpc_endpoints": ["127.0.0.1:9000"],
        "committee": {"epoch": 3, "members": members},
    }
    path.write_text(json.dumps(body), encoding="utf-8")
    dep = Deployment.load(path)
    assert dep.committee is not None
    committee = dep.committee.committee()
    assert committee.epoch == 3
    assert [m.public_key for m in committee.members] == [bytes([0xAA]) * 96, bytes([0xFF]) * 96]
    assert committee.total_stake == 10_000
    dep.save(tmp_path / "copy.json")
    assert Deployment.load(tmp_path / "copy.json") == dep
    bare = Deployment.load(write(tmp_path / "none.json", ["127.0.0.1:1"]))
    assert bare.committee is None  # optional: a deployment without an anchor still loads


@pytest.mark.parametrize(
    ("committee", "needle"),
    [
        ({"epoch": 0, "members": [{"public_key": "ab" * 48, "weight": 1}]}, "96 bytes"),
        ({"epoch": 0, "members": [{"public_key": "zz" * 96, "weight": 1}]}, "is hex"),
        ({"epoch": 0, "members": [{"public_key": KEY, "weight": 0}]}, "greater than 0"),
        ({"epoch": 0, "members": []}, "at least 1 item"),
        (
            {"epoch": 0, "members": [{"public_key": KEY, "weight": 1}] * 2},
            "appears twice",
        ),
    ],
)
def test_a_bad_anchor_is_one_line_naming_the_field(
    tmp_path: Path, committee: dict[str, object], needle: str
) -> None:
    path = tmp_path / "devnet.json"
    body = {**IDS, "grpc_endpoints": ["127.0.0.1:9000"], "committee": committee}
    path.write_text(json.dumps(body), encoding="utf-8")
    with pytest.raises(DeploymentError) as err:
        Deployment.load(path)
    assert "\n" not in err.value.message
    assert err.value.message.startswith(f"{path}: committee")
    assert needle in err.value.message
