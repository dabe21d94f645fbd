"""`k3s_daas::staking` in Python: stakes, unbonding, withdrawal, slashing, pool thresholds.

Mirrors contracts/sources/staking.move check by check (same order, same abort codes from
`seal.constants`, same events); `node_stakes` (Table<String, ID>) lives in the ledger's table
entries, reached through the Runtime.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.package.runtime import MoveAbort, Runtime, coin_value, type_of, u64
from k3s_daas.seal import constants as c
from k3s_daas.seal.permissions import StakeThresholds
from k3s_daas.seal.sui import COIN_SUI_TYPE

MODULE = "staking"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _abort(function: str, code: int) -> MoveAbort:
    """The abort location is the Move function holding the `assert!`, as on Sui."""
    return MoveAbort(MODULE, function, code)


def pool_thresholds(pool: StoredObject) -> StakeThresholds:
    """The tier thresholds a `StakingPool` holds now (`set_thresholds` may have changed them)."""
    f = pool.fields
    return StakeThresholds(
        u64(f["min_stake"]), u64(f["standard_threshold"]), u64(f["premium_threshold"])
    )


def is_dns_label(node_id: str) -> bool:
    """`is_dns_label` of the Move module: lower-case alnum and inner '-', 1..63 bytes."""
    return len(node_id.encode()) <= c.MAX_NODE_ID_LENGTH and bool(_DNS_LABEL.fullmatch(node_id))


def _share_new_stake(
    rt: Runtime, pool: StoredObject, payment: StoredObject, node_id: str, kind: int
) -> StoredObject:
    amount = coin_value(payment)
    if amount < u64(pool.fields["min_stake"]):
        raise _abort("share_new_stake", c.E_INSUFFICIENT_STAKE)
    pool.fields["total_staked"] = str(u64(pool.fields["total_staked"]) + amount)
    rt.delete(payment)  # coin::into_balance: the Coin's UID is deleted
    record = rt.new_object(
        type_of(rt, MODULE, "StakeRecord"),
        {
            "id": "",
            "pool": pool.object_id,
            "staker": rt.sender,
            "node_id": node_id,
            "stake_type": kind,
            "balance": {"value": str(amount)},
            "amount": str(amount),
            "status": c.STATUS_ACTIVE,
            "staked_epoch": str(rt.epoch),
            "unbonding_epoch": "0",
        },
        shared=True,
    )
    rt.emit(
        MODULE,
        "StakeCreated",
        {
            "stake_id": record.object_id,
            "staker": rt.sender,
            "node_id": node_id,
            "stake_type": kind,
            "amount": str(amount),
        },
    )
    return record


def new_node_stake(
    rt: Runtime, pool: StoredObject, payment: StoredObject, node_id: str
) -> StoredObject:
    """`public(package) new_node_stake`: the shared record (Move returns its ID); also used by
    `stake_and_create_worker_seal_token`."""
    if not is_dns_label(node_id):
        raise _abort("new_node_stake", c.E_INVALID_NODE_ID)
    table = pool.fields["node_stakes"]
    if rt.table_get(table["id"], node_id) is not None:
        raise _abort("new_node_stake", c.E_NODE_ALREADY_STAKED)
    record = _share_new_stake(rt, pool, payment, node_id, c.STAKE_TYPE_NODE)
    rt.table_set(table["id"], node_id, record.object_id)
    table["size"] = str(u64(table["size"]) + 1)
    return record


def stake_for_node(
    rt: Runtime, pool: StoredObject, payment: StoredObject, node_id: str
) -> list[Any]:
    """Stake for a worker node; one live stake per node id. Returns the record's ID."""
    return [new_node_stake(rt, pool, payment, node_id).object_id]


def stake_for_user(rt: Runtime, pool: StoredObject, payment: StoredObject) -> list[Any]:
    """Stake for a kubectl user (empty node id). Returns the record's ID."""
    record = _share_new_stake(rt, pool, payment, "", c.STAKE_TYPE_USER)
    return [record.object_id]


def _free_node_id(rt: Runtime, pool: StoredObject, record: StoredObject) -> None:
    if record.fields["stake_type"] != c.STAKE_TYPE_NODE:
        return
    table = pool.fields["node_stakes"]
    if rt.table_get(table["id"], record.fields["node_id"]) == record.object_id:
        rt.table_set(table["id"], record.fields["node_id"], None)
        table["size"] = str(u64(table["size"]) - 1)


def request_unstake(rt: Runtime, pool: StoredObject, record: StoredObject) -> list[Any]:
    """Start unbonding; the node id is freed at once."""
    f = record.fields
    if rt.sender != f["staker"]:
        raise _abort("request_unstake", c.E_NOT_STAKER)
    if f["status"] != c.STATUS_ACTIVE:
        raise _abort("request_unstake", c.E_NOT_ACTIVE)
    f["status"] = c.STATUS_WITHDRAWING
    f["unbonding_epoch"] = str(rt.epoch + u64(pool.fields["unbonding_epochs"]))
    _free_node_id(rt, pool, record)
    rt.emit(
        MODULE,
        "UnstakeRequested",
        {
            "stake_id": record.object_id,
            "staker": f["staker"],
            "node_id": f["node_id"],
            "unbonding_epoch": f["unbonding_epoch"],
        },
    )
    return []


def withdraw(rt: Runtime, pool: StoredObject, record: StoredObject) -> list[Any]:
    """The remaining balance goes back to the staker as a new Coin<SUI>: after unbonding (the
    stake becomes WITHDRAWN), or at once for what a slash left (the stake stays SLASHED)."""
    f = record.fields
    if rt.sender != f["staker"]:
        raise _abort("withdraw", c.E_NOT_STAKER)
    if f["status"] == c.STATUS_SLASHED:
        if u64(f["balance"]["value"]) == 0:
            raise _abort("withdraw", c.E_NOTHING_TO_WITHDRAW)
    else:
        if f["status"] != c.STATUS_WITHDRAWING:
            raise _abort("withdraw", c.E_NOT_WITHDRAWING)
        if rt.epoch < u64(f["unbonding_epoch"]):
            raise _abort("withdraw", c.E_UNBONDING_NOT_OVER)
        f["status"] = c.STATUS_WITHDRAWN
    amount = u64(f["balance"]["value"])
    pool.fields["total_staked"] = str(u64(pool.fields["total_staked"]) - amount)
    f["balance"] = {"value": "0"}
    rt.new_object(
        COIN_SUI_TYPE,
        {"id": "", "balance": {"value": str(amount)}},
        shared=False,
        owner=f["staker"],
    )
    rt.emit(
        MODULE,
        "StakeWithdrawn",
        {"stake_id": record.object_id, "staker": f["staker"], "amount": str(amount)},
    )
    return []


def slash(
    rt: Runtime, _cap: StoredObject, pool: StoredObject, record: StoredObject, amount: int
) -> list[Any]:
    """AdminCap: move `amount` (0 = all) into `pool.slashed`; the stake is revoked at once and for
    good (one slash per stake; the staker may then withdraw the remainder at once)."""
    f = record.fields
    if f["status"] in (c.STATUS_SLASHED, c.STATUS_WITHDRAWN):
        raise _abort("slash", c.E_NOT_ACTIVE)
    available = u64(f["balance"]["value"])
    take = available if amount == 0 else amount
    if take > available:
        raise _abort("slash", c.E_SLASH_TOO_LARGE)
    slashed = pool.fields["slashed"]
    slashed["value"] = str(u64(slashed["value"]) + take)
    f["balance"] = {"value": str(available - take)}
    pool.fields["total_staked"] = str(u64(pool.fields["total_staked"]) - take)
    f["status"] = c.STATUS_SLASHED
    _free_node_id(rt, pool, record)
    rt.emit(
        MODULE,
        "StakeSlashed",
        {
            "stake_id": record.object_id,
            "staker": f["staker"],
            "node_id": f["node_id"],
            "amount": str(take),
            "remaining": str(available - take),
        },
    )
    return []


def set_thresholds(
    rt: Runtime, _cap: StoredObject, pool: StoredObject, low: int, standard: int, premium: int
) -> list[Any]:
    """AdminCap: new tier thresholds; 0 < min <= standard <= premium."""
    if not 0 < low <= standard <= premium:
        raise _abort("set_thresholds", c.E_INVALID_THRESHOLDS)
    pool.fields.update(
        min_stake=str(low), standard_threshold=str(standard), premium_threshold=str(premium)
    )
    return []


def node_stake(rt: Runtime, pool: StoredObject, node_id: str) -> list[Any]:
    """`Option<ID>` of the live node stake for `node_id` (None = option::none)."""
    return [rt.table_get(pool.fields["node_stakes"]["id"], node_id)]


def _field(name: str, kind: str) -> Callable[..., list[Any]]:
    """An accessor `fun name(obj: &T): kind { obj.name }` over the JSON rendering."""

    def get(_rt: Runtime, obj: StoredObject) -> list[Any]:
        value = obj.fields[name]
        if isinstance(value, dict):  # Balance<SUI>
            value = value["value"]
        return [int(value) if kind in ("u8", "u64") else value]

    return get


def _is(field: str, expected: int) -> Callable[..., list[Any]]:
    def check(_rt: Runtime, obj: StoredObject) -> list[Any]:
        return [obj.fields[field] == expected]

    return check


#: (function, parameters, returns, implementation, TxContext reference) — see package.__init__.
SPEC: list[tuple[str, str, tuple[str, ...], Callable[..., list[Any]], str | None]] = [
    ("stake_for_node", "mut:pool val:coin pure:string", ("id",), stake_for_node, "mutable"),
    ("stake_for_user", "mut:pool val:coin", ("id",), stake_for_user, "mutable"),
    ("request_unstake", "mut:pool mut:record", (), request_unstake, "immutable"),
    ("withdraw", "mut:pool mut:record", (), withdraw, "mutable"),
    ("slash", "ref:cap mut:pool mut:record pure:u64", (), slash, "immutable"),
    ("set_thresholds", "ref:cap mut:pool pure:u64 pure:u64 pure:u64", (), set_thresholds, None),
    ("min_stake", "ref:pool", ("u64",), _field("min_stake", "u64"), None),
    ("standard_threshold", "ref:pool", ("u64",), _field("standard_threshold", "u64"), None),
    ("premium_threshold", "ref:pool", ("u64",), _field("premium_threshold", "u64"), None),
    ("token_lifetime_epochs", "ref:pool", ("u64",), _field("token_lifetime_epochs", "u64"), None),
    ("unbonding_epochs", "ref:pool", ("u64",), _field("unbonding_epochs", "u64"), None),
    ("total_staked", "ref:pool", ("u64",), _field("total_staked", "u64"), None),
    ("slashed_value", "ref:pool", ("u64",), _field("slashed", "u64"), None),
    ("node_stake", "ref:pool pure:string", ("option<id>",), node_stake, None),
    ("staker", "ref:record", ("address",), _field("staker", "address"), None),
    ("node_id", "ref:record", ("string",), _field("node_id", "string"), None),
    ("stake_type", "ref:record", ("u8",), _field("stake_type", "u8"), None),
    ("balance_value", "ref:record", ("u64",), _field("balance", "u64"), None),
    ("amount", "ref:record", ("u64",), _field("amount", "u64"), None),
    ("status", "ref:record", ("u8",), _field("status", "u8"), None),
    ("is_active", "ref:record", ("bool",), _is("status", c.STATUS_ACTIVE), None),
    ("is_node", "ref:record", ("bool",), _is("stake_type", c.STAKE_TYPE_NODE), None),
    ("is_user", "ref:record", ("bool",), _is("stake_type", c.STAKE_TYPE_USER), None),
    ("unbonding_epoch", "ref:record", ("u64",), _field("unbonding_epoch", "u64"), None),
]
