"""BCS of the package's structs and events, from their JSON rendering (docs/protocol.md §2).

Field order is the Move struct's field order; `Object.bcs`/`contents` and `Event.contents` are
served from here, so a client decoding with the real Move layouts reads the same values. A bottom
module: it knows field kinds and bytes only, so the object model can use it without a cycle.
"""

from __future__ import annotations

from typing import Any

from k3s_daas.seal.encoding import b64decode, canonical_json, uleb128

_ADDR, _U8, _U64, _BYTES, _STR, _STRS, _IDS, _BAL, _TABLE = (
    "address", "u8", "u64", "bytes", "string", "strings", "ids", "balance", "table",
)  # fmt: skip

# "<module>::<Struct>": "field:kind ..." in struct order.
_SPECS = {
    "coin::Coin": "id:address balance:balance",
    "clock::Clock": "id:address timestamp_ms:u64",
    "staking::AdminCap": "id:address",
    "staking::StakingPool": "id:address min_stake:u64 standard_threshold:u64 "
    "premium_threshold:u64 token_lifetime_epochs:u64 unbonding_epochs:u64 total_staked:u64 "
    "slashed:balance node_stakes:table",
    "staking::StakeRecord": "id:address pool:address staker:address node_id:string "
    "stake_type:u8 balance:balance amount:u64 status:u8 staked_epoch:u64 unbonding_epoch:u64",
    "k8s_gateway::SealToken": "id:address token_hash:bytes owner:address node_id:string "
    "stake_record:address stake_amount:u64 stake_type:u8 permissions:strings tier:u8 "
    "issued_at:u64 expires_at:u64 enclave:address",
    "nautilus::EnclaveConfig": "id:address pcr0:bytes pcr1:bytes pcr2:bytes version:u64 "
    "basic:ids standard:ids premium:ids",
    "nautilus::Enclave": "id:address operator:address endpoint:string tier:u8 public_key:bytes "
    "pcr0:bytes pcr1:bytes pcr2:bytes config_version:u64 registered_at_ms:u64",
    "staking::StakeCreated": "stake_id:address staker:address node_id:string stake_type:u8 "
    "amount:u64",
    "staking::UnstakeRequested": "stake_id:address staker:address node_id:string "
    "unbonding_epoch:u64",
    "staking::StakeWithdrawn": "stake_id:address staker:address amount:u64",
    "staking::StakeSlashed": "stake_id:address staker:address node_id:string amount:u64 "
    "remaining:u64",
    "k8s_gateway::SealTokenCreated": "token_id:address stake_id:address owner:address "
    "node_id:string permissions:strings tier:u8 expires_at:u64 enclave:address",
    "k8s_gateway::SealTokenRotated": "token_id:address owner:address expires_at:u64",
    "k8s_gateway::SealTokenRevoked": "token_id:address owner:address",
    "nautilus::EnclaveRegistered": "enclave_id:address operator:address tier:u8 "
    "endpoint:string public_key:bytes",
    "nautilus::EnclaveUpdated": "enclave_id:address public_key:bytes",
    "nautilus::PcrsUpdated": "version:u64",
}

#: "<module>::<Struct>" -> [(field, kind)] in struct order.
LAYOUTS: dict[str, list[tuple[str, str]]] = {
    name: [(item.split(":")[0], item.split(":")[1]) for item in spec.split()]
    for name, spec in _SPECS.items()
}


def _vec(data: bytes) -> bytes:
    return uleb128(len(data)) + data


def _encode(kind: str, value: Any) -> bytes:
    if kind == _ADDR:
        return bytes.fromhex(str(value).removeprefix("0x").rjust(64, "0"))
    if kind == _U8:
        return int(value).to_bytes(1, "little")
    if kind == _U64:
        return int(value).to_bytes(8, "little")
    if kind == _BYTES:
        return _vec(b64decode(str(value)))
    if kind == _STR:
        return _vec(str(value).encode())
    if kind == _STRS:
        return uleb128(len(value)) + b"".join(_vec(str(v).encode()) for v in value)
    if kind == _IDS:
        return uleb128(len(value)) + b"".join(_encode(_ADDR, v) for v in value)
    if kind == _BAL:
        return int(value["value"] if isinstance(value, dict) else value).to_bytes(8, "little")
    # Table<K, V>: UID + size
    return _encode(_ADDR, value["id"]) + int(value["size"]).to_bytes(8, "little")


def _layout(type_: str) -> list[tuple[str, str]] | None:
    head = type_.split("<", 1)[0]
    return LAYOUTS.get("::".join(head.split("::")[-2:]))


def struct_bcs(type_: str, fields: dict[str, Any]) -> bytes:
    """BCS of a Move struct from its JSON rendering (unknown types: canonical JSON bytes)."""
    layout = _layout(type_)
    if layout is None:
        return canonical_json(fields)
    return b"".join(_encode(kind, fields[name]) for name, kind in layout)


def move_json(type_: str, fields: dict[str, Any]) -> dict[str, Any]:
    """`Object.json` as a Sui full node renders it: a `Balance<T>` field is the plain decimal
    string of its value, not `{"value": ...}` (the stored form the executor works on)."""
    layout = _layout(type_)
    if layout is None:
        return fields
    out = dict(fields)
    for name, kind in layout:
        value = out.get(name)
        if kind == _BAL and isinstance(value, dict):
            out[name] = str(value["value"])
    return out
