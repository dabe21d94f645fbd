"""The Sui CLI's wallet files, in the formats the Sui CLI writes: `sui.keystore` (a JSON array of
base64 flag ‖ secret strings) and `client.yaml` (`keystore: {File: ...}`, `active_address`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from k3s_daas.chain.keys import SuiKeyPair
from k3s_daas.chain.wallet import Keystore, SuiClientConfig, WalletError, sui_config_dir
from tests.fixtures.sui_wallet import client_yaml, write_keystore

SCHEMES = ("ed25519", "secp256k1", "secp256r1")


@pytest.fixture
def keys() -> list[SuiKeyPair]:
    return [SuiKeyPair.generate(s) for s in SCHEMES]


def test_keystore_keys_of_every_scheme_picked_by_address(
    tmp_path: Path, keys: list[SuiKeyPair]
) -> None:
    # A BLS entry (flag 0x04) is not a wallet key: skipped, and counted in the messages.
    bls = "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    store = Keystore.load(write_keystore(tmp_path / "sui.keystore", keys, [bls]))
    assert [k.scheme for k in store.keys] == list(SCHEMES) and store.unreadable == 1
    for key in keys:
        picked = store.pick(key.address.upper().replace("0X", "0x"))
        assert (picked.scheme, picked.address) == (key.scheme, key.address)
    with pytest.raises(WalletError, match="pick one with --address"):
        store.pick(None)
    stranger = SuiKeyPair.generate().address
    with pytest.raises(WalletError, match=f"no key for {stranger}.*1 entries of other schemes"):
        store.pick(stranger)


def test_a_keystore_of_one_key_needs_no_address(tmp_path: Path, keys: list[SuiKeyPair]) -> None:
    store = Keystore.load(write_keystore(tmp_path / "sui.keystore", keys[1:2]))
    assert store.pick(None).address == keys[1].address


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json", "not a JSON file"), ('{"a": 1}', "JSON array"), ("[1, 2]", "JSON array")],
)
def test_bad_keystore_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "sui.keystore"
    path.write_text(content)
    with pytest.raises(WalletError, match=message):
        Keystore.load(path)
    with pytest.raises(WalletError, match="not found"):
        Keystore.load(tmp_path / "absent.keystore")


@pytest.mark.parametrize("quoted", [True, False])
def test_client_yaml_active_address_and_keystore(
    tmp_path: Path, keys: list[SuiKeyPair], quoted: bool
) -> None:
    keystore = write_keystore(tmp_path / "sui.keystore", keys)
    (tmp_path / "client.yaml").write_text(client_yaml(keystore, keys[2].address, quoted=quoted))
    config = SuiClientConfig.load(tmp_path)
    assert (config.keystore, config.active_env) == (keystore, "testnet")
    assert config.active_address == keys[2].address
    assert config.key().address == keys[2].address  # the active address
    assert config.key(keys[0].address).scheme == "ed25519"  # --address overrides it


def test_client_yaml_relative_keystore_and_errors(tmp_path: Path, keys: list[SuiKeyPair]) -> None:
    write_keystore(tmp_path / "sui.keystore", keys)
    (tmp_path / "client.yaml").write_text(client_yaml(Path("sui.keystore"), keys[0].address))
    assert SuiClientConfig.load(tmp_path).key().address == keys[0].address
    (tmp_path / "client.yaml").write_text("keystore:\n  InMem: {}\nactive_address: ~\n")
    with pytest.raises(WalletError, match="not a file keystore"):
        SuiClientConfig.load(tmp_path)
    with pytest.raises(WalletError, match="no Sui client config"):
        SuiClientConfig.load(tmp_path / "nowhere")
    (tmp_path / "client.yaml").write_text(
        client_yaml(tmp_path / "sui.keystore", "x").replace('active_address: "x"', "")
    )
    with pytest.raises(WalletError, match="no active_address"):
        SuiClientConfig.load(tmp_path).key()


def test_sui_config_dir_honours_the_environment(tmp_path: Path) -> None:
    assert sui_config_dir({"SUI_CONFIG_DIR": str(tmp_path)}) == tmp_path
    assert sui_config_dir({}) == Path.home() / ".sui" / "sui_config"
