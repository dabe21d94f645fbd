"""The native `k3s_daas` package: every public function of `contracts/`, in Python.

Same checks in the same order, same abort codes (from `seal.constants`), same events, same field
layout as the Move sources, so a client cannot tell the devnet from a chain running the real
package. Functions act on objects through a `Runtime` the executor provides.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from k3s_daas.devnet.ids import CLOCK, COIN_SUI_TYPE, MOVE_STDLIB, PACKAGE_ID, SUI_FRAMEWORK
from k3s_daas.devnet.objects import AddressOwner, SharedOwner, StoredObject
from k3s_daas.seal import constants as c
from k3s_daas.seal.errors import K3sDaasError

FRAMEWORK = SUI_FRAMEWORK
SUI_COIN_TYPE = COIN_SUI_TYPE
CLOCK_TYPE = f"{SUI_FRAMEWORK}::clock::Clock"
CLOCK_ID = CLOCK
STRING_TYPE = f"{MOVE_STDLIB}::string::String"
TX_CONTEXT_TYPE = f"{SUI_FRAMEWORK}::tx_context::TxContext"

__all__ = ["CLOCK_TYPE", "SUI_COIN_TYPE", "MoveAbort"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


def coin_value(obj: StoredObject) -> int:
    raw = obj.fields["balance"]
    return int(raw["value"] if isinstance(raw, dict) else raw)


class MoveAbort(K3sDaasError):  # named after Sui's MoveAbort status
    """A native function aborted: the transaction fails, only gas is charged."""

    reason = "move_abort"

    def __init__(self, module: str, function: str, code: int, package: str = "") -> None:
        super().__init__(f"MoveAbort in {module}::{function} with code {code}")
        self.package = package
        self.module = module
        self.function = function
        self.code = code
        self.command_index: int | None = None


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class Runtime(Protocol):
    """What a native function may do; implemented by the executor for one transaction."""

    sender: str
    epoch: int
    timestamp_ms: int

    def new_object(
        self, type_: str, fields: dict[str, Any], *, shared: bool, owner: str | None = None
    ) -> StoredObject: ...
    def new_id(self) -> str: ...
    def delete(self, obj: StoredObject) -> None: ...
    def emit(self, module: str, name: str, fields: dict[str, Any]) -> None: ...
    def table_get(self, table_id: str, key: str) -> str | None: ...
    def table_set(self, table_id: str, key: str, value: str | None) -> None: ...
    def verify_attestation(self, document: bytes) -> AttestationFields: ...


@dataclass(frozen=True)
class AttestationFields:
    """What `sui::nitro_attestation::NitroAttestationDocument` exposes after verification."""

    pcrs: dict[int, bytes]
    public_key: bytes | None
    timestamp_ms: int


@dataclass(frozen=True)
class Param:
    kind: str  # "ref" | "mut" | "val" | "pure"
    type: str  # full Move type, or a pure type name: u8 u64 bool address vector<u8> string ...


@dataclass(frozen=True)
class NativeFunction:
    module: str
    name: str
    params: tuple[Param, ...]
    returns: tuple[str, ...]
    impl: Callable[..., list[Any]]
    package: str = "k3s_daas"


def u64(value: Any) -> int:
    return int(value)


def _abort(module: str, function: str, code: int) -> MoveAbort:
    return MoveAbort(module, function, code)


class K3sDaasNatives:
    """The package at `package_id`; builds the function table the executor dispatches on."""

    def __init__(self, package_id: str) -> None:
        self.pkg = package_id
        self.pool_t = f"{package_id}::staking::StakingPool"
        self.record_t = f"{package_id}::staking::StakeRecord"
        self.cap_t = f"{package_id}::staking::AdminCap"
        self.token_t = f"{package_id}::k8s_gateway::SealToken"
        self.config_t = f"{package_id}::nautilus::EnclaveConfig"
        self.enclave_t = f"{package_id}::nautilus::Enclave"
        self.doc_t = f"{FRAMEWORK}::nitro_attestation::NitroAttestationDocument"
        self.aliases = {
            "pool": self.pool_t,
            "record": self.record_t,
            "cap": self.cap_t,
            "token": self.token_t,
            "config": self.config_t,
            "enclave": self.enclave_t,
            "doc": self.doc_t,
            "coin": SUI_COIN_TYPE,
            "clock": CLOCK_TYPE,
        }
        # (module, function, parameters as "kind:type", returns, implementation). Kinds: ref
        # (&T), mut (&mut T), val (T by value), pure (BCS argument); TxContext is implicit.
        table: list[tuple[str, str, str, tuple[str, ...], Callable[..., list[Any]]]] = [
            ("staking", "stake_for_node", "mut:pool val:coin pure:string", ("id",), self.stake_for_node),
            ("staking", "stake_for_user", "mut:pool val:coin", ("id",), self.stake_for_user),
            ("staking", "request_unstake", "mut:pool mut:record", (), self.request_unstake),
            ("staking", "withdraw", "mut:pool mut:record", (), self.withdraw),
            ("staking", "slash", "ref:cap mut:pool mut:record pure:u64", (), self.slash),
            ("staking", "set_thresholds", "ref:cap mut:pool pure:u64 pure:u64 pure:u64", (), self.set_thresholds),
            ("k8s_gateway", "create_worker_seal_token", "ref:pool ref:config ref:record pure:vector<u8>", ("id",), self.create_worker_seal_token),
            ("k8s_gateway", "create_user_seal_token", "ref:pool ref:config ref:record pure:vector<u8> pure:vector<string>", ("id",), self.create_user_seal_token),
            ("k8s_gateway", "stake_and_create_worker_seal_token", "mut:pool ref:config val:coin pure:string pure:vector<u8>", ("id",), self.stake_and_create_worker_seal_token),
            ("k8s_gateway", "rotate_seal_token", "mut:token ref:pool ref:record pure:vector<u8>", (), self.rotate_seal_token),
            ("k8s_gateway", "revoke_seal_token", "val:token", (), self.revoke_seal_token),
            ("k8s_gateway", "calculate_permissions", "ref:pool pure:u64", ("vector<string>",), self.calculate_permissions),
            ("k8s_gateway", "tier_for", "ref:pool pure:u64", ("u8",), self.tier_for),
            ("nautilus", "register_enclave", "mut:config val:doc pure:string pure:u8", ("id",), self.register_enclave),
            ("nautilus", "update_enclave", "mut:enclave ref:config val:doc pure:string", (), self.update_enclave),
            ("nautilus", "update_pcrs", "ref:cap mut:config pure:vector<u8> pure:vector<u8> pure:vector<u8>", (), self.update_pcrs),
        ]  # fmt: skip
        self.functions: dict[tuple[str, str], NativeFunction] = {
            (module, name): NativeFunction(module, name, self._params(spec), returns, impl)
            for module, name, spec, returns, impl in table
        }
        self.framework: dict[tuple[str, str], NativeFunction] = {
            ("nitro_attestation", "load_nitro_attestation"): NativeFunction(
                "nitro_attestation",
                "load_nitro_attestation",
                self._params("pure:vector<u8> ref:clock"),
                (self.doc_t,),
                self.load_nitro_attestation,
                package="sui",
            )
        }

    def _params(self, spec: str) -> tuple[Param, ...]:
        out = []
        for item in spec.split():
            kind, type_ = item.split(":", 1)
            out.append(Param(kind, type_ if kind == "pure" else self.aliases[type_]))
        return tuple(out)

    # ---- genesis -------------------------------------------------------------------------
    def genesis_fields(self, pool_id: str, table_id: str, config_id: str) -> dict[str, Any]:
        """Initial fields of the shared objects, as the Move `init` functions create them."""
        return {
            "pool": {
                "id": pool_id,
                "min_stake": str(c.MIN_STAKE),
                "standard_threshold": str(c.STANDARD_THRESHOLD),
                "premium_threshold": str(c.PREMIUM_THRESHOLD),
                "token_lifetime_epochs": str(c.TOKEN_LIFETIME_EPOCHS),
                "unbonding_epochs": str(c.UNBONDING_EPOCHS),
                "total_staked": "0",
                "slashed": {"value": "0"},
                "node_stakes": {"id": table_id, "size": "0"},
            },
            "config": {
                "id": config_id,
                "pcr0": "",
                "pcr1": "",
                "pcr2": "",
                "version": "0",
                "basic": [],
                "standard": [],
                "premium": [],
            },
        }

    # ---- staking ---------------------------------------------------------------------------
    def _new_stake(
        self, rt: Runtime, fn: str, pool: StoredObject, coin: StoredObject, node_id: str, kind: int
    ) -> StoredObject:
        amount = coin_value(coin)
        if amount < u64(pool.fields["min_stake"]):
            raise _abort("staking", fn, c.E_INSUFFICIENT_STAKE)
        pool.fields["total_staked"] = str(u64(pool.fields["total_staked"]) + amount)
        rt.delete(coin)
        record = rt.new_object(
            self.record_t,
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
            "staking",
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

    def _new_node_stake(
        self, rt: Runtime, fn: str, pool: StoredObject, coin: StoredObject, node_id: str
    ) -> StoredObject:
        if len(node_id) > c.MAX_NODE_ID_LENGTH or not _DNS_LABEL.fullmatch(node_id):
            raise _abort("staking", fn, c.E_INVALID_NODE_ID)
        table = pool.fields["node_stakes"]
        if rt.table_get(table["id"], node_id) is not None:
            raise _abort("staking", fn, c.E_NODE_ALREADY_STAKED)
        record = self._new_stake(rt, fn, pool, coin, node_id, c.STAKE_TYPE_NODE)
        rt.table_set(table["id"], node_id, record.object_id)
        table["size"] = str(u64(table["size"]) + 1)
        return record

    def stake_for_node(
        self, rt: Runtime, pool: StoredObject, coin: StoredObject, node_id: str
    ) -> list[Any]:
        return [self._new_node_stake(rt, "stake_for_node", pool, coin, node_id).object_id]

    def stake_for_user(self, rt: Runtime, pool: StoredObject, coin: StoredObject) -> list[Any]:
        record = self._new_stake(rt, "stake_for_user", pool, coin, "", c.STAKE_TYPE_USER)
        return [record.object_id]

    def _free_node_id(self, rt: Runtime, pool: StoredObject, record: StoredObject) -> None:
        if record.fields["stake_type"] != c.STAKE_TYPE_NODE:
            return
        table = pool.fields["node_stakes"]
        if rt.table_get(table["id"], record.fields["node_id"]) == record.object_id:
            rt.table_set(table["id"], record.fields["node_id"], None)
            table["size"] = str(u64(table["size"]) - 1)

    def request_unstake(self, rt: Runtime, pool: StoredObject, record: StoredObject) -> list[Any]:
        f = record.fields
        if rt.sender != f["staker"]:
            raise _abort("staking", "request_unstake", c.E_NOT_STAKER)
        if f["status"] != c.STATUS_ACTIVE:
            raise _abort("staking", "request_unstake", c.E_NOT_ACTIVE)
        f["status"] = c.STATUS_WITHDRAWING
        f["unbonding_epoch"] = str(rt.epoch + u64(pool.fields["unbonding_epochs"]))
        self._free_node_id(rt, pool, record)
        rt.emit(
            "staking",
            "UnstakeRequested",
            {
                "stake_id": record.object_id,
                "staker": f["staker"],
                "node_id": f["node_id"],
                "unbonding_epoch": f["unbonding_epoch"],
            },
        )
        return []

    def withdraw(self, rt: Runtime, pool: StoredObject, record: StoredObject) -> list[Any]:
        f = record.fields
        if rt.sender != f["staker"]:
            raise _abort("staking", "withdraw", c.E_NOT_STAKER)
        if f["status"] != c.STATUS_WITHDRAWING:
            raise _abort("staking", "withdraw", c.E_NOT_WITHDRAWING)
        if rt.epoch < u64(f["unbonding_epoch"]):
            raise _abort("staking", "withdraw", c.E_UNBONDING_NOT_OVER)
        amount = u64(f["balance"]["value"])
        pool.fields["total_staked"] = str(u64(pool.fields["total_staked"]) - amount)
        f["balance"] = {"value": "0"}
        rt.new_object(
            SUI_COIN_TYPE,
            {"id": "", "balance": {"value": str(amount)}},
            shared=False,
            owner=f["staker"],
        )
        f["status"] = c.STATUS_WITHDRAWN
        rt.emit(
            "staking",
            "StakeWithdrawn",
            {"stake_id": record.object_id, "staker": f["staker"], "amount": str(amount)},
        )
        return []

    def slash(
        self, rt: Runtime, _cap: StoredObject, pool: StoredObject, record: StoredObject, amount: int
    ) -> list[Any]:
        f = record.fields
        if f["status"] in (c.STATUS_SLASHED, c.STATUS_WITHDRAWN):
            raise _abort("staking", "slash", c.E_NOT_ACTIVE)
        available = u64(f["balance"]["value"])
        take = available if amount == 0 else amount
        if take > available:
            raise _abort("staking", "slash", c.E_SLASH_TOO_LARGE)
        slashed = pool.fields["slashed"]
        slashed["value"] = str(u64(slashed["value"]) + take)
        f["balance"] = {"value": str(available - take)}
        pool.fields["total_staked"] = str(u64(pool.fields["total_staked"]) - take)
        f["status"] = c.STATUS_SLASHED
        self._free_node_id(rt, pool, record)
        rt.emit(
            "staking",
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
        self, rt: Runtime, _cap: StoredObject, pool: StoredObject, lo: int, mid: int, hi: int
    ) -> list[Any]:
        if not 0 < lo <= mid <= hi:
            raise _abort("staking", "set_thresholds", c.E_INVALID_THRESHOLDS)
        pool.fields.update(
            min_stake=str(lo), standard_threshold=str(mid), premium_threshold=str(hi)
        )
        return []

    # ---- k8s_gateway -----------------------------------------------------------------------
    def _permissions(self, pool: StoredObject, amount: int) -> list[str]:
        perms: list[str] = []
        if amount >= u64(pool.fields["min_stake"]):
            perms += ["pods:read", "services:read"]
        if amount >= u64(pool.fields["standard_threshold"]):
            perms += ["nodes:write", "pods:write"]
        if amount >= u64(pool.fields["premium_threshold"]):
            perms.append("*:*")
        return perms

    def _tier(self, pool: StoredObject, amount: int) -> int:
        if amount >= u64(pool.fields["premium_threshold"]):
            return c.TIER_PREMIUM
        if amount >= u64(pool.fields["standard_threshold"]):
            return c.TIER_STANDARD
        return c.TIER_BASIC

    def calculate_permissions(self, rt: Runtime, pool: StoredObject, amount: int) -> list[Any]:
        return [self._permissions(pool, amount)]

    def tier_for(self, rt: Runtime, pool: StoredObject, amount: int) -> list[Any]:
        return [self._tier(pool, amount)]

    def _check_record(self, rt: Runtime, fn: str, pool: StoredObject, record: StoredObject) -> None:
        f = record.fields
        if rt.sender != f["staker"]:
            raise _abort("k8s_gateway", fn, c.E_NOT_STAKER)
        if f["status"] != c.STATUS_ACTIVE:
            raise _abort("k8s_gateway", fn, c.E_NOT_ACTIVE)
        if u64(f["balance"]["value"]) < u64(pool.fields["min_stake"]):
            raise _abort("k8s_gateway", fn, c.E_INSUFFICIENT_STAKE)

    @staticmethod
    def _pick_enclave(config: StoredObject, tier: int) -> str | None:
        f = config.fields
        if tier >= c.TIER_PREMIUM and f["premium"]:
            return str(f["premium"][-1])
        if tier >= c.TIER_STANDARD and f["standard"]:
            return str(f["standard"][-1])
        if f["basic"]:
            return str(f["basic"][-1])
        return None

    def _mint(
        self,
        rt: Runtime,
        fn: str,
        pool: StoredObject,
        config: StoredObject,
        record: StoredObject,
        token_hash: bytes,
        permissions: list[str],
    ) -> str:
        if len(token_hash) != c.TOKEN_HASH_LENGTH:
            raise _abort("k8s_gateway", fn, c.E_INVALID_TOKEN_HASH)
        balance = u64(record.fields["balance"]["value"])
        tier = self._tier(pool, balance)
        enclave = self._pick_enclave(config, tier)
        if enclave is None:
            raise _abort("k8s_gateway", fn, c.E_NO_ENCLAVE)
        expires = rt.epoch + u64(pool.fields["token_lifetime_epochs"])
        token = rt.new_object(
            self.token_t,
            {
                "id": "",
                "token_hash": b64(token_hash),
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
            "k8s_gateway",
            "SealTokenCreated",
            {
                "token_id": token.object_id,
                "stake_id": record.object_id,
                "owner": rt.sender,
                "node_id": record.fields["node_id"],
                "permissions": permissions,
                "tier": tier,
                "expires_at": str(expires),
                "enclave": enclave,
            },
        )
        return token.object_id

    def create_worker_seal_token(
        self, rt: Runtime, pool: StoredObject, config: StoredObject, record: StoredObject, h: bytes
    ) -> list[Any]:
        fn = "create_worker_seal_token"
        self._check_record(rt, fn, pool, record)
        if record.fields["stake_type"] != c.STAKE_TYPE_NODE:
            raise _abort("k8s_gateway", fn, c.E_NOT_NODE_STAKE)
        perms = self._permissions(pool, u64(record.fields["balance"]["value"]))
        return [self._mint(rt, fn, pool, config, record, h, perms)]

    def create_user_seal_token(
        self,
        rt: Runtime,
        pool: StoredObject,
        config: StoredObject,
        record: StoredObject,
        h: bytes,
        requested: list[str],
    ) -> list[Any]:
        fn = "create_user_seal_token"
        self._check_record(rt, fn, pool, record)
        if record.fields["stake_type"] != c.STAKE_TYPE_USER:
            raise _abort("k8s_gateway", fn, c.E_NOT_USER_STAKE)
        allowed = self._permissions(pool, u64(record.fields["balance"]["value"]))
        perms: list[str] = []
        for p in requested:
            if p in allowed and p not in perms:
                perms.append(p)
        if not perms:
            raise _abort("k8s_gateway", fn, c.E_NO_PERMISSIONS)
        return [self._mint(rt, fn, pool, config, record, h, perms)]

    def stake_and_create_worker_seal_token(
        self,
        rt: Runtime,
        pool: StoredObject,
        config: StoredObject,
        coin: StoredObject,
        node_id: str,
        h: bytes,
    ) -> list[Any]:
        fn = "stake_and_create_worker_seal_token"
        record = self._new_node_stake(rt, fn, pool, coin, node_id)
        return self.create_worker_seal_token(rt, pool, config, record, h)

    def rotate_seal_token(
        self, rt: Runtime, token: StoredObject, pool: StoredObject, record: StoredObject, h: bytes
    ) -> list[Any]:
        fn = "rotate_seal_token"
        t = token.fields
        if rt.sender != t["owner"]:
            raise _abort("k8s_gateway", fn, c.E_NOT_TOKEN_OWNER)
        if t["stake_record"] != record.object_id:
            raise _abort("k8s_gateway", fn, c.E_WRONG_STAKE_RECORD)
        if record.fields["status"] != c.STATUS_ACTIVE:
            raise _abort("k8s_gateway", fn, c.E_NOT_ACTIVE)
        if len(h) != c.TOKEN_HASH_LENGTH:
            raise _abort("k8s_gateway", fn, c.E_INVALID_TOKEN_HASH)
        balance = u64(record.fields["balance"]["value"])
        allowed = self._permissions(pool, balance)
        if record.fields["stake_type"] == c.STAKE_TYPE_NODE:
            t["permissions"] = allowed
        else:
            t["permissions"] = [p for p in t["permissions"] if p in allowed]
        t["token_hash"] = b64(h)
        t["stake_amount"] = str(balance)
        t["tier"] = self._tier(pool, balance)
        t["issued_at"] = str(rt.epoch)
        t["expires_at"] = str(rt.epoch + u64(pool.fields["token_lifetime_epochs"]))
        rt.emit(
            "k8s_gateway",
            "SealTokenRotated",
            {"token_id": token.object_id, "owner": t["owner"], "expires_at": t["expires_at"]},
        )
        return []

    def revoke_seal_token(self, rt: Runtime, token: StoredObject) -> list[Any]:
        if rt.sender != token.fields["owner"]:
            raise _abort("k8s_gateway", "revoke_seal_token", c.E_NOT_TOKEN_OWNER)
        rt.emit(
            "k8s_gateway",
            "SealTokenRevoked",
            {"token_id": token.object_id, "owner": token.fields["owner"]},
        )
        rt.delete(token)
        return []

    # ---- nautilus --------------------------------------------------------------------------
    def load_nitro_attestation(
        self, rt: Runtime, document: bytes, _clock: StoredObject
    ) -> list[Any]:
        return [rt.verify_attestation(document)]

    def _check_doc(
        self, fn: str, config: StoredObject, doc: AttestationFields, endpoint: str
    ) -> bytes:
        if doc.public_key is None:
            raise _abort("nautilus", fn, c.E_INVALID_ATTESTATION)
        f = config.fields
        # Fail closed: until update_pcrs has run the expected PCRs are empty and nothing matches.
        if len(doc.pcrs.get(0, b"")) != c.PCR_LENGTH:
            raise _abort("nautilus", fn, c.E_PCR_MISMATCH)
        for i in range(3):
            if doc.pcrs.get(i, b"") != unb64(f[f"pcr{i}"]):
                raise _abort("nautilus", fn, c.E_PCR_MISMATCH)
        if len(doc.public_key) != c.ENCLAVE_KEY_LENGTH:
            raise _abort("nautilus", fn, c.E_INVALID_PUBLIC_KEY)
        if not 0 < len(endpoint.encode()) <= c.MAX_ENDPOINT_LENGTH:
            raise _abort("nautilus", fn, c.E_INVALID_ENDPOINT)
        return doc.public_key

    def register_enclave(
        self, rt: Runtime, config: StoredObject, doc: AttestationFields, endpoint: str, tier: int
    ) -> list[Any]:
        key = self._check_doc("register_enclave", config, doc, endpoint)
        if tier > c.TIER_PREMIUM:
            raise _abort("nautilus", "register_enclave", c.E_INVALID_TIER)
        f = config.fields
        enclave = rt.new_object(
            self.enclave_t,
            {
                "id": "",
                "operator": rt.sender,
                "endpoint": endpoint,
                "tier": tier,
                "public_key": b64(key),
                "pcr0": f["pcr0"],
                "pcr1": f["pcr1"],
                "pcr2": f["pcr2"],
                "config_version": f["version"],
                "registered_at_ms": str(doc.timestamp_ms),
            },
            shared=True,
        )
        f[("basic", "standard", "premium")[tier]].append(enclave.object_id)
        rt.emit(
            "nautilus",
            "EnclaveRegistered",
            {
                "enclave_id": enclave.object_id,
                "operator": rt.sender,
                "tier": tier,
                "endpoint": endpoint,
                "public_key": b64(key),
            },
        )
        return [enclave.object_id]

    def update_enclave(
        self,
        rt: Runtime,
        enclave: StoredObject,
        config: StoredObject,
        doc: AttestationFields,
        endpoint: str,
    ) -> list[Any]:
        if rt.sender != enclave.fields["operator"]:
            raise _abort("nautilus", "update_enclave", c.E_NOT_OPERATOR)
        key = self._check_doc("update_enclave", config, doc, endpoint)
        f = config.fields
        enclave.fields.update(
            public_key=b64(key),
            pcr0=f["pcr0"],
            pcr1=f["pcr1"],
            pcr2=f["pcr2"],
            endpoint=endpoint,
            config_version=f["version"],
            registered_at_ms=str(doc.timestamp_ms),
        )
        rt.emit(
            "nautilus",
            "EnclaveUpdated",
            {"enclave_id": enclave.object_id, "public_key": b64(key)},
        )
        return []

    def update_pcrs(
        self, rt: Runtime, _cap: StoredObject, config: StoredObject, p0: bytes, p1: bytes, p2: bytes
    ) -> list[Any]:
        if any(len(p) != c.PCR_LENGTH for p in (p0, p1, p2)):
            raise _abort("nautilus", "update_pcrs", c.E_INVALID_PCR_LENGTH)
        f = config.fields
        f.update(pcr0=b64(p0), pcr1=b64(p1), pcr2=b64(p2), version=str(u64(f["version"]) + 1))
        rt.emit("nautilus", "PcrsUpdated", {"version": f["version"]})
        return []


# ---- what the devnet server needs: ids, signatures, genesis, layouts --------------------------


@dataclass(frozen=True)
class PackageIds:
    package_id: str
    clock_id: str


@dataclass(frozen=True)
class ParamType:
    type: str
    reference: str | None = None  # "immutable" | "mutable" | None


@dataclass(frozen=True)
class FunctionSignature:
    name: str
    visibility: str
    is_entry: bool
    parameters: list[ParamType]
    returns: list[ParamType]


_PURE_MOVE_TYPES = {
    "string": STRING_TYPE,
    "vector<string>": f"vector<{STRING_TYPE}>",
    "id": f"{SUI_FRAMEWORK}::object::ID",
}
_REFERENCE = {"ref": "immutable", "mut": "mutable"}


def _signature(fn: NativeFunction) -> FunctionSignature:
    params = [
        ParamType(_PURE_MOVE_TYPES.get(p.type, p.type), _REFERENCE.get(p.kind)) for p in fn.params
    ]
    params.append(ParamType(TX_CONTEXT_TYPE, "mutable"))
    returns = [ParamType(_PURE_MOVE_TYPES.get(r, r)) for r in fn.returns]
    return FunctionSignature(fn.name, "public", False, params, returns)


NATIVES = K3sDaasNatives(PACKAGE_ID)
#: GetFunction table for the `k3s_daas` package (module, function) -> signature.
FUNCTIONS: dict[tuple[str, str], FunctionSignature] = {
    key: _signature(fn) for key, fn in NATIVES.functions.items()
}


def derive_id(seed: str, index: int) -> str:
    return (
        "0x"
        + hashlib.blake2b(seed.encode() + index.to_bytes(8, "little"), digest_size=32).hexdigest()
    )


def coin_object(object_id: str, owner: str, amount: int, version: int, digest: str) -> StoredObject:
    return StoredObject(
        object_id,
        version,
        AddressOwner(owner),
        SUI_COIN_TYPE,
        {"id": object_id, "balance": {"value": str(amount)}},
        digest,
    )


def genesis_objects(ids: PackageIds, admin: str, pcrs: dict[int, bytes]) -> list[StoredObject]:
    """AdminCap (to the admin), StakingPool, EnclaveConfig (PCRs set, as `update_pcrs` would) and
    the Clock — what publishing the package and running its `init` functions create."""
    natives = K3sDaasNatives(ids.package_id)
    cap_id, pool_id, table_id, config_id = (derive_id("k3s-daas genesis", i) for i in range(4))
    fields = natives.genesis_fields(pool_id, table_id, config_id)
    config = fields["config"]
    if pcrs:
        config.update(
            pcr0=b64(pcrs.get(0, b"")),
            pcr1=b64(pcrs.get(1, b"")),
            pcr2=b64(pcrs.get(2, b"")),
            version="1",
        )
    return [
        StoredObject(cap_id, 1, AddressOwner(admin), natives.cap_t, {"id": cap_id}),
        StoredObject(pool_id, 1, SharedOwner(1), natives.pool_t, fields["pool"]),
        StoredObject(config_id, 1, SharedOwner(1), natives.config_t, config),
        StoredObject(
            ids.clock_id, 1, SharedOwner(1), CLOCK_TYPE, {"id": ids.clock_id, "timestamp_ms": "0"}
        ),
    ]


# BCS layouts: field -> kind, in struct order (docs/protocol.md §2).
_ADDR, _U8, _U64, _BYTES, _STR, _STRS, _IDS, _BAL, _TABLE = (
    "addr",
    "u8",
    "u64",
    "bytes",
    "str",
    "strs",
    "ids",
    "bal",
    "table",
)
LAYOUTS: dict[str, list[tuple[str, str]]] = {
    "coin::Coin": [("id", _ADDR), ("balance", _BAL)],
    "clock::Clock": [("id", _ADDR), ("timestamp_ms", _U64)],
    "staking::AdminCap": [("id", _ADDR)],
    "staking::StakingPool": [("id", _ADDR), ("min_stake", _U64), ("standard_threshold", _U64), ("premium_threshold", _U64), ("token_lifetime_epochs", _U64), ("unbonding_epochs", _U64), ("total_staked", _U64), ("slashed", _BAL), ("node_stakes", _TABLE)],
    "staking::StakeRecord": [("id", _ADDR), ("pool", _ADDR), ("staker", _ADDR), ("node_id", _STR), ("stake_type", _U8), ("balance", _BAL), ("amount", _U64), ("status", _U8), ("staked_epoch", _U64), ("unbonding_epoch", _U64)],
    "k8s_gateway::SealToken": [("id", _ADDR), ("token_hash", _BYTES), ("owner", _ADDR), ("node_id", _STR), ("stake_record", _ADDR), ("stake_amount", _U64), ("stake_type", _U8), ("permissions", _STRS), ("tier", _U8), ("issued_at", _U64), ("expires_at", _U64), ("enclave", _ADDR)],
    "nautilus::EnclaveConfig": [("id", _ADDR), ("pcr0", _BYTES), ("pcr1", _BYTES), ("pcr2", _BYTES), ("version", _U64), ("basic", _IDS), ("standard", _IDS), ("premium", _IDS)],
    "nautilus::Enclave": [("id", _ADDR), ("operator", _ADDR), ("endpoint", _STR), ("tier", _U8), ("public_key", _BYTES), ("pcr0", _BYTES), ("pcr1", _BYTES), ("pcr2", _BYTES), ("config_version", _U64), ("registered_at_ms", _U64)],
    "staking::StakeCreated": [("stake_id", _ADDR), ("staker", _ADDR), ("node_id", _STR), ("stake_type", _U8), ("amount", _U64)],
    "staking::UnstakeRequested": [("stake_id", _ADDR), ("staker", _ADDR), ("node_id", _STR), ("unbonding_epoch", _U64)],
    "staking::StakeWithdrawn": [("stake_id", _ADDR), ("staker", _ADDR), ("amount", _U64)],
    "staking::StakeSlashed": [("stake_id", _ADDR), ("staker", _ADDR), ("node_id", _STR), ("amount", _U64), ("remaining", _U64)],
    "k8s_gateway::SealTokenCreated": [("token_id", _ADDR), ("stake_id", _ADDR), ("owner", _ADDR), ("node_id", _STR), ("permissions", _STRS), ("tier", _U8), ("expires_at", _U64), ("enclave", _ADDR)],
    "k8s_gateway::SealTokenRotated": [("token_id", _ADDR), ("owner", _ADDR), ("expires_at", _U64)],
    "k8s_gateway::SealTokenRevoked": [("token_id", _ADDR), ("owner", _ADDR)],
    "nautilus::EnclaveRegistered": [("enclave_id", _ADDR), ("operator", _ADDR), ("tier", _U8), ("endpoint", _STR), ("public_key", _BYTES)],
    "nautilus::EnclaveUpdated": [("enclave_id", _ADDR), ("public_key", _BYTES)],
    "nautilus::PcrsUpdated": [("version", _U64)],
}  # fmt: skip


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _vec(data: bytes) -> bytes:
    return _uleb(len(data)) + data


def _encode(kind: str, value: Any) -> bytes:
    if kind == _ADDR:
        return bytes.fromhex(str(value).removeprefix("0x").rjust(64, "0"))
    if kind == _U8:
        return int(value).to_bytes(1, "little")
    if kind == _U64:
        return int(value).to_bytes(8, "little")
    if kind == _BYTES:
        return _vec(unb64(str(value)))
    if kind == _STR:
        return _vec(str(value).encode())
    if kind == _STRS:
        return _uleb(len(value)) + b"".join(_vec(str(v).encode()) for v in value)
    if kind == _IDS:
        return _uleb(len(value)) + b"".join(_encode(_ADDR, v) for v in value)
    if kind == _BAL:
        return int(value["value"] if isinstance(value, dict) else value).to_bytes(8, "little")
    return _encode(_ADDR, value["id"]) + int(value["size"]).to_bytes(8, "little")  # Table


def struct_bcs(type_: str, fields: dict[str, Any]) -> bytes:
    """BCS of a Move struct from its JSON rendering (unknown types: canonical JSON bytes)."""
    head = type_.split("<", 1)[0]
    name = "::".join(head.split("::")[-2:])
    layout = LAYOUTS.get(name)
    if layout is None:
        return json.dumps(fields, sort_keys=True).encode()
    return b"".join(_encode(kind, fields[field]) for field, kind in layout)
