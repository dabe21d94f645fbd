"""The Sui CLI's wallet files, read to import a key: `sui.keystore` and `client.yaml`.

- `sui.keystore`: a JSON array of base64 strings, each flag ‖ 32-byte secret (sui-keys
  `FileBasedKeystore`); a key's address is derived from its public key.
- `client.yaml` in `$SUI_CONFIG_DIR` (default `~/.sui/sui_config`): `keystore: {File: <path>}`,
  `envs`, `active_env`, `active_address` (sui-sdk `SuiClientConfig`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from k3s_daas.chain.keys import SuiKeyPair, normalize_address
from k3s_daas.chain.schemes import KeyError_

CLIENT_YAML = "client.yaml"
SUI_CONFIG_ENV = "SUI_CONFIG_DIR"


class WalletError(KeyError_):
    """A Sui wallet file that cannot be read, or holds no key for the address asked."""

    reason = "bad_wallet"


@dataclass(frozen=True)
class Keystore:
    """The keys of a `sui.keystore` file; `unreadable` counts entries of no local scheme."""

    path: Path
    keys: tuple[SuiKeyPair, ...]
    unreadable: int = 0

    @classmethod
    def load(cls, path: Path) -> Keystore:
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WalletError(f"keystore {path} not found") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise WalletError(
                f"keystore {path} is not a JSON file ({exc.__class__.__name__})"
            ) from None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise WalletError(f"keystore {path} must hold a JSON array of base64 strings")
        keys: list[SuiKeyPair] = []
        for entry in entries:
            try:
                keys.append(SuiKeyPair.from_keystore(entry))
            except KeyError_:
                continue
        return cls(path, tuple(keys), len(entries) - len(keys))

    def pick(self, address: str | None) -> SuiKeyPair:
        """The key of `address`; without one, the only key the keystore holds."""
        held = ", ".join(k.address for k in self.keys) or "none"
        skipped = (
            f" ({self.unreadable} entries of other schemes skipped)" if self.unreadable else ""
        )
        if address is None:
            if len(self.keys) == 1:
                return self.keys[0]
            raise WalletError(
                f"keystore {self.path} holds {len(self.keys)} keys{skipped}; "
                f"pick one with --address (addresses: {held})"
            )
        wanted = normalize_address(address)
        for key in self.keys:
            if key.address == wanted:
                return key
        raise WalletError(f"keystore {self.path} holds no key for {wanted}{skipped}")


def sui_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$SUI_CONFIG_DIR`, else `~/.sui/sui_config` (where the Sui CLI keeps client.yaml)."""
    env = os.environ if environ is None else environ
    configured = env.get(SUI_CONFIG_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".sui" / "sui_config"


@dataclass(frozen=True)
class SuiClientConfig:
    """The parts of the Sui CLI's `client.yaml` an import needs."""

    path: Path
    keystore: Path
    active_address: str | None
    active_env: str | None

    @classmethod
    def load(cls, config_dir: Path | None = None) -> SuiClientConfig:
        path = (config_dir or sui_config_dir()) / CLIENT_YAML
        try:
            data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WalletError(f"no Sui client config at {path} (set {SUI_CONFIG_ENV})") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise WalletError(f"{path} is not YAML ({exc.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise WalletError(f"{path} must hold a mapping")
        store = data.get("keystore")
        file = store.get("File") if isinstance(store, dict) else None
        if not isinstance(file, str) or not file:
            raise WalletError(f"{path}: `keystore` is not a file keystore ({{File: <path>}})")
        keystore = Path(file).expanduser()
        if not keystore.is_absolute():
            keystore = path.parent / keystore
        active = data.get("active_address")
        if isinstance(active, int) and not isinstance(active, bool):
            active = f"0x{active:064x}"  # an unquoted 0x… reads as a YAML 1.1 hex integer
        env = data.get("active_env")
        return cls(path, keystore, str(active) if active else None, str(env) if env else None)

    def key(self, address: str | None = None) -> SuiKeyPair:
        """The key of `address`, else of the active address, from the configured keystore."""
        wanted = address or self.active_address
        if wanted is None:
            raise WalletError(f"{self.path} has no active_address; give --address")
        return Keystore.load(self.keystore).pick(wanted)


def looks_like_keystore(text: str) -> bool:
    """A JSON array (a keystore file) rather than a single key string."""
    return text.lstrip().startswith("[")


__all__ = [
    "CLIENT_YAML",
    "SUI_CONFIG_ENV",
    "Keystore",
    "SuiClientConfig",
    "WalletError",
    "looks_like_keystore",
    "sui_config_dir",
]
