"""Many node stakes at once, for scale benchmarks: one PTB stakes and mints for up to `PER_TX`
nodes (the same Move call per node, as `K3sDaasPackage.stake_and_create_worker_token` makes it),
so 10,000 workers take a few hundred transactions instead of 10,000."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from harness.devnet import DevnetProcess
from harness.master import Staker
from k3s_daas.chain import (
    ChainClient,
    ChainError,
    K3sDaasPackage,
    MintedToken,
    SealTokenView,
    SuiKeyPair,
    request_gas,
)
from k3s_daas.seal.token import format_token, new_secret, secret_commitment

PER_TX: Final = 100
#: Gas budget of one bulk transaction (the devnet charges per command: two per node).
BULK_GAS_BUDGET: Final = 2_000_000_000
#: One faucet grant per key: 100 SUI (the devnet's most) pays for every batch of one key.
FAUCET_GRANT: Final = 100_000_000_000


async def _mint_batch(
    pkg: K3sDaasPackage, key: SuiKeyPair, amount: int, nodes: list[str]
) -> list[Staker]:
    secrets_by_node = {node: new_secret() for node in nodes}

    async def build(ptb: Any) -> None:
        pool = await pkg._shared(ptb, pkg.deployment.pool_id, mutable=True)
        config = await pkg._shared(ptb, pkg.deployment.enclave_config_id, mutable=False)
        for node in nodes:
            commitment = ptb.bytes_(secret_commitment(secrets_by_node[node]))
            args = [pool, config, ptb.split_gas(amount), ptb.string(node), commitment]
            pkg._call(ptb, "k8s_gateway", "stake_and_create_worker_seal_token", args)

    result = await pkg.transact(key, build, spend=amount * len(nodes))
    out = []
    for change in result.created_of_type(pkg.type_of(SealTokenView)):
        obj = result.objects.get(change.object_id) or await pkg.client.get_object(change.object_id)
        if obj is None:
            raise ChainError(f"minted token {change.object_id} not readable")
        view = SealTokenView.from_object(obj, pkg.package_id)
        token = format_token(view.id, secrets_by_node[view.node_id])
        out.append(Staker(key, view.node_id, MintedToken(token, view.id, view.stake_record, view)))
    if len(out) != len(nodes):
        raise ChainError(f"bulk mint created {len(out)} tokens for {len(nodes)} nodes")
    return out


async def mint_many(
    client: ChainClient, devnet: DevnetProcess, nodes: list[str], *, signers: int = 16,
    amount: int = 1_000,
) -> list[Staker]:  # fmt: skip
    """A funded staker for every node in `nodes` (keys shared by `signers` stakers, as an
    operator running many nodes would), minted `PER_TX` per transaction, `signers` at a time."""
    pkg = K3sDaasPackage(client, devnet.deployment, gas_budget=BULK_GAS_BUDGET)
    keys = [SuiKeyPair.generate() for _ in range(signers)]
    for key in keys:
        await request_gas(devnet.faucet_url, key.address, amount=FAUCET_GRANT, timeout=30)
    batches = [nodes[i : i + PER_TX] for i in range(0, len(nodes), PER_TX)]

    async def signer_loop(index: int) -> list[Staker]:
        minted: list[Staker] = []
        for batch in batches[index::signers]:
            minted += await _mint_batch(pkg, keys[index], amount, batch)
        return minted

    results = await asyncio.gather(*(signer_loop(i) for i in range(signers)))
    return [staker for chunk in results for staker in chunk]
