"""Fixed ids and chain constants of the embedded devnet (documented in docs/devnet.md)."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from k3s_daas.chain.deployment import CLOCK_ID

#: The `k3s_daas` package lives at a fixed id so devnet.json is predictable across re-geneses.
PACKAGE_ID: Final = "0x" + hashlib.sha256(b"k3s-daas devnet package k3s_daas").hexdigest()
SUI_FRAMEWORK: Final = "0x" + "2".rjust(64, "0")
MOVE_STDLIB: Final = "0x" + "1".rjust(64, "0")
CLOCK: Final = CLOCK_ID
SUI_TYPE: Final = f"{SUI_FRAMEWORK}::sui::SUI"
COIN_SUI_TYPE: Final = f"{SUI_FRAMEWORK}::coin::Coin<{SUI_TYPE}>"
DEVNET_JSON: Final = "devnet.json"
CHAIN_NAME: Final = "k3s-daas-devnet"
SERVER_NAME: Final = "k3s-daas-devnet"
REFERENCE_GAS_PRICE: Final = 1000
PROTOCOL_VERSION: Final = 1
#: Genesis funds the admin with this many coins of this many MIST each (1,000 SUI each).
ADMIN_COINS: Final = 5
ADMIN_COIN_MIST: Final = 1_000 * 1_000_000_000
#: Faucet: default and maximum grant per request (MIST).
FAUCET_DEFAULT_MIST: Final = 10 * 1_000_000_000
FAUCET_MAX_MIST: Final = 100 * 1_000_000_000

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{1,64}(?![0-9a-fA-F])")


def normalize_type(type_text: str) -> str:
    """Pad every address in a Move type to 64 hex digits: `0x2::sui::SUI` -> `0x00…02::sui::SUI`."""
    return _HEX_ADDRESS.sub(
        lambda m: "0x" + m.group(0)[2:].lower().rjust(64, "0"), type_text.strip()
    )
