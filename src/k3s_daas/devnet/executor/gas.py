"""Gas on the devnet (docs/devnet.md "Gas"): a fixed computation cost per command, storage per
byte written, and a full rebate of the storage of every overwritten or deleted object."""

from __future__ import annotations

from k3s_daas.devnet.executor.working_set import WorkingSet
from k3s_daas.devnet.objects import StoredObject

COMPUTATION_UNITS_PER_COMMAND = 1_000


def computation_cost(price: int, commands: int) -> int:
    """Computation charged for a PTB of `commands` commands at gas price `price`."""
    return price * COMPUTATION_UNITS_PER_COMMAND * max(1, commands)


def storage_cost(obj: StoredObject) -> int:
    """Storage charged for holding one object version (and rebated when it is replaced): the
    object's `storage_rebate`."""
    return obj.storage_rebate()


def storage_and_rebate(tx: WorkingSet) -> tuple[int, int]:
    """Storage for every object written; rebate for every input version replaced or deleted."""
    written = [
        obj
        for object_id, obj in tx.objects.items()
        if object_id not in tx.deleted
        and (object_id in tx.created or object_id in tx.mutable_inputs)
    ]
    storage = sum(storage_cost(obj) for obj in written)
    rebate = sum(
        storage_cost(obj)
        for object_id, obj in tx.originals.items()
        if object_id in tx.mutable_inputs or object_id in tx.deleted
    )
    return storage, rebate
