"""The devnet's simplified digests: base58(blake2b-256(salt ‖ canonical JSON)).

Sui hashes the BCS of a structure under a salt naming its type; the devnet hashes canonical JSON
instead (effects, events, checkpoints, system transactions), which is stable and easy to check.
"""

from __future__ import annotations

from typing import Any

import base58

from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.sui import blake2b256


def salted_digest(salt: bytes, payload: Any) -> str:
    """base58(blake2b-256(salt ‖ canonical JSON of `payload`))."""
    return str(base58.b58encode(blake2b256(salt + canonical_json(payload))).decode())
