"""Checks before execution, as a Sui validator makes them: gas payment, owned inputs at their
versions and owned by the sender, shared inputs really shared, the Clock immutable. A failed
check is an `InvalidTransaction`: nothing changes and no gas is charged."""

from __future__ import annotations

from typing import Any

from k3s_daas.devnet.errors import InvalidTransaction
from k3s_daas.devnet.executor.arguments import Arg, ObjRef, Pure
from k3s_daas.devnet.executor.working_set import WorkingSet
from k3s_daas.devnet.objects import AddressOwner, ImmutableOwner, SharedOwner, StoredObject
from k3s_daas.devnet.package.runtime import coin_value, set_coin_value
from k3s_daas.seal.sui import COIN_SUI_TYPE, normalize_address

MAX_GAS_COINS = 256


def smash_gas(tx: WorkingSet, gas: Any) -> tuple[str, int, int]:
    """Check the gas payment, merge every gas coin into the first and set the budget aside
    (the PTB may spend only what exceeds the budget), as Sui does.

    Returns (gas coin id, gas price, budget)."""
    if normalize_address(gas.Owner.to_address_str()) != tx.sender:
        raise InvalidTransaction("sponsored gas is not supported", reason="bad_argument")
    price, budget = int(gas.Price), int(gas.Budget)
    if price < tx.view.reference_gas_price():
        raise InvalidTransaction(
            "gas price below the reference gas price", reason="insufficient_gas"
        )
    if not gas.Payment or len(gas.Payment) > MAX_GAS_COINS:
        raise InvalidTransaction("no (or too many) gas coins", reason="insufficient_gas")
    coins = []
    for ref in gas.Payment:
        obj = owned_input(tx, ref, what="gas coin")
        if obj.type != COIN_SUI_TYPE:
            raise InvalidTransaction("gas payment is not a SUI coin", reason="bad_argument")
        coins.append(obj)
    total = sum(coin_value(o) for o in coins)
    if total < budget:
        raise InvalidTransaction(
            f"gas coins hold {total} MIST, less than the budget {budget}",
            reason="insufficient_gas",
        )
    primary = coins[0]
    for other in coins[1:]:
        tx.delete(other)
    set_coin_value(primary, total - budget)
    tx.mutable_inputs.add(primary.object_id)
    return primary.object_id, price, budget


def owned_input(tx: WorkingSet, ref: Any, what: str) -> StoredObject:
    """An owned (or immutable) object input: the sender's, at the version the reference names."""
    object_id = normalize_address(ref.ObjectID.to_address_str())
    obj = tx.load_input(object_id)
    if isinstance(obj.owner, AddressOwner) and obj.owner.address != tx.sender:
        raise InvalidTransaction(
            f"{what} {object_id} is not owned by the sender", reason="not_owner"
        )
    if isinstance(obj.owner, SharedOwner):
        raise InvalidTransaction(
            f"{what} {object_id} is shared: pass it as a shared object", reason="bad_argument"
        )
    check_version(object_id, int(ref.SequenceNumber), ref.ObjectDigest.to_digest_str(), obj)
    return obj


def check_version(object_id: str, version: int, digest: str, obj: StoredObject) -> None:
    """An owned reference must name the live version and digest; Sui's UserInputError texts
    (a client recognises a stale reference by "is not available for consumption")."""
    if version > obj.version:
        raise InvalidTransaction(
            f"Could not find the referenced object {object_id} "
            f"at version Some(SequenceNumber({version}))",
            reason="object_not_found",
        )
    if version < obj.version or digest != obj.digest():
        raise InvalidTransaction(
            f"Object ID {object_id} Version {version:#x} Digest {digest} is not available for "
            f"consumption, current version: {obj.version:#x}",
            reason="stale_object",
        )


def call_arg(tx: WorkingSet, arg: Any, clock_id: str) -> Arg:
    """One PTB input (`CallArg`): a pure value, an owned object or a shared object."""
    if arg.enum_name == "Pure":
        return Pure(bytes(arg.value))
    if arg.enum_name != "Object":  # UnresolvedObject must never be on the wire
        raise InvalidTransaction(f"{arg.enum_name} inputs are not accepted", reason="bad_argument")
    kind, ref = arg.value.enum_name, arg.value.value
    if kind == "ImmOrOwnedObject":
        obj = owned_input(tx, ref, what="object")
        if isinstance(obj.owner, ImmutableOwner):
            return ObjRef(obj.object_id, False, False)
        tx.mutable_inputs.add(obj.object_id)
        return ObjRef(obj.object_id, True, True)
    if kind != "SharedObject":
        raise InvalidTransaction(f"{kind} inputs are not supported", reason="bad_argument")
    object_id = normalize_address(ref.ObjectID.to_address_str())
    obj = tx.load_input(object_id)
    if not isinstance(obj.owner, SharedOwner):
        raise InvalidTransaction(f"object {object_id} is not shared", reason="bad_argument")
    if int(ref.SequenceNumber) != obj.owner.initial_shared_version:
        raise InvalidTransaction(
            f"shared object {object_id} has initial shared version "
            f"{obj.owner.initial_shared_version}, not {int(ref.SequenceNumber)}",
            reason="bad_argument",
        )
    mutable = bool(ref.Mutable)
    if object_id == clock_id:
        if mutable:
            raise InvalidTransaction(
                "the Clock can only be passed as an immutable shared object",
                reason="bad_argument",
            )
        obj.fields["timestamp_ms"] = str(tx.timestamp_ms)  # the consensus clock
    if mutable:
        tx.mutable_inputs.add(object_id)
    return ObjRef(object_id, mutable, False)
