"""`k3s_daas::k8s_gateway` in Python: Seal tokens (mint worker/user, rotate, revoke), tiers and
permissions, and the enclave assignment rule — as contracts/sources/k8s_gateway.move."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.package import staking
from k3s_daas.devnet.package.nautilus import pick_enclave
from k3s_daas.devnet.package.runtime import MoveAbort, Runtime, coin_value, type_of, u64
from k3s_daas.seal import constants as c
from k3s_daas.seal import permissions as seal_permissions
from k3s_daas.seal.encoding import b64decode, b64encode

MODULE = "k8s_gateway"


def _abort(function: str, code: int) -> MoveAbort:
    """The abort location is the Move function holding the `assert!`, as on Sui."""
    return MoveAbort(MODULE, function, code)


def permissions_for(pool: StoredObject, amount: int) -> list[str]:
    """`calculate_permissions`: the seed's tiers with the thresholds this pool holds."""
    return seal_permissions.permissions_for(amount, staking.pool_thresholds(pool))


def tier_of(pool: StoredObject, amount: int) -> int:
    """`tier_for`: the tier a stake reaches with this pool's thresholds; below the minimum
    stake, basic (the Move function has no "none")."""
    tier = seal_permissions.tier_for(amount, staking.pool_thresholds(pool))
    return int(seal_permissions.Tier.BASIC if tier is None else tier)


def calculate_permissions(_rt: Runtime, pool: StoredObject, amount: int) -> list[Any]:
    """Pure: the permissions a stake of `amount` grants."""
    return [permissions_for(pool, amount)]


def tier_for(_rt: Runtime, pool: StoredObject, amount: int) -> list[Any]:
    """Pure: the TEE tier a stake of `amount` is served by."""
    return [tier_of(pool, amount)]


def _check_record(rt: Runtime, pool: StoredObject, record: StoredObject) -> None:
    f = record.fields
    if rt.sender != f["staker"]:
        raise _abort("check_record", c.E_NOT_STAKER)
    if f["status"] != c.STATUS_ACTIVE:
        raise _abort("check_record", c.E_NOT_ACTIVE)
    if u64(f["balance"]["value"]) < u64(pool.fields["min_stake"]):
        raise _abort("check_record", c.E_INSUFFICIENT_STAKE)


def _mint(
    rt: Runtime,
    pool: StoredObject,
    config: StoredObject,
    record: StoredObject,
    token_hash: bytes,
    permissions: list[str],
) -> str:
    if len(token_hash) != c.TOKEN_HASH_LENGTH:
        raise _abort("mint", c.E_INVALID_TOKEN_HASH)
    balance = u64(record.fields["balance"]["value"])
    tier = tier_of(pool, balance)
    enclave = pick_enclave(config, tier)
    if enclave is None:
        raise _abort("mint", c.E_NO_ENCLAVE)
    expires = rt.epoch + u64(pool.fields["token_lifetime_epochs"])
    token = rt.new_object(
        type_of(rt, MODULE, "SealToken"),
        {
            "id": "",
            "token_hash": b64encode(token_hash),
            "owner": rt.sender,
            "node_id": record.fields["node_id"],
            "stake_record": record.object_id,
            "stake_amount": str(balance),
            "stake_type": record.fields["stake_type"],
            "permissions": permissions,
            "tier": tier,
            "issued_at": str(rt.epoch),
            "expires_at": str(expires),
            "enclave": enclave,
        },
        shared=False,
        owner=rt.sender,
    )
    rt.emit(
        MODULE,
        "SealTokenCreated",
        {
            "token_id": token.object_id,
            "stake_id": record.object_id,
            "owner": rt.sender,
            "node_id": record.fields["node_id"],
            "permissions": list(permissions),
            "tier": tier,
            "expires_at": str(expires),
            "enclave": enclave,
        },
    )
    return token.object_id


def _worker_token(
    rt: Runtime, pool: StoredObject, config: StoredObject, record: StoredObject, h: bytes
) -> str:
    _check_record(rt, pool, record)
    if record.fields["stake_type"] != c.STAKE_TYPE_NODE:
        raise _abort("create_worker_seal_token", c.E_NOT_NODE_STAKE)
    perms = permissions_for(pool, u64(record.fields["balance"]["value"]))
    return _mint(rt, pool, config, record, h, perms)


def create_worker_seal_token(
    rt: Runtime, pool: StoredObject, config: StoredObject, record: StoredObject, token_hash: bytes
) -> list[Any]:
    """Mint a kubelet token on the caller's own node stake; permissions follow the balance."""
    return [_worker_token(rt, pool, config, record, token_hash)]


def create_user_seal_token(
    rt: Runtime,
    pool: StoredObject,
    config: StoredObject,
    record: StoredObject,
    token_hash: bytes,
    requested: list[str],
) -> list[Any]:
    """Mint a kubectl token on the caller's own user stake: requested ∩ allowed."""
    fn = "create_user_seal_token"
    _check_record(rt, pool, record)
    if record.fields["stake_type"] != c.STAKE_TYPE_USER:
        raise _abort(fn, c.E_NOT_USER_STAKE)
    perms = seal_permissions.intersect_requested(
        requested, permissions_for(pool, u64(record.fields["balance"]["value"]))
    )
    if not perms:
        raise _abort(fn, c.E_NO_PERMISSIONS)
    return [_mint(rt, pool, config, record, token_hash, perms)]


def stake_and_create_worker_seal_token(
    rt: Runtime,
    pool: StoredObject,
    config: StoredObject,
    payment: StoredObject,
    node_id: str,
    token_hash: bytes,
) -> list[Any]:
    """Stake and mint in one call (the worker's one round trip). As in Move, the token is minted
    from the values just staked (the sender's own active node stake): no record check."""
    amount = coin_value(payment)
    record = staking.new_node_stake(rt, pool, payment, node_id)
    return [_mint(rt, pool, config, record, token_hash, permissions_for(pool, amount))]


def rotate_seal_token(
    rt: Runtime, token: StoredObject, pool: StoredObject, record: StoredObject, new_hash: bytes
) -> list[Any]:
    """New secret hash and a fresh lifetime; permissions recomputed from the balance."""
    fn = "rotate_seal_token"
    t = token.fields
    if rt.sender != t["owner"]:
        raise _abort(fn, c.E_NOT_TOKEN_OWNER)
    if t["stake_record"] != record.object_id:
        raise _abort(fn, c.E_WRONG_STAKE_RECORD)
    if record.fields["status"] != c.STATUS_ACTIVE:
        raise _abort(fn, c.E_NOT_ACTIVE)
    if len(new_hash) != c.TOKEN_HASH_LENGTH:
        raise _abort(fn, c.E_INVALID_TOKEN_HASH)
    balance = u64(record.fields["balance"]["value"])
    allowed = permissions_for(pool, balance)
    is_node = record.fields["stake_type"] == c.STAKE_TYPE_NODE
    t["permissions"] = (
        allowed if is_node else seal_permissions.intersect_requested(t["permissions"], allowed)
    )
    t["token_hash"] = b64encode(new_hash)
    t["stake_amount"] = str(balance)
    t["tier"] = tier_of(pool, balance)
    t["issued_at"] = str(rt.epoch)
    t["expires_at"] = str(rt.epoch + u64(pool.fields["token_lifetime_epochs"]))
    rt.emit(
        MODULE,
        "SealTokenRotated",
        {"token_id": token.object_id, "owner": t["owner"], "expires_at": t["expires_at"]},
    )
    return []


def revoke_seal_token(rt: Runtime, token: StoredObject) -> list[Any]:
    """The owner gives the token up; the object is deleted."""
    if rt.sender != token.fields["owner"]:
        raise _abort("revoke_seal_token", c.E_NOT_TOKEN_OWNER)
    rt.emit(
        MODULE,
        "SealTokenRevoked",
        {"token_id": token.object_id, "owner": token.fields["owner"]},
    )
    rt.delete(token)
    return []


def _field(name: str, kind: str) -> Callable[..., list[Any]]:
    def get(_rt: Runtime, token: StoredObject) -> list[Any]:
        value = token.fields[name]
        if kind == "u64" or kind == "u8":
            return [int(value)]
        if kind == "vector<u8>":
            return [b64decode(value)]
        return [list(value) if isinstance(value, list) else value]

    return get


SPEC: list[tuple[str, str, tuple[str, ...], Callable[..., list[Any]], str | None]] = [
    ("create_worker_seal_token", "ref:pool ref:config ref:record pure:vector<u8>", ("id",),
     create_worker_seal_token, "mutable"),
    ("create_user_seal_token",
     "ref:pool ref:config ref:record pure:vector<u8> pure:vector<string>", ("id",),
     create_user_seal_token, "mutable"),
    ("stake_and_create_worker_seal_token",
     "mut:pool ref:config val:coin pure:string pure:vector<u8>", ("id",),
     stake_and_create_worker_seal_token, "mutable"),
    ("rotate_seal_token", "mut:token ref:pool ref:record pure:vector<u8>", (),
     rotate_seal_token, "immutable"),
    ("revoke_seal_token", "val:token", (), revoke_seal_token, "immutable"),
    ("calculate_permissions", "ref:pool pure:u64", ("vector<string>",), calculate_permissions,
     None),
    ("tier_for", "ref:pool pure:u64", ("u8",), tier_for, None),
    ("token_hash", "ref:token", ("vector<u8>",), _field("token_hash", "vector<u8>"), None),
    ("owner", "ref:token", ("address",), _field("owner", "address"), None),
    ("permissions", "ref:token", ("vector<string>",), _field("permissions", "strs"), None),
    ("expires_at", "ref:token", ("u64",), _field("expires_at", "u64"), None),
    ("enclave", "ref:token", ("id",), _field("enclave", "id"), None),
    ("tier", "ref:token", ("u8",), _field("tier", "u8"), None),
    ("node_id", "ref:token", ("string",), _field("node_id", "string"), None),
    ("stake_record", "ref:token", ("id",), _field("stake_record", "id"), None),
    ("stake_amount", "ref:token", ("u64",), _field("stake_amount", "u64"), None),
    ("issued_at", "ref:token", ("u64",), _field("issued_at", "u64"), None),
]  # fmt: skip
