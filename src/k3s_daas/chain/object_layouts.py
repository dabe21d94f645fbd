"""Our package's objects read from their Move BCS, into the fields `chain.views` parses.

A verified read (`chain.verified`) proves an object's BCS bytes, never a node's JSON rendering;
the bytes are decoded here, in Move field order, into the same shapes a full node's
`Object.json` has (docs/protocol.md §2): u64 and `Balance<T>` as decimal strings, ids and
addresses as `0x` + 64 hex, `vector<u8>` as base64, a `Table` as `{"id", "size"}`. So the views
stay the one place that checks fields, whichever way the object was read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

from k3s_daas.chain.certified import bcs
from k3s_daas.seal.encoding import b64encode
from k3s_daas.seal.sui import normalize_address

_Read = Callable[[bcs.Reader], Any]


def _table(reader: bcs.Reader) -> dict[str, str]:
    return {"id": reader.address(), "size": str(reader.u64())}


#: Move field kinds, as spelled in the Move sources, and how each reads into its JSON shape.
_KINDS: Final[dict[str, _Read]] = {
    "UID": lambda r: {"id": r.address()},
    "ID": lambda r: r.address(),
    "address": lambda r: r.address(),
    "String": lambda r: r.string(),
    "u8": lambda r: r.u8(),
    "u64": lambda r: str(r.u64()),
    "Balance": lambda r: str(r.u64()),
    "vector<u8>": lambda r: b64encode(r.byte_vector()),
    "vector<String>": lambda r: list(r.vector(r.string)),
    "Table": _table,
}

#: (module, struct) -> fields in declaration order (contracts/sources; a unit test compares).
OBJECT_LAYOUTS: Final[dict[tuple[str, str], tuple[tuple[str, str], ...]]] = {
    (module, name): tuple(tuple(item.split(":", 1)) for item in spec.split())  # type: ignore[misc]
    for module, name, spec in (
        (
            "k8s_gateway",
            "SealToken",
            "id:UID token_hash:vector<u8> owner:address node_id:String stake_record:ID "
            "stake_amount:u64 stake_type:u8 permissions:vector<String> tier:u8 issued_at:u64 "
            "expires_at:u64 enclave:ID",
        ),
        (
            "staking",
            "StakeRecord",
            "id:UID pool:ID staker:address node_id:String stake_type:u8 balance:Balance "
            "amount:u64 status:u8 staked_epoch:u64 unbonding_epoch:u64",
        ),
        (
            "staking",
            "StakingPool",
            "id:UID min_stake:u64 standard_threshold:u64 premium_threshold:u64 "
            "token_lifetime_epochs:u64 unbonding_epochs:u64 total_staked:u64 slashed:Balance "
            "node_stakes:Table",
        ),
    )
}


@lru_cache(maxsize=16)
def _layouts_for(package_id: str) -> dict[str, tuple[tuple[str, str], ...]]:
    package_id = normalize_address(package_id)
    return {f"{package_id}::{m}::{n}": fields for (m, n), fields in OBJECT_LAYOUTS.items()}


def object_fields(type_base: str, contents: bytes, package_id: str) -> dict[str, Any] | None:
    """The fields of one of `package_id`'s objects (`type_base` = `address::module::Name`,
    normalised), decoded from its Move contents; None for any other type. Bytes that do not
    follow the layout raise `bcs.BcsError`."""
    layout = _layouts_for(package_id).get(type_base)
    if layout is None:
        return None
    reader = bcs.Reader(contents)
    out = {name: _KINDS[kind](reader) for name, kind in layout}
    reader.finish(type_base)
    return out


__all__ = ["OBJECT_LAYOUTS", "object_fields"]
