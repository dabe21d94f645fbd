"""Devnet read throughput: GetObject and BatchGetObjects calls/s against a real devnet process."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from grpclib.client import Channel
from pysui.sui.sui_grpc.suimsgs.google.protobuf import FieldMask
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2
from rich.console import Console
from rich.table import Table

from harness.devnet import DevnetProcess
from harness.processes import free_port

CALLS = 3000
IN_FLIGHT = 50
BATCH = 50


async def _measure(port: int, ids: list[str]) -> dict[str, float]:
    channel = Channel("127.0.0.1", port)
    ledger = v2.LedgerServiceStub(channel)
    mask = FieldMask(paths=["object_id", "version", "digest", "owner", "json"])
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(i: int) -> None:
        async with sem:
            await ledger.get_object(
                v2.GetObjectRequest(object_id=ids[i % len(ids)], read_mask=mask)
            )

    async def batch(_: int) -> None:
        async with sem:
            await ledger.batch_get_objects(
                v2.BatchGetObjectsRequest(
                    requests=[
                        v2.GetObjectRequest(object_id=ids[j % len(ids)]) for j in range(BATCH)
                    ],
                    read_mask=mask,
                )
            )

    try:
        await one(0)
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(CALLS)))
        single = CALLS / (time.perf_counter() - start)
        start = time.perf_counter()
        rounds = CALLS // BATCH
        await asyncio.gather(*(batch(i) for i in range(rounds)))
        batched = rounds * BATCH / (time.perf_counter() - start)
    finally:
        channel.close()
    return {"get_object_per_s": single, "batch_objects_per_s": batched}


def run(out_dir: Path) -> dict[str, Any]:
    """Start a devnet, measure, stop it; results also written to out_dir/devnet.json."""
    with tempfile.TemporaryDirectory() as tmp:
        node = DevnetProcess(Path(tmp) / "devnet", free_port(), free_port())
        node.start()
        try:
            dep = node.deployment
            ids = [
                i for i in (dep.pool_id, dep.enclave_config_id, dep.admin_cap_id, dep.clock_id) if i
            ]
            results = asyncio.run(_measure(node.grpc_port, ids))
        finally:
            node.stop()
    table = Table(title=f"devnet reads ({CALLS} objects, {IN_FLIGHT} in flight)")
    table.add_column("call")
    table.add_column("objects/s", justify="right")
    for name, value in results.items():
        table.add_row(name, f"{value:,.0f}")
    Console().print(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "devnet.json").write_text(json.dumps(results, indent=2))
    return results
