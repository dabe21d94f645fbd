"""Worker config: the seed's JSON keys, env overrides, one clear error per mistake."""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from pathlib import Path

import pytest

from k3s_daas.chain import SuiKeyPair
from k3s_daas.worker.config import WorkerConfig, WorkerConfigError
from k3s_daas.worker.state import WorkerState

SEED_KEYS = {
    "node_id": "worker-1",
    "sui_wallet_address": None,
    "sui_private_key": None,
    "sui_rpc_endpoint": "127.0.0.1:9000",
    "stake_amount": 1000,
    "contract_address": "0x2",
    "nautilus_endpoint": "https://127.0.0.1:8443",
    "container_runtime": "containerd",
    "min_stake_amount": 100,
}


@pytest.fixture
def key() -> SuiKeyPair:
    return SuiKeyPair.generate()


def write(tmp_path: Path, data: Mapping[str, object]) -> Path:
    path = tmp_path / "worker.json"
    path.write_text(json.dumps(data))
    return path


def test_seed_file_loads(tmp_path: Path, key: SuiKeyPair) -> None:
    data = {**SEED_KEYS, "sui_private_key": key.to_suiprivkey(), "sui_wallet_address": key.address}
    cfg = WorkerConfig.load(write(tmp_path, data))
    assert cfg.node_id == "worker-1"
    assert cfg.sui_rpc_endpoint == ["127.0.0.1:9000"]
    assert cfg.nautilus_endpoint == ["https://127.0.0.1:8443"]
    assert cfg.key().address == key.address
    assert key.to_suiprivkey() not in repr(cfg) or "sui_private_key" in repr(cfg)


def test_lists_and_env_override(
    tmp_path: Path, key: SuiKeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = {**SEED_KEYS, "sui_private_key": key.to_suiprivkey()}
    monkeypatch.setenv("K3S_DAAS_WORKER_NAUTILUS_ENDPOINT", "https://a:1,https://b:2")
    monkeypatch.setenv("K3S_DAAS_WORKER_STAKE_AMOUNT", "5000")
    cfg = WorkerConfig.load(write(tmp_path, data))
    assert cfg.nautilus_endpoint == ["https://a:1", "https://b:2"]
    assert cfg.stake_amount == 5000


def test_stake_amount_in_sui_or_mist(
    tmp_path: Path, key: SuiKeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = {**SEED_KEYS, "sui_private_key": key.to_suiprivkey(), "stake_amount": "1.5SUI"}
    assert WorkerConfig.load(write(tmp_path, data)).stake_amount == 1_500_000_000
    data["stake_amount"] = "2500MIST"
    assert WorkerConfig.load(write(tmp_path, data)).stake_amount == 2_500
    monkeypatch.setenv("K3S_DAAS_WORKER_STAKE_AMOUNT", "0.000003SUI")
    assert WorkerConfig.load(write(tmp_path, data)).stake_amount == 3_000


def test_mock_mode_env(tmp_path: Path, key: SuiKeyPair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCK_MODE", "true")
    cfg = WorkerConfig.load(write(tmp_path, {**SEED_KEYS, "sui_private_key": key.to_suiprivkey()}))
    assert cfg.mock_mode is True


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"node_id": "Worker_1"}, "node_id"),
        ({"node_id": "x" * 64}, "node_id"),
        ({"stake_amount": "lots"}, "stake_amount"),
        ({"stake_amount": 50}, "below min_stake_amount 0.0000001 SUI (100 MIST)"),
        ({"stake_amount": "1.5"}, "for SUI write 1.5SUI"),
        ({"stake_amount": "-1SUI"}, "must not have a sign"),
        ({"nautilus_endpoint": "http://127.0.0.1:1"}, "must be https"),
        ({"unknown_key": 1}, "unknown_key"),
        ({"sui_private_key": None}, "sui_key_file"),
    ],
)
def test_bad_config_is_one_clear_error(
    tmp_path: Path, key: SuiKeyPair, change: dict[str, object], fragment: str
) -> None:
    data = {**SEED_KEYS, "sui_private_key": key.to_suiprivkey(), **change}
    with pytest.raises(WorkerConfigError) as info:
        WorkerConfig.load(write(tmp_path, {k: v for k, v in data.items() if v is not None}))
    assert fragment in str(info.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(WorkerConfigError, match="not found"):
        WorkerConfig.load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(WorkerConfigError, match="not JSON"):
        WorkerConfig.load(bad)
    bad.write_text("[1]")
    with pytest.raises(WorkerConfigError, match="JSON object"):
        WorkerConfig.load(bad)


def test_wallet_address_must_match_key(tmp_path: Path, key: SuiKeyPair) -> None:
    other = SuiKeyPair.generate()
    data = {
        **SEED_KEYS,
        "sui_private_key": key.to_suiprivkey(),
        "sui_wallet_address": other.address,
    }
    cfg = WorkerConfig.load(write(tmp_path, data))
    with pytest.raises(WorkerConfigError, match="does not match"):
        cfg.key()


@pytest.mark.parametrize("scheme", ["ed25519", "secp256k1", "secp256r1"])
def test_keys_of_every_scheme(tmp_path: Path, scheme: str) -> None:
    key = SuiKeyPair.generate(scheme)
    key_file = tmp_path / "sui.key"
    key.save(key_file)
    inline = {
        **SEED_KEYS,
        "sui_private_key": key.to_suiprivkey(),
        "sui_wallet_address": key.address,
    }
    from_file = {**SEED_KEYS, "sui_key_file": str(key_file)}
    for data in (inline, from_file):
        loaded = WorkerConfig.load(write(tmp_path, data)).key()
        assert (loaded.scheme, loaded.address) == (scheme, key.address)


def test_bad_key_is_config_error(tmp_path: Path) -> None:
    cfg = WorkerConfig.load(write(tmp_path, {**SEED_KEYS, "sui_private_key": "suiprivkey1bad"}))
    with pytest.raises(WorkerConfigError, match="sui key"):
        cfg.key()


def test_state_file_is_0600_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "w" / "state.json"
    state = WorkerState(node_id="n", address="0x1", chain_id="c", package_id="0x2", token="seal_x")
    state.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert WorkerState.load(path) == state
    assert "seal_x" not in repr(state)
    assert WorkerState.load(tmp_path / "none.json") is None
