"""The Seal token domain: pure Python, no I/O (token format, tiers, permissions, claims)."""

from k3s_daas.seal.claims import Claims
from k3s_daas.seal.errors import K3sDaasError, PermissionFormatError, TokenFormatError
from k3s_daas.seal.permissions import (
    DEFAULT_THRESHOLDS,
    StakeThresholds,
    Tier,
    allows,
    intersect_requested,
    permissions_for,
    tier_for,
)
from k3s_daas.seal.token import (
    SealToken,
    commitment_matches,
    format_token,
    new_secret,
    normalize_object_id,
    parse_token,
    secret_commitment,
    token_fingerprint,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Claims",
    "K3sDaasError",
    "PermissionFormatError",
    "SealToken",
    "StakeThresholds",
    "Tier",
    "TokenFormatError",
    "allows",
    "commitment_matches",
    "format_token",
    "intersect_requested",
    "new_secret",
    "normalize_object_id",
    "parse_token",
    "permissions_for",
    "secret_commitment",
    "tier_for",
    "token_fingerprint",
]
