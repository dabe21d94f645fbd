"""Genesis: the admin key, the validator committee, the dev attestation CA, the package objects
and the admin's coins.

Runs once per data directory; everything lands in ONE ledger transaction (Sui's `Genesis`
kind) certified as checkpoint 0 by the genesis committee, and that checkpoint's digest becomes
the chain id. The committee goes into devnet.json as the verifier's trusted anchor. A second
start on the same directory resumes from the ledger. The package objects are exactly what
`sui client publish` leaves: the EnclaveConfig has EMPTY PCRs (version 0), as `nautilus::init`
makes it; pinning them is the operator's separate step (`devnet.operator`), never genesis's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from k3s_daas.attestation.devca import ROOT_CERT_FILE, ROOT_KEY_FILE, load_or_create_dev_ca
from k3s_daas.chain import Deployment, Endpoint, SuiKeyPair
from k3s_daas.chain.deployment import CommitteeAnchor
from k3s_daas.devnet.errors import LedgerError
from k3s_daas.devnet.ids import (
    ADMIN_COIN_MIST,
    ADMIN_COINS,
    CLOCK,
    PACKAGE_ID,
)
from k3s_daas.devnet.ledger import Ledger
from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.package import PackageIds, coin_object, derive_id, genesis_objects
from k3s_daas.devnet.system import SystemTransaction, genesis_transaction
from k3s_daas.devnet.validators import (
    DEFAULT_VALIDATORS,
    VALIDATOR_SECRET_FILE,
    EpochCommittee,
    ValidatorKeys,
)
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
    #: The genesis committee: the anchor checkpoints are verified from.
    committee: EpochCommittee

    def deployment(
        self, data_dir: Path, grpc_port: int, faucet_port: int, host: str = "127.0.0.1"
    ) -> Deployment:
        """devnet.json for this run (ports may change between runs, ids never do): gRPC at
        `host`, the faucet and admin API on loopback (they serve loopback peers only)."""
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
            faucet_url=f"http://127.0.0.1:{faucet_port}",
            admin_url=f"http://127.0.0.1:{faucet_port}/devnet",
            attestation_root_path=str(data_dir / ATTESTATION_DIR / ROOT_CERT_FILE),
            attestation_ca_key_path=str(data_dir / ATTESTATION_DIR / ROOT_KEY_FILE),
            committee=CommitteeAnchor.of(self.committee.committee()),
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
    genesis_epoch = ledger.epoch_info(0)
    if genesis_epoch is None:
        missing.append("committee")
    if missing:
        raise LedgerError(f"ledger {ledger.path} lacks genesis ids: {', '.join(missing)}")
    assert genesis_epoch is not None
    return GenesisInfo(**{k: str(v) for k, v in values.items()}, committee=genesis_epoch.committee)


def _by_suffix(objects: list[StoredObject], suffix: str) -> str:
    for obj in objects:
        if obj.type.endswith(suffix):
            return obj.object_id
    raise LedgerError(f"genesis produced no {suffix} object")


def ensure_genesis(
    data_dir: Path, ledger: Ledger, validators: ValidatorKeys, count: int | None = None
) -> GenesisInfo:
    """Return the genesis ids, running genesis first if this ledger has none; `count`
    validators (default 4) at genesis, and a resumed devnet must have been made with as many."""
    if ledger.initialized:
        info = _info(ledger)
        made = len(info.committee.validators)
        if count is not None and count != made:
            raise LedgerError(f"this devnet was created with {made} validators, not {count}")
        current = ledger.epoch_info(ledger.epoch())
        if current is None or not validators.holds(current.committee):
            raise LedgerError(
                f"{data_dir / VALIDATOR_SECRET_FILE} does not hold this devnet's validator keys"
            )
        return info
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path = data_dir / ADMIN_KEY_FILE
    # a crash between writing the key and committing genesis leaves the key: reuse it
    admin = SuiKeyPair.load(key_path) if key_path.exists() else SuiKeyPair.generate()
    if not key_path.exists():
        admin.save(key_path)
    load_or_create_dev_ca(data_dir / ATTESTATION_DIR)
    committee = validators.genesis(DEFAULT_VALIDATORS if count is None else count)
    created = [
        *genesis_objects(package_ids(), admin.address, pcrs={}),
        *(
            coin_object(derive_id(f"k3s-daas genesis coins {admin.address}", i), admin.address,
                        ADMIN_COIN_MIST, 1, "")
            for i in range(ADMIN_COINS)
        ),
    ]  # fmt: skip
    genesis = SystemTransaction("genesis", genesis_transaction(created))
    objects = [dataclasses.replace(obj, previous_transaction=genesis.digest) for obj in created]
    meta = {
        "package_id": PACKAGE_ID,
        "pool_id": _by_suffix(objects, "::staking::StakingPool"),
        "enclave_config_id": _by_suffix(objects, "::nautilus::EnclaveConfig"),
        "admin_cap_id": _by_suffix(objects, "::staking::AdminCap"),
        "admin_address": admin.address,
    }
    ledger.commit(genesis.executed(objects, epoch=0), meta=meta, genesis_committee=committee)
    info = _info(ledger)
    log.info(
        "genesis",
        chain_id=info.chain_id,
        admin=admin.address,
        package=PACKAGE_ID,
        validators=len(committee.validators),
    )
    return info
