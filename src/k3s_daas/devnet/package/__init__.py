"""The native `k3s_daas` package: every public function of `contracts/`, in Python.

Same checks in the same order, same abort codes (from `seal.constants`), same events and the same
struct layouts as the Move sources (one module per Move module: staking, k8s_gateway, nautilus),
so a client cannot tell the devnet from a chain running the real package. This module assembles
the function table the executor dispatches on, the GetFunction signatures, and genesis.
"""

from __future__ import annotations

from dataclasses import dataclass

from k3s_daas.devnet.ids import PACKAGE_ID
from k3s_daas.devnet.objects import AddressOwner, SharedOwner, StoredObject
from k3s_daas.devnet.package import k8s_gateway, nautilus, staking
from k3s_daas.devnet.package.runtime import (
    CLOCK_TYPE,
    DOCUMENT_TYPE,
    PURE_MOVE_TYPES,
    TX_CONTEXT_TYPE,
    AttestationFields,
    MoveAbort,
    NativeFunction,
    Param,
    Runtime,
    coin_value,
    parse_params,
)
from k3s_daas.seal import constants as c
from k3s_daas.seal.encoding import b64encode
from k3s_daas.seal.sui import COIN_SUI_TYPE, blake2b256

__all__ = [
    "CLOCK_TYPE",
    "FUNCTIONS",
    "AttestationFields",
    "FunctionSignature",
    "MoveAbort",
    "NativeFunction",
    "PackageIds",
    "Param",
    "ParamType",
    "Runtime",
    "coin_object",
    "coin_value",
    "genesis_objects",
    "native_functions",
    "signature_of",
    "struct_types",
]


@dataclass(frozen=True)
class PackageIds:
    """Where the package and the Clock live on this chain (devnet.json)."""

    package_id: str
    clock_id: str


def struct_types(package_id: str) -> dict[str, str]:
    """Short names used in the SPEC tables -> full Move types at `package_id`."""
    return {
        "pool": f"{package_id}::staking::StakingPool",
        "record": f"{package_id}::staking::StakeRecord",
        "cap": f"{package_id}::staking::AdminCap",
        "token": f"{package_id}::k8s_gateway::SealToken",
        "config": f"{package_id}::nautilus::EnclaveConfig",
        "enclave": f"{package_id}::nautilus::Enclave",
        "doc": DOCUMENT_TYPE,
        "coin": COIN_SUI_TYPE,
        "clock": CLOCK_TYPE,
    }


def native_functions(package_id: str) -> dict[tuple[str, str], NativeFunction]:
    """(module, function) -> NativeFunction for the package published at `package_id`."""
    aliases = struct_types(package_id)
    table: dict[tuple[str, str], NativeFunction] = {}
    for module in (staking, k8s_gateway, nautilus):
        for name, spec, returns, impl, ctx in module.SPEC:
            table[(module.MODULE, name)] = NativeFunction(
                package_id, module.MODULE, name, parse_params(spec, aliases), returns, impl, ctx
            )
    return table


# ---- GetFunction ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamType:
    """One parameter/return of a signature: a Move type and how it is referenced."""

    type: str
    reference: str | None = None  # "immutable" | "mutable" | None


@dataclass(frozen=True)
class FunctionSignature:
    """What MovePackageService.GetFunction serves (rendered by devnet/signatures.py)."""

    name: str
    visibility: str
    is_entry: bool
    parameters: list[ParamType]
    returns: list[ParamType]
    type_parameters: int = 0


_REFERENCE = {"ref": "immutable", "mut": "mutable"}


def signature_of(fn: NativeFunction) -> FunctionSignature:
    """The Move signature of a native function (TxContext last, as declared in Move)."""
    params = [
        ParamType(PURE_MOVE_TYPES.get(p.type, p.type), _REFERENCE.get(p.kind)) for p in fn.params
    ]
    if fn.ctx is not None:
        params.append(ParamType(TX_CONTEXT_TYPE, fn.ctx))
    returns = [ParamType(PURE_MOVE_TYPES.get(r, r)) for r in fn.returns]
    return FunctionSignature(
        fn.name, "public", fn.is_entry, params, returns, type_parameters=fn.type_params
    )


#: GetFunction table for the `k3s_daas` package: (module, function) -> signature.
FUNCTIONS: dict[tuple[str, str], FunctionSignature] = {
    key: signature_of(fn) for key, fn in native_functions(PACKAGE_ID).items()
}


# ---- genesis --------------------------------------------------------------------------------


def derive_id(seed: str, index: int) -> str:
    """Deterministic ids for genesis objects (no transaction digest exists yet)."""
    return "0x" + blake2b256(seed.encode() + index.to_bytes(8, "little")).hex()


def coin_object(object_id: str, owner: str, amount: int, version: int, digest: str) -> StoredObject:
    """A `Coin<SUI>` owned by `owner` (genesis funds, faucet grants)."""
    return StoredObject(
        object_id,
        version,
        AddressOwner(owner),
        COIN_SUI_TYPE,
        {"id": object_id, "balance": {"value": str(amount)}},
        digest,
    )


def genesis_objects(ids: PackageIds, admin: str, pcrs: dict[int, bytes]) -> list[StoredObject]:
    """AdminCap (to the admin), StakingPool, EnclaveConfig and the Clock: what publishing the
    package and running its `init` functions create. `pcrs` empty is the publish's state
    (version 0); tests pass PCRs to start from a config `update_pcrs` has already set."""
    types = struct_types(ids.package_id)
    cap_id, pool_id, table_id, config_id = (derive_id("k3s-daas genesis", i) for i in range(4))
    pool = {
        "id": pool_id,
        "min_stake": str(c.MIN_STAKE),
        "standard_threshold": str(c.STANDARD_THRESHOLD),
        "premium_threshold": str(c.PREMIUM_THRESHOLD),
        "token_lifetime_epochs": str(c.TOKEN_LIFETIME_EPOCHS),
        "unbonding_epochs": str(c.UNBONDING_EPOCHS),
        "total_staked": "0",
        "slashed": {"value": "0"},
        "node_stakes": {"id": table_id, "size": "0"},
    }
    config: dict[str, object] = {
        "id": config_id,
        **{f"pcr{i}": b64encode(pcrs.get(i, b"")) for i in range(3)},
        "version": "1" if pcrs else "0",
        "basic": [],
        "standard": [],
        "premium": [],
    }
    clock = {"id": ids.clock_id, "timestamp_ms": "0"}
    return [
        StoredObject(cap_id, 1, AddressOwner(admin), types["cap"], {"id": cap_id}),
        StoredObject(pool_id, 1, SharedOwner(1), types["pool"], pool),
        StoredObject(config_id, 1, SharedOwner(1), types["config"], config),
        StoredObject(ids.clock_id, 1, SharedOwner(1), CLOCK_TYPE, clock),
    ]
