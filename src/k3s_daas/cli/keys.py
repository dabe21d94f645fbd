"""`k3s-daas keys new|show|import`: Sui key files of any local scheme (suiprivkey form, mode 0600).

`import` takes a `suiprivkey1…` or keystore-base64 key (from a file or standard input, never an
argument: shells log those), a whole `sui.keystore` file (`--address` picks the key), or the
Sui CLI's own wallet (`--from-sui-config`: the active address of client.yaml).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import typer

from k3s_daas.chain import SCHEME_NAMES, SuiKeyPair
from k3s_daas.chain.keys import normalize_address
from k3s_daas.chain.wallet import Keystore, SuiClientConfig, looks_like_keystore, sui_config_dir
from k3s_daas.cli._common import console, fail, handle_errors
from k3s_daas.cli.options import HomeOpt, JsonOpt, option, output_option
from k3s_daas.settings import Settings

app = typer.Typer(no_args_is_help=True)


def _default_path(name: str) -> Path:
    """`<home>/keys/NAME.key`, its directory private (0700) like ~/.ssh."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        fail(f"key name {name[:40]!r}: use letters, digits, '.', '_' and '-' (or -o FILE)")
    keys_dir = Settings().keys_dir
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    return keys_dir / f"{name}.key"


def _describe(key: SuiKeyPair, path: Path, as_json: bool, show_private: bool) -> None:
    info = {
        "path": str(path),
        "scheme": key.scheme,
        "address": key.address,
        "public_key": key.public_key.hex(),
    }
    if show_private:
        info["private_key"] = key.to_suiprivkey()
    if as_json:
        console.print_json(json.dumps(info))
    else:
        for field, value in info.items():
            console.print(f"{field:12} {value}", highlight=False)


@app.command("new")
@handle_errors
def new(
    name: str = option(
        "default", "--name", env="KEYS_NEW_NAME", help="Key name (file <home>/keys/NAME.key)."
    ),
    output: Path | None = output_option(
        "KEYS_NEW", "Write the key to this file instead.", default="<home>/keys/NAME.key"
    ),
    scheme: str = option(
        "ed25519",
        "--scheme",
        env="KEYS_NEW_SCHEME",
        help=f"Signature scheme: {' | '.join(SCHEME_NAMES)}.",
    ),
    force: bool = option(
        False, "--force", env="KEYS_NEW_FORCE", help="Overwrite an existing key file."
    ),
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Create a key and save it (mode 0600). The private key is not printed."""
    path = output or _default_path(name)
    if path.exists() and not force:
        fail(f"{path} exists; use --force to overwrite it")
    key = SuiKeyPair.generate(scheme)
    key.save(path)
    _describe(key, path, as_json, show_private=False)


@app.command("show")
@handle_errors
def show(
    path: Path = typer.Argument(..., help="Key file."),
    show_private: bool = option(
        False,
        "--show-private-key",
        env="KEYS_SHOW_PRIVATE_KEY",
        help="Also print the private key (suiprivkey1...).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Print the scheme, address and public key of a key file."""
    if not path.exists():
        fail(f"no key at {path}: create one with `k3s-daas keys new -o {path}`")
    _describe(SuiKeyPair.load(path), path, as_json, show_private)


def _read_key(from_file: Path | None, address: str | None, from_sui_config: bool) -> SuiKeyPair:
    """The key to import, from whichever source was named."""
    if from_sui_config:
        if from_file is not None:
            fail("give --from-file or --from-sui-config, not both")
        return SuiClientConfig.load(sui_config_dir()).key(address)
    if from_file is not None:
        text = from_file.read_text(encoding="utf-8")
    else:
        text = typer.get_text_stream("stdin").read()
    if not text.strip():
        fail("no key given on standard input")
    if looks_like_keystore(text):
        if from_file is None:
            fail("a keystore file must be given with --from-file")
        return Keystore.load(from_file).pick(address)
    key = SuiKeyPair.from_string(text)
    if address is not None and key.address != normalize_address(address):
        fail(f"the key's address is {key.address}, not {address}")
    return key


@app.command("import")
@handle_errors
def import_(
    output: Path = output_option(
        "KEYS_IMPORT", "Where to save the key (mode 0600).", required=True
    ),
    from_file: Path | None = option(
        None,
        "--from-file",
        env="KEYS_IMPORT_FROM_FILE",
        show_default="standard input",
        help="Read the key from a file: suiprivkey1..., keystore base64, or a sui.keystore file.",
    ),
    address: str | None = option(
        None,
        "--address",
        env="KEYS_IMPORT_ADDRESS",
        show_default="the only or active one",
        help="With a sui.keystore or the Sui config: the key of this address.",
    ),
    from_sui_config: bool = option(
        False,
        "--from-sui-config",
        env="KEYS_IMPORT_FROM_SUI_CONFIG",
        help="Import the active address's key of the Sui CLI (client.yaml in $SUI_CONFIG_DIR, "
        "default ~/.sui/sui_config).",
    ),
    force: bool = option(
        False, "--force", env="KEYS_IMPORT_FORCE", help="Overwrite an existing key file."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Import a key of any scheme; the private key never comes from an argument."""
    if output.exists() and not force:
        fail(f"{output} exists; use --force to overwrite it")
    key = _read_key(from_file, address, from_sui_config)
    key.save(output)
    _describe(key, output, as_json, show_private=False)
