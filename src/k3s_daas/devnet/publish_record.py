"""`DIR/publish.json`: the devnet's genesis publish written the way `sui client publish --json`
prints a publish, so the operator path (`k3s-daas chain import-publish`) can be rehearsed here.

The shape is the CLI's `SuiTransactionBlockResponse`: `digest`, `effects` (status, created
references), `objectChanges` (`published` with the module names, `created` with sender, owner
JSON, full object type, id, version and digest), `balanceChanges`, `checkpoint`. Only what the
genesis publish really created appears (no UpgradeCap: the devnet has no package upgrades).
Transaction and object digests are Sui's; the package's is a stand-in (the package is native).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import base58

from k3s_daas.chain import PACKAGE_MODULES
from k3s_daas.devnet.errors import LedgerError
from k3s_daas.devnet.genesis import GenesisInfo
from k3s_daas.devnet.ledger import Ledger
from k3s_daas.devnet.objects import AddressOwner, Owner, SharedOwner
from k3s_daas.seal.sui import blake2b256

PUBLISH_JSON = "publish.json"


def _owner(owner: Owner) -> Any:
    """Sui's owner JSON (`sui_types::object::Owner` as the CLI prints it)."""
    if isinstance(owner, AddressOwner):
        return {"AddressOwner": owner.address}
    if isinstance(owner, SharedOwner):
        return {"Shared": {"initial_shared_version": owner.initial_shared_version}}
    return "Immutable"


def publish_record(ledger: Ledger, info: GenesisInfo) -> dict[str, Any]:
    """The publish output for this devnet's genesis (objects at the version genesis made)."""
    rows = []
    for object_id in (info.admin_cap_id, info.pool_id, info.enclave_config_id):
        row = ledger.object_row(object_id, version=1)
        if row is None:
            raise LedgerError(f"genesis object {object_id} has no version 1")
        rows.append(row)
    digest = rows[0].obj.previous_transaction
    package_digest = base58.b58encode(blake2b256(bytes.fromhex(info.package_id[2:]))).decode()
    created = [
        {
            "type": "created",
            "sender": info.admin_address,
            "owner": _owner(row.obj.owner),
            "objectType": row.obj.type,
            "objectId": row.obj.object_id,
            "version": str(row.obj.version),
            "digest": row.digest,
        }
        for row in rows
    ]
    published = {
        "type": "published",
        "packageId": info.package_id,
        "version": "1",
        "digest": package_digest,
        "modules": list(PACKAGE_MODULES),
    }
    effects = {
        "messageVersion": "v1",
        "status": {"status": "success"},
        "executedEpoch": "0",
        "gasUsed": {"computationCost": "0", "storageCost": "0", "storageRebate": "0",
                    "nonRefundableStorageFee": "0"},
        "transactionDigest": digest,
        "created": [
            {"owner": c["owner"],
             "reference": {"objectId": c["objectId"], "version": 1, "digest": c["digest"]}}
            for c in created
        ],
    }  # fmt: skip
    return {
        "digest": digest,
        "effects": effects,
        "objectChanges": [*created, published],
        "balanceChanges": [],
        "confirmedLocalExecution": True,
        "checkpoint": "0",
    }


def write_publish_record(data_dir: Path, ledger: Ledger, info: GenesisInfo) -> Path:
    """Write `DIR/publish.json` (atomically) and return its path."""
    path = data_dir / PUBLISH_JSON
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(publish_record(ledger, info), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
