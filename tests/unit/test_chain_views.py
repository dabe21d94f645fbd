"""Typed views from Object.json: u64 decimal strings, base64 bytes, exact type checks (a
look-alike struct from another package is refused) and fail-closed parsing."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from k3s_daas.chain import (
    EnclaveConfigView,
    EnclaveView,
    MalformedObject,
    ObjectData,
    SealTokenView,
    StakeRecordView,
    StakingPoolView,
    WrongObjectType,
)
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.sui import normalize_type

PKG = "0x" + "0d" * 32
OTHER = "0x" + "0e" * 32
A = "0x" + "aa" * 32
B = "0x" + "bb" * 32


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def obj(type_: str, fields: dict[str, Any], *, shared: bool = False) -> ObjectData:
    return ObjectData(
        object_id=A,
        version=9,
        type=type_,
        owner=None if shared else B,
        shared=shared,
        fields=fields,
        initial_shared_version=3 if shared else None,
    )


TOKEN = {
    "id": A,
    "token_hash": b64(b"\x01" * 32),
    "owner": B,
    "node_id": "node-1",
    "stake_record": B,
    "stake_amount": "18446744073709551615",  # u64 max survives (a double would not)
    "stake_type": 0,
    "permissions": ["pods:read", "services:read"],
    "tier": 2,
    "issued_at": "4",
    "expires_at": "104",
    "enclave": A,
}
RECORD = {
    "id": A,
    "pool": B,
    "staker": B,
    "node_id": "",
    "stake_type": 1,
    "balance": "500",  # Balance<SUI>: its value, as a string
    "amount": "1000",
    "status": 2,
    "staked_epoch": "1",
    "unbonding_epoch": "0",
}
POOL = {
    "id": A,
    "min_stake": "100",
    "standard_threshold": "1000",
    "premium_threshold": "10000",
    "token_lifetime_epochs": "100",
    "unbonding_epochs": "2",
    "total_staked": "0",
    "slashed": "7",
    "node_stakes": {"id": B, "size": "3"},
}
CONFIG = {
    "id": A,
    "pcr0": b64(b"\x00" * 48),
    "pcr1": b64(b"\x01" * 48),
    "pcr2": b64(b"\x02" * 48),
    "version": "5",
    "basic": [A],
    "standard": [],
    "premium": [B, A],
}
ENCLAVE = {
    "id": A,
    "operator": B,
    "endpoint": "https://master:8443",
    "tier": 1,
    "public_key": b64(b"\x09" * 32),
    "pcr0": b64(b"\x00" * 48),
    "pcr1": b64(b"\x01" * 48),
    "pcr2": b64(b"\x02" * 48),
    "config_version": "5",
    "registered_at_ms": "1700000000000",
}


def test_seal_token_view() -> None:
    view = SealTokenView.from_object(obj(f"{PKG}::k8s_gateway::SealToken", TOKEN), PKG)
    assert view.stake_amount == 2**64 - 1
    assert view.token_hash == b"\x01" * 32
    assert view.tier is Tier.PREMIUM
    assert view.permissions == ("pods:read", "services:read")
    assert (view.issued_at, view.expires_at) == (4, 104)
    assert view.is_node_token
    assert not view.is_expired(103)
    assert view.is_expired(104)


def test_stake_record_pool_config_enclave_views() -> None:
    record = StakeRecordView.from_object(
        obj(f"{PKG}::staking::StakeRecord", RECORD, shared=True), PKG
    )
    assert (record.balance, record.amount, record.status_name) == (500, 1000, "slashed")
    assert not record.is_active
    assert record.initial_shared_version == 3
    pool = StakingPoolView.from_object(obj(f"{PKG}::staking::StakingPool", POOL), PKG)
    assert pool.thresholds.standard == 1000
    assert (pool.slashed, pool.node_stakes_table, pool.node_stakes_size) == (7, B, 3)
    config = EnclaveConfigView.from_object(obj(f"{PKG}::nautilus::EnclaveConfig", CONFIG), PKG)
    assert config.version == 5
    assert config.pcrs[1] == b"\x01" * 48
    assert config.enclaves(Tier.PREMIUM) == (B, A)
    enclave = EnclaveView.from_object(obj(f"{PKG}::nautilus::Enclave", ENCLAVE), PKG)
    assert enclave.tier is Tier.STANDARD
    assert enclave.public_key == b"\x09" * 32
    assert enclave.registered_at_ms == 1_700_000_000_000


def test_short_addresses_in_types_are_normalised() -> None:
    short_pkg = "0xd"
    view = SealTokenView.from_object(obj("0xd::k8s_gateway::SealToken", TOKEN), short_pkg)
    assert view.id == A
    assert normalize_type("0x2::coin::Coin<0x2::sui::SUI>") == (
        f"0x{'2':0>64}::coin::Coin<0x{'2':0>64}::sui::SUI>"
    )


@pytest.mark.parametrize(
    "type_",
    [
        f"{OTHER}::k8s_gateway::SealToken",  # same struct, a look-alike package
        f"{PKG}::k8s_gateway::SealTokenV2",
        f"{PKG}::staking::SealToken",
        f"{PKG}::k8s_gateway::SealToken<u8>",
        f"0x2::coin::Coin<{PKG}::k8s_gateway::SealToken>",
    ],
)
def test_wrong_type_is_refused(type_: str) -> None:
    with pytest.raises(WrongObjectType) as err:
        SealTokenView.from_object(obj(type_, TOKEN), PKG)
    assert err.value.reason == "wrong_type"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stake_amount", "18446744073709551616"),  # u64 overflow
        ("stake_amount", "-1"),
        ("stake_amount", "1.5"),
        ("stake_amount", True),
        ("stake_amount", 5),  # a JSON number: not how a node renders a u64
        ("stake_amount", {"value": "5"}),  # Balance's stored form, never on the wire
        ("stake_amount", "\u00b2"),
        ("tier", 7),
        ("tier", "1"),
        ("token_hash", "!!not base64!!"),
        ("owner", "0x12"),
        ("permissions", "pods:read"),
        ("expires_at", None),
    ],
)
def test_malformed_fields_fail_closed(field: str, value: Any) -> None:
    fields = {**TOKEN, field: value}
    with pytest.raises(MalformedObject) as err:
        SealTokenView.from_object(obj(f"{PKG}::k8s_gateway::SealToken", fields), PKG)
    assert field in err.value.message


def test_missing_field_and_bad_thresholds() -> None:
    fields = {k: v for k, v in TOKEN.items() if k != "enclave"}
    with pytest.raises(MalformedObject):
        SealTokenView.from_object(obj(f"{PKG}::k8s_gateway::SealToken", fields), PKG)
    pool = StakingPoolView.from_object(
        obj(f"{PKG}::staking::StakingPool", {**POOL, "min_stake": "5000"}), PKG
    )
    with pytest.raises(MalformedObject):
        _ = pool.thresholds
