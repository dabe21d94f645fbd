"""`k3s-daas keys`: keys of every scheme, and imports from a `sui.keystore` file and from the Sui
CLI's own config (`--from-sui-config`, `SUI_CONFIG_DIR` honoured), each mistake one line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.processes import CLI
from k3s_daas.chain import SuiKeyPair
from tests.fixtures.sui_wallet import client_yaml, write_keystore

SCHEMES = ("ed25519", "secp256k1", "secp256r1")


def run(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=60, input=stdin,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr


@pytest.mark.parametrize("scheme", SCHEMES)
def test_new_with_a_scheme(tmp_path: Path, scheme: str) -> None:
    made = run("keys", "new", "-o", str(tmp_path / "k.key"), "--scheme", scheme, "--json")
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    key = SuiKeyPair.load(tmp_path / "k.key")
    assert (info["scheme"], info["address"]) == (scheme, key.address) and key.scheme == scheme
    shown = run("keys", "show", str(tmp_path / "k.key"))
    assert f"scheme       {scheme}" in shown.stdout


def test_new_refuses_an_unknown_scheme(tmp_path: Path) -> None:
    one_line_error(
        run("keys", "new", "-o", str(tmp_path / "k.key"), "--scheme", "bls12381"), "unknown key"
    )
    assert not (tmp_path / "k.key").exists()


def test_import_suiprivkey_of_each_scheme_from_stdin(tmp_path: Path) -> None:
    for scheme in SCHEMES:
        key = SuiKeyPair.generate(scheme)
        out = tmp_path / f"{scheme}.key"
        result = run("keys", "import", "-o", str(out), "--json", stdin=key.to_suiprivkey() + "\n")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["scheme"] == scheme
        assert SuiKeyPair.load(out).address == key.address
        assert key.to_suiprivkey() not in result.stdout


def test_import_from_a_keystore_file(tmp_path: Path) -> None:
    keys = [SuiKeyPair.generate(s) for s in SCHEMES]
    keystore = write_keystore(tmp_path / "sui.keystore", keys)
    out = tmp_path / "picked.key"
    result = run("keys", "import", "-o", str(out), "--from-file", str(keystore),
                 "--address", keys[1].address)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (SuiKeyPair.load(out).scheme, SuiKeyPair.load(out).address) == (
        "secp256k1", keys[1].address
    )  # fmt: skip
    stranger = SuiKeyPair.generate().address
    one_line_error(
        run(
            "keys",
            "import",
            "-o",
            str(tmp_path / "x.key"),
            "--from-file",
            str(keystore),
            "--address",
            stranger,
        ),
        f"holds no key for {stranger}",
    )
    one_line_error(
        run("keys", "import", "-o", str(tmp_path / "x.key"), "--from-file", str(keystore)),
        "pick one with --address",
    )
    assert not (tmp_path / "x.key").exists()


def test_import_from_sui_config(tmp_path: Path) -> None:
    keys = [SuiKeyPair.generate(s) for s in SCHEMES]
    config_dir = tmp_path / "sui_config"
    config_dir.mkdir()
    keystore = write_keystore(config_dir / "sui.keystore", keys)
    (config_dir / "client.yaml").write_text(client_yaml(keystore, keys[2].address))
    env = {"SUI_CONFIG_DIR": str(config_dir)}
    out = tmp_path / "active.key"
    result = run("keys", "import", "-o", str(out), "--from-sui-config", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["address"] == keys[2].address
    assert SuiKeyPair.load(out).scheme == "secp256r1"
    other = run("keys", "import", "-o", str(tmp_path / "o.key"), "--from-sui-config",
                "--address", keys[0].address, env=env)  # fmt: skip
    assert other.returncode == 0 and SuiKeyPair.load(tmp_path / "o.key").scheme == "ed25519"
    one_line_error(
        run(
            "keys",
            "import",
            "-o",
            str(tmp_path / "n.key"),
            "--from-sui-config",
            env={"SUI_CONFIG_DIR": str(tmp_path / "none")},
        ),
        "no Sui client config",
    )
