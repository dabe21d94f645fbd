"""Fixed ids and chain constants of the embedded devnet (documented in docs/devnet.md).

Sui's own names (0x1, 0x2, the SUI coin type, type normalisation) live in `seal.sui`.
"""

from __future__ import annotations

import hashlib
from typing import Final

from k3s_daas.chain import CLOCK_ID

#: The `k3s_daas` package lives at a fixed id so devnet.json is predictable across re-geneses.
PACKAGE_ID: Final = "0x" + hashlib.sha256(b"k3s-daas devnet package k3s_daas").hexdigest()
CLOCK: Final = CLOCK_ID
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
