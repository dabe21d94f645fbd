"""Typed, frozen views of our package's objects, parsed from Sui's `Object.json` rendering.

The JSON follows docs/protocol.md §2, as a Sui full node renders it: u64 and `Balance<T>` as
decimal strings (a JSON double loses precision), u8 as numbers, ids/addresses as 0x + 64 hex,
vector<u8> as base64. Every view checks the object's
type is EXACTLY `<package>::<module>::<Struct>` first: a look-alike struct published by another
package must never pass for ours. Anything that does not parse raises `MalformedObject` (fail
closed) rather than a half-filled view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Self

from k3s_daas.chain.errors import MalformedObject, WrongObjectType
from k3s_daas.chain.records import ObjectData
from k3s_daas.seal import constants as c
from k3s_daas.seal.encoding import b64decode
from k3s_daas.seal.permissions import StakeThresholds, Tier
from k3s_daas.seal.sui import normalize_type

_ID_RE = re.compile(r"0x[0-9a-f]{64}")
_U64_RE = re.compile(r"[0-9]{1,20}")
U64_MAX = 2**64 - 1

STATUS_NAMES: dict[int, str] = {
    c.STATUS_ACTIVE: "active",
    c.STATUS_WITHDRAWING: "withdrawing",
    c.STATUS_SLASHED: "slashed",
    c.STATUS_WITHDRAWN: "withdrawn",
}


# -- field parsers: each raises MalformedObject with the field's name -----------------------------
def _get(fields: Mapping[str, Any], name: str) -> Any:
    if name not in fields:
        raise MalformedObject(f"field {name!r} is missing")
    return fields[name]


def _u64(fields: Mapping[str, Any], name: str) -> int:
    """A u64 (or a `Balance<T>`, which Sui renders as its value): a decimal string, strictly;
    a JSON number would have passed through a double."""
    value = _get(fields, name)
    if not isinstance(value, str) or not _U64_RE.fullmatch(value) or int(value) > U64_MAX:
        raise MalformedObject(f"field {name!r} is not a u64 (a decimal string)")
    return int(value)


def _u8(fields: Mapping[str, Any], name: str) -> int:
    value = _get(fields, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise MalformedObject(f"field {name!r} is not a u8")
    if not 0 <= int(value) <= 255:
        raise MalformedObject(f"field {name!r} is not a u8")
    return int(value)


def _id(fields: Mapping[str, Any], name: str) -> str:
    value = _get(fields, name)
    if isinstance(value, dict) and "id" in value:  # UID rendered as {"id": ...} by some nodes
        value = value["id"]
    if not isinstance(value, str) or not _ID_RE.fullmatch(value.lower()):
        raise MalformedObject(f"field {name!r} is not an object id / address")
    return value.lower()


def _string(fields: Mapping[str, Any], name: str) -> str:
    value = _get(fields, name)
    if not isinstance(value, str):
        raise MalformedObject(f"field {name!r} is not a string")
    return value


def _strings(fields: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = _get(fields, name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedObject(f"field {name!r} is not a list of strings")
    return tuple(value)


def _ids(fields: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = _get(fields, name)
    if not isinstance(value, list):
        raise MalformedObject(f"field {name!r} is not a list of ids")
    return tuple(_id({name: v}, name) for v in value)


def _bytes(fields: Mapping[str, Any], name: str) -> bytes:
    value = _get(fields, name)
    if isinstance(value, list) and all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        return bytes(value)  # some renderers give vector<u8> as a number list
    if not isinstance(value, str):
        raise MalformedObject(f"field {name!r} is not base64 bytes")
    try:
        return b64decode(value)
    except ValueError as exc:
        raise MalformedObject(f"field {name!r} is not base64 bytes") from exc


def _tier(fields: Mapping[str, Any], name: str) -> Tier:
    value = _u8(fields, name)
    try:
        return Tier(value)
    except ValueError as exc:
        raise MalformedObject(f"field {name!r} is not a tier") from exc


@lru_cache(maxsize=64)
def _struct_type(package_id: str, module: str, struct: str) -> str:
    """A view's full type (normalised once per package: every read checks it)."""
    return normalize_type(f"{package_id}::{module}::{struct}")


class ObjectView:
    """Base of the typed views: `from_object` checks the exact type, then `_parse`s the fields.

    Subclasses name their Move struct in MODULE/STRUCT; `K3sDaasPackage` reads any of them.
    """

    MODULE: ClassVar[str] = ""
    STRUCT: ClassVar[str] = ""

    @classmethod
    def type_for(cls, package_id: str) -> str:
        return _struct_type(package_id, cls.MODULE, cls.STRUCT)

    @classmethod
    def check_type(cls, obj: ObjectData, package_id: str) -> None:
        expected = cls.type_for(package_id)
        if normalize_type(obj.type) != expected:
            raise WrongObjectType(
                f"object {obj.object_id} is a {obj.type[:200]}, not {cls.MODULE}::{cls.STRUCT} "
                "of the configured package"
            )

    @classmethod
    def from_object(cls, obj: ObjectData, package_id: str) -> Self:
        cls.check_type(obj, package_id)
        return cls._parse(obj)

    @classmethod
    def _parse(cls, obj: ObjectData) -> Self:  # pragma: no cover - every view overrides it
        raise NotImplementedError


@dataclass(frozen=True)
class SealTokenView(ObjectView):
    """`k8s_gateway::SealToken` (owned by the staker). `token_hash` = SHA-256(secret)."""

    MODULE: ClassVar[str] = "k8s_gateway"
    STRUCT: ClassVar[str] = "SealToken"

    id: str
    version: int
    token_hash: bytes
    owner: str
    node_id: str
    stake_record: str
    stake_amount: int
    stake_type: int
    permissions: tuple[str, ...]
    tier: Tier
    issued_at: int
    expires_at: int
    enclave: str

    @classmethod
    def _parse(cls, obj: ObjectData) -> Self:
        f = obj.fields
        return cls(
            id=obj.object_id,
            version=obj.version,
            token_hash=_bytes(f, "token_hash"),
            owner=_id(f, "owner"),
            node_id=_string(f, "node_id"),
            stake_record=_id(f, "stake_record"),
            stake_amount=_u64(f, "stake_amount"),
            stake_type=_u8(f, "stake_type"),
            permissions=_strings(f, "permissions"),
            tier=_tier(f, "tier"),
            issued_at=_u64(f, "issued_at"),
            expires_at=_u64(f, "expires_at"),
            enclave=_id(f, "enclave"),
        )

    def is_expired(self, epoch: int) -> bool:
        """Valid while epoch < expires_at (docs/protocol.md)."""
        return epoch >= self.expires_at

    @property
    def is_node_token(self) -> bool:
        return self.stake_type == c.STAKE_TYPE_NODE


@dataclass(frozen=True)
class StakeRecordView(ObjectView):
    """`staking::StakeRecord` (shared). `balance` may be below `amount` after a partial slash."""

    MODULE: ClassVar[str] = "staking"
    STRUCT: ClassVar[str] = "StakeRecord"

    id: str
    version: int
    pool: str
    staker: str
    node_id: str
    stake_type: int
    balance: int
    amount: int
    status: int
    staked_epoch: int
    unbonding_epoch: int
    initial_shared_version: int | None = None

    @classmethod
    def _parse(cls, obj: ObjectData) -> Self:
        f = obj.fields
        return cls(
            id=obj.object_id,
            version=obj.version,
            pool=_id(f, "pool"),
            staker=_id(f, "staker"),
            node_id=_string(f, "node_id"),
            stake_type=_u8(f, "stake_type"),
            balance=_u64(f, "balance"),
            amount=_u64(f, "amount"),
            status=_u8(f, "status"),
            staked_epoch=_u64(f, "staked_epoch"),
            unbonding_epoch=_u64(f, "unbonding_epoch"),
            initial_shared_version=obj.initial_shared_version,
        )

    @property
    def is_active(self) -> bool:
        return self.status == c.STATUS_ACTIVE

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, f"unknown({self.status})")

    @property
    def is_node_stake(self) -> bool:
        return self.stake_type == c.STAKE_TYPE_NODE


@dataclass(frozen=True)
class StakingPoolView(ObjectView):
    """`staking::StakingPool` (shared): thresholds and lifetimes are read from here at run time."""

    MODULE: ClassVar[str] = "staking"
    STRUCT: ClassVar[str] = "StakingPool"

    id: str
    version: int
    min_stake: int
    standard_threshold: int
    premium_threshold: int
    token_lifetime_epochs: int
    unbonding_epochs: int
    total_staked: int
    slashed: int
    node_stakes_table: str
    node_stakes_size: int

    @classmethod
    def _parse(cls, obj: ObjectData) -> Self:
        f = obj.fields
        table = _get(f, "node_stakes")
        if not isinstance(table, dict):
            raise MalformedObject("field 'node_stakes' is not a Table")
        return cls(
            id=obj.object_id,
            version=obj.version,
            min_stake=_u64(f, "min_stake"),
            standard_threshold=_u64(f, "standard_threshold"),
            premium_threshold=_u64(f, "premium_threshold"),
            token_lifetime_epochs=_u64(f, "token_lifetime_epochs"),
            unbonding_epochs=_u64(f, "unbonding_epochs"),
            total_staked=_u64(f, "total_staked"),
            slashed=_u64(f, "slashed"),
            node_stakes_table=_id(table, "id"),
            node_stakes_size=_u64(table, "size"),
        )

    @property
    def thresholds(self) -> StakeThresholds:
        try:
            return StakeThresholds(self.min_stake, self.standard_threshold, self.premium_threshold)
        except ValueError as exc:
            raise MalformedObject(f"pool {self.id}: {exc}") from exc


@dataclass(frozen=True)
class EnclaveConfigView(ObjectView):
    """`nautilus::EnclaveConfig` (shared): expected PCRs and the registered enclaves by tier."""

    MODULE: ClassVar[str] = "nautilus"
    STRUCT: ClassVar[str] = "EnclaveConfig"

    id: str
    version: int  # the config's own `version` field (bumped by update_pcrs), not the object's
    pcr0: bytes
    pcr1: bytes
    pcr2: bytes
    basic: tuple[str, ...]
    standard: tuple[str, ...]
    premium: tuple[str, ...]
    object_version: int = 0

    @classmethod
    def _parse(cls, obj: ObjectData) -> Self:
        f = obj.fields
        return cls(
            id=obj.object_id,
            version=_u64(f, "version"),
            pcr0=_bytes(f, "pcr0"),
            pcr1=_bytes(f, "pcr1"),
            pcr2=_bytes(f, "pcr2"),
            basic=_ids(f, "basic"),
            standard=_ids(f, "standard"),
            premium=_ids(f, "premium"),
            object_version=obj.version,
        )

    @property
    def pcrs(self) -> dict[int, bytes]:
        return {0: self.pcr0, 1: self.pcr1, 2: self.pcr2}

    def enclaves(self, tier: Tier) -> tuple[str, ...]:
        return {Tier.BASIC: self.basic, Tier.STANDARD: self.standard, Tier.PREMIUM: self.premium}[
            tier
        ]


@dataclass(frozen=True)
class EnclaveView(ObjectView):
    """`nautilus::Enclave` (shared): a registered master, its attested key and endpoint."""

    MODULE: ClassVar[str] = "nautilus"
    STRUCT: ClassVar[str] = "Enclave"

    id: str
    version: int
    operator: str
    endpoint: str
    tier: Tier
    public_key: bytes
    pcr0: bytes
    pcr1: bytes
    pcr2: bytes
    config_version: int
    registered_at_ms: int

    @classmethod
    def _parse(cls, obj: ObjectData) -> Self:
        f = obj.fields
        return cls(
            id=obj.object_id,
            version=obj.version,
            operator=_id(f, "operator"),
            endpoint=_string(f, "endpoint"),
            tier=_tier(f, "tier"),
            public_key=_bytes(f, "public_key"),
            pcr0=_bytes(f, "pcr0"),
            pcr1=_bytes(f, "pcr1"),
            pcr2=_bytes(f, "pcr2"),
            config_version=_u64(f, "config_version"),
            registered_at_ms=_u64(f, "registered_at_ms"),
        )

    @property
    def pcrs(self) -> dict[int, bytes]:
        return {0: self.pcr0, 1: self.pcr1, 2: self.pcr2}


__all__ = [
    "EnclaveConfigView",
    "EnclaveView",
    "ObjectData",
    "ObjectView",
    "SealTokenView",
    "StakeRecordView",
    "StakingPoolView",
]
