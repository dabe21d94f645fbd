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
