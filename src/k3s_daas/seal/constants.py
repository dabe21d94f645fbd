"""Constants shared by the Move package, the devnet's native package and the master.

`tests/unit/test_move_contracts.py` holds the values in `contracts/sources/*.move` equal to these,
so the Python side and the contract can never drift apart.
"""

from __future__ import annotations

from typing import Final

# --- Pool settings (defaults at genesis; on chain they live in `StakingPool`) -------------------
MIN_STAKE: Final = 100  # MIST: below this nothing is granted (basic tier threshold)
STANDARD_THRESHOLD: Final = 1_000  # MIST: adds nodes:write, pods:write; standard TEE
PREMIUM_THRESHOLD: Final = 10_000  # MIST: adds *:*; premium TEE
TOKEN_LIFETIME_EPOCHS: Final = 100  # a token minted in epoch e expires at e + 100 (seed)
UNBONDING_EPOCHS: Final = 2  # request_unstake -> withdraw allowed this many epochs later

# --- Stake types and statuses (u8 on chain) ----------------------------------------------------
STAKE_TYPE_NODE: Final = 0
STAKE_TYPE_USER: Final = 1

STATUS_ACTIVE: Final = 0
STATUS_WITHDRAWING: Final = 1
STATUS_SLASHED: Final = 2
STATUS_WITHDRAWN: Final = 3

# --- TEE tiers (u8 on chain) -------------------------------------------------------------------
TIER_BASIC: Final = 0
TIER_STANDARD: Final = 1
TIER_PREMIUM: Final = 2

# --- Token secret -----------------------------------------------------------------------------
TOKEN_HASH_LENGTH: Final = 32  # SHA-256 of the 32-byte secret
PCR_LENGTH: Final = 48  # SHA-384
ENCLAVE_KEY_LENGTH: Final = 32  # Ed25519 public key

# --- Abort codes (unique across the package; the Move location names the module too) ---------
# staking
E_INSUFFICIENT_STAKE: Final = 1
E_NOT_STAKER: Final = 2
E_NOT_ACTIVE: Final = 3
E_NOT_WITHDRAWING: Final = 4
E_UNBONDING_NOT_OVER: Final = 5
E_INVALID_NODE_ID: Final = 6
E_NODE_ALREADY_STAKED: Final = 7
E_SLASH_TOO_LARGE: Final = 8
E_INVALID_THRESHOLDS: Final = 9
E_NOTHING_TO_WITHDRAW: Final = 10  # a slashed stake whose remainder is already paid out
# k8s_gateway
E_NOT_NODE_STAKE: Final = 101
E_NOT_USER_STAKE: Final = 102
E_INVALID_TOKEN_HASH: Final = 103
E_NO_PERMISSIONS: Final = 104
E_NOT_TOKEN_OWNER: Final = 105
E_WRONG_STAKE_RECORD: Final = 106
E_NO_ENCLAVE: Final = 107
# nautilus
E_PCR_MISMATCH: Final = 201
E_INVALID_TIER: Final = 202
E_INVALID_PUBLIC_KEY: Final = 203
E_NOT_OPERATOR: Final = 204
E_INVALID_PCR_LENGTH: Final = 205
E_INVALID_ENDPOINT: Final = 206
E_INVALID_ATTESTATION: Final = 207

MAX_NODE_ID_LENGTH: Final = 63  # a DNS label: it becomes a Kubernetes Node name
MAX_ENDPOINT_LENGTH: Final = 256

ABORT_NAMES: Final[dict[int, str]] = {
    value: name
    for name, value in dict(globals()).items()
    if name.startswith("E_") and isinstance(value, int)
}
