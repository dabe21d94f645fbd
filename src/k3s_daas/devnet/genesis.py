"""Genesis: the admin key, the dev attestation CA, the package objects and the admin's coins.

Runs once per data directory; everything lands in ONE ledger transaction (checkpoint 0), whose
digest becomes the chain id. A second start on the same directory resumes from the ledger.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from k3s_daas.attestation.devca import ROOT_CERT_FILE, ROOT_KEY_FILE, load_or_create_dev_ca
from k3s_daas.attestation.pcrs import simulated_pcrs
from k3s_daas.chain.deployment import Deployment
from k3s_daas.chain.endpoint import Endpoint
from k3s_daas.chain.keys import SuiKeyPair
from k3s_daas.devnet.errors import LedgerError
from k3s_daas.devnet.ids import (
    ADMIN_COIN_MIST,
    ADMIN_COINS,
    CLOCK,
    PACKAGE_ID,
)
from k3s_daas.devnet.ledger import Ledger, PendingTx, canonical_json
from k3s_daas.devnet.node import derive_object_id, system_digest
from k3s_daas.devnet.package import PackageIds, coin_object, genesis_objects
from k3s_daas.log import get_logger

log = get_logger(__name__)

ADMIN_KEY_FILE = "admin.key"
LEDGER_FILE = "ledger.sqlite3"
ATTESTATION_DIR = "attestation"


@dataclass(frozen=True)
class GenesisInfo:
    """Ids fixed at genesis (stored in the ledger's meta table)."""

    chain_id: str
    package_id: str
    pool_id: str
    enclave_config_id: str
    admin_cap_id: str
    admin_address: str

    def deployment(
        self, data_dir: Path, grpc_port: int, faucet_port: int, host: str = "127.0.0.1"
    ) -> Deployment:
        """devnet.json for this run (ports may change between runs, ids never do)."""
        data_dir = data_dir.resolve()
        return Deployment(
            chain_id=self.chain_id,
            grpc_endpoints=[Endpoint(host, grpc_port, tls=False)],
            package_id=self.package_id,
            pool_id=self.pool_id,
            enclave_config_id=self.enclave_config_id,
            clock_id=CLOCK,
            admin_cap_id=self.admin_cap_id,
            admin_key_path=str(data_dir / ADMIN_KEY_FILE),
            faucet_url=f"http://{host}:{faucet_port}",
            admin_url=f"http://{host}:{faucet_port}/devnet",
            attestation_root_path=str(data_dir / ATTESTATION_DIR / ROOT_CERT_FILE),
            attestation_ca_key_path=str(data_dir / ATTESTATION_DIR / ROOT_KEY_FILE),
        )


def package_ids() -> PackageIds:
    return PackageIds(package_id=PACKAGE_ID, clock_id=CLOCK)


def _info(ledger: Ledger) -> GenesisInfo:
    values = {
        key: ledger.meta_get(key)
        for key in (
            "chain_id",
            "package_id",
            "pool_id",
            "enclave_config_id",
            "admin_cap_id",
            "admin_address",
        )
    }
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise LedgerError(f"ledger {ledger.path} lacks genesis ids: {', '.join(missing)}")
    return GenesisInfo(**{k: str(v) for k, v in values.items()})


def _by_suffix(objects: list[object], suffix: str) -> str:
    for obj in objects:
        if str(getattr(obj, "type", "")).endswith(suffix):
            return str(getattr(obj, "object_id"))  # noqa: B009
    raise LedgerError(f"genesis produced no {suffix} object")


def ensure_genesis(data_dir: Path, ledger: Ledger) -> GenesisInfo:
    """Return the genesis ids, running genesis first if this ledger has none."""
    if ledger.initialized:
        return _info(ledger)
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path = data_dir / ADMIN_KEY_FILE
    # a crash between writing the key and committing genesis leaves the key: reuse it
    admin = SuiKeyPair.load(key_path) if key_path.exists() else SuiKeyPair.generate()
    if not key_path.exists():
        admin.save(key_path)
    load_or_create_dev_ca(data_dir / ATTESTATION_DIR)
    pcrs = simulated_pcrs()
    body = canonical_json(
        {"kind": "genesis", "admin": admin.address, "package": PACKAGE_ID}
    ).encode()
    digest = system_digest(b"DevnetGenesisTransaction::", body)
    objects = [
        dataclasses.replace(obj, previous_transaction=digest)
        for obj in genesis_objects(package_ids(), admin.address, pcrs)
    ]
    coins = [
        coin_object(derive_object_id(digest, 1000 + i), admin.address, ADMIN_COIN_MIST, 1, digest)
        for i in range(ADMIN_COINS)
    ]
    created: list[object] = list(objects)
    meta = {
        "package_id": PACKAGE_ID,
        "pool_id": _by_suffix(created, "::staking::StakingPool"),
        "enclave_config_id": _by_suffix(created, "::nautilus::EnclaveConfig"),
        "admin_cap_id": _by_suffix(created, "::staking::AdminCap"),
        "admin_address": admin.address,
    }
    ledger.commit(
        PendingTx(
            digest=digest,
            kind="genesis",
            sender=admin.address,
            tx_bytes=body,
            signatures=[],
            status={"success": True},
            gas_used={"computation": 0, "storage": 0, "rebate": 0},
            gas_object=None,
            lamport_version=1,
            created=[*objects, *coins],
            meta=meta,
        )
    )
    info = _info(ledger)
    log.info("genesis", chain_id=info.chain_id, admin=admin.address, package=PACKAGE_ID)
    return info
