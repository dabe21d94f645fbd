"""What an operator does after `sui client publish`, done by `devnet start` after genesis: each
step a separate transaction signed by the admin key and sent over the devnet's own gRPC
endpoint, through the same code as `k3s-daas chain update-pcrs`.

The one step is `nautilus::update_pcrs` with the simulated enclave's PCRs (the installed code's
measurement). The pool needs none: genesis's StakingPool holds exactly the thresholds
`staking::init` sets, as after a real publish. Pinning is idempotent, so a restart sends
nothing, and a code change since the last start pins the new measurement.
"""

from __future__ import annotations

from pathlib import Path

from k3s_daas.attestation.pcrs import simulated_pcrs
from k3s_daas.chain import (
    ChainClient,
    Deployment,
    K3sDaasPackage,
    PcrPin,
    SuiKeyPair,
    pin_pcrs,
    short_hex,
)
from k3s_daas.log import get_logger

log = get_logger(__name__)


async def run_operator_steps(deployment: Deployment) -> PcrPin:
    """Pin the simulated enclave's PCR0-2 (one signed `update_pcrs`, none when already set)."""
    admin = SuiKeyPair.load(Path(str(deployment.admin_key_path)))
    async with ChainClient.from_deployment(deployment) as client:
        pin = await pin_pcrs(K3sDaasPackage(client, deployment), admin, simulated_pcrs())
    log.info(
        "operator step: update_pcrs" if pin.changed else "operator step: PCRs already pinned",
        config=pin.config_id,
        version=pin.version,
        pcr0=short_hex(pin.pcrs[0]),
    )
    return pin
