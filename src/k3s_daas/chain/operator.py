"""The operator's steps after a publish, shared by `k3s-daas chain update-pcrs`, `devnet start`
and the master's start-up check.

A publish leaves `EnclaveConfig` with empty PCRs (`nautilus::init`, version 0), so every
`register_enclave` aborts with E_PCR_MISMATCH until the AdminCap owner pins the master image's
PCR0-2 with `update_pcrs`. Pinning is idempotent: equal values send no transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from k3s_daas.chain.errors import ChainError, ObjectNotFound
from k3s_daas.chain.keys import SuiKeyPair
from k3s_daas.chain.package import K3sDaasPackage
from k3s_daas.chain.views import EnclaveConfigView
from k3s_daas.seal.constants import PCR_LENGTH

#: The pinned measurements: PCR0 (image), PCR1 (kernel + boot ramfs), PCR2 (application).
PINNED_PCRS = (0, 1, 2)
NEXT_STEP = "k3s-daas chain update-pcrs"


@dataclass(frozen=True)
class PcrPin:
    """What `pin_pcrs` found or did: the config's version afterwards, and whether it sent."""

    config_id: str
    version: int
    pcrs: dict[int, bytes]
    changed: bool


def short_hex(value: bytes) -> str:
    return value.hex()[:12] + "…" if value else "(empty)"


def pcr_problem(config: EnclaveConfigView, measured: Mapping[int, bytes]) -> str | None:
    """Why `register_enclave` would abort with E_PCR_MISMATCH for an enclave measuring
    `measured`, as one line naming the next step; None when the chain's PCRs match."""
    if config.version == 0 or not any(config.pcrs.values()):
        return (
            f"EnclaveConfig {config.id} has no PCRs yet (version {config.version}, as a publish "
            f"leaves it), so register_enclave would abort with E_PCR_MISMATCH: the AdminCap "
            f"owner pins the master image's measurements first: {NEXT_STEP}"
        )
    differ = [i for i in PINNED_PCRS if config.pcrs[i] != measured.get(i, b"")]
    if not differ:
        return None
    i = differ[0]
    return (
        f"this enclave's PCR{i} ({short_hex(measured.get(i, b''))}) differs from the one pinned "
        f"in EnclaveConfig {config.id} (version {config.version}: {short_hex(config.pcrs[i])}), "
        f"so register_enclave would abort with E_PCR_MISMATCH: pin this image's measurements "
        f"with {NEXT_STEP}"
    )


def check_pcrs(pcrs: Mapping[int, bytes]) -> dict[int, bytes]:
    """PCR0-2 exactly, each 48 bytes (SHA-384), as `update_pcrs` requires."""
    missing = [i for i in PINNED_PCRS if i not in pcrs]
    if missing:
        raise ValueError(f"PCR{missing[0]} is missing: PCR0, PCR1 and PCR2 are all pinned")
    for i in PINNED_PCRS:
        if len(pcrs[i]) != PCR_LENGTH:
            raise ValueError(f"PCR{i} is {len(pcrs[i])} bytes; a PCR is {PCR_LENGTH} (SHA-384)")
    return {i: bytes(pcrs[i]) for i in PINNED_PCRS}


async def check_admin(package: K3sDaasPackage, admin: SuiKeyPair) -> None:
    """Check `admin` owns the deployment's AdminCap: a clear line instead of a rejection.
    (Without an AdminCap id the package looks for one among the key's objects.)"""
    cap_id = package.deployment.admin_cap_id
    if not cap_id:
        return
    cap = await package.client.get_object(cap_id)
    if cap is None:
        raise ObjectNotFound(f"AdminCap {cap_id} not found: is the deployment for this chain?")
    if cap.owner != admin.address:
        raise ChainError(
            f"AdminCap {cap_id} is owned by {cap.owner or 'nobody'}, not by this key "
            f"({admin.address}): sign with the key that published the package",
            reason="not_admin",
        )


async def pin_pcrs(package: K3sDaasPackage, admin: SuiKeyPair, pcrs: Mapping[int, bytes]) -> PcrPin:
    """Make the chain's expected PCR0-2 equal `pcrs` (one `update_pcrs`, none if they are)."""
    wanted = check_pcrs(pcrs)
    config = await package.get_enclave_config()
    if config.version > 0 and config.pcrs == wanted:
        return PcrPin(config.id, config.version, config.pcrs, changed=False)
    await check_admin(package, admin)
    await package.update_pcrs(admin, wanted)
    config = await package.get_enclave_config()
    return PcrPin(config.id, config.version, config.pcrs, changed=True)


__all__ = [
    "NEXT_STEP",
    "PINNED_PCRS",
    "PcrPin",
    "check_admin",
    "check_pcrs",
    "pcr_problem",
    "pin_pcrs",
]
