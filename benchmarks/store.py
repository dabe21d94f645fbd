"""Store put/get operations per second: memory vs SQLite (FULL and NORMAL sync) vs a real etcd
member, each raw and sealed; sealed/raw is the AES-256-GCM overhead, measured in the same run.
Also puts from 32 concurrent writers against the sequential rate of the same store: SQLite's
group commit shares one fsync among the writes queued together."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.etcd import start_etcd_cluster
from k3s_daas.nautilus.audit import AuditLog
from k3s_daas.nautilus.store import Store, open_store

MAX_SECONDS = 2.0  # per measurement
MAX_COUNT = 3000
WRITERS = 32
VALUE = os.urandom(512)  # about a worker record


@contextmanager
def _etcd(tmp: Path) -> Iterator[str | None]:
    """One etcd member on loopback for the run (None when etcd is not installed)."""
    if shutil.which("etcd") is None:
        yield None
        return
    base = tmp / "etcd"
    base.mkdir()
    cluster = start_etcd_cluster(base, 1)
    try:
        yield cluster.url
    finally:
        cluster.stop()


async def _rate(op: Callable[[int], Awaitable[object]]) -> float:
    """Sequential operations per second, bounded by MAX_COUNT and MAX_SECONDS."""
    count = 0
    start = time.perf_counter()
    while count < MAX_COUNT and time.perf_counter() - start < MAX_SECONDS:
        await op(count)
        count += 1
    return count / (time.perf_counter() - start)


async def _concurrent_rate(op: Callable[[int], Awaitable[object]]) -> float:
    """Operations per second from WRITERS concurrent loops, bounded like `_rate`."""
    count = 0
    start = time.perf_counter()

    async def loop() -> None:
        nonlocal count
        while count < MAX_COUNT and time.perf_counter() - start < MAX_SECONDS:
            count += 1
            await op(count)

    await asyncio.gather(*(loop() for _ in range(WRITERS)))
    return count / (time.perf_counter() - start)


async def _measure(store: Store, *, audit: bool) -> dict[str, float]:
    prefix = f"/bench/{os.urandom(4).hex()}/"
    put = await _rate(lambda i: store.put(f"{prefix}{i % 500}", VALUE))
    get = await _rate(lambda i: store.get(f"{prefix}{i % 500}"))
    concurrent = await _concurrent_rate(lambda i: store.put(f"{prefix}c{i % 500}", VALUE))
    result = {"put_per_s": put, "get_per_s": get, "put_concurrent_per_s": concurrent}
    if audit:  # sealed runs only: the audit prefix is global and must stay one kind of value
        log = AuditLog(store)
        result["audit_append_per_s"] = await _rate(
            lambda i: log.append(actor="bench", action="x", subject=str(i), decision="allow")
        )
    await store.close()
    return result


async def _all(tmp: Path, etcd_url: str | None) -> dict[str, dict[str, float]]:
    key = os.urandom(32)
    urls = {
        "memory": "memory://",
        "sqlite (sync FULL)": f"sqlite:///{tmp / 'full.db'}",
        "sqlite (sync NORMAL)": f"sqlite:///{tmp / 'normal.db'}?synchronous=normal",
    }
    if etcd_url is not None:
        urls["etcd (1 member)"] = etcd_url
    results: dict[str, dict[str, float]] = {}
    for name, url in urls.items():
        raw = await _measure(open_store(url), audit=False)
        sealed = await _measure(open_store(url, data_key=key), audit=True)
        results[name] = {
            **{f"raw_{k}": v for k, v in raw.items()},
            **{f"sealed_{k}": v for k, v in sealed.items()},
            "sealed_put_ratio": sealed["put_per_s"] / raw["put_per_s"],
            "sealed_get_ratio": sealed["get_per_s"] / raw["get_per_s"],
            "concurrent_put_ratio": raw["put_concurrent_per_s"] / raw["put_per_s"],
        }
    return results


def run(out_dir: Path) -> dict[str, object]:
    """Measure every backend raw and sealed; print a table; return the numbers."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with _etcd(tmp) as etcd_url:
            results = asyncio.run(_all(tmp, etcd_url))
    table = Table(title=f"Store ops/s (sequential unless x{WRITERS}, 512-byte values)")
    columns = ("backend", "put raw", "put sealed", "get raw", "get sealed")
    extra = ("sealed/raw put", "sealed/raw get", "audit/s (sealed)", "put x32 raw", "x32/seq")
    for column in (*columns, *extra):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['raw_put_per_s']:,.0f}",
            f"{r['sealed_put_per_s']:,.0f}",
            f"{r['raw_get_per_s']:,.0f}",
            f"{r['sealed_get_per_s']:,.0f}",
            f"{r['sealed_put_ratio']:.2f}",
            f"{r['sealed_get_ratio']:.2f}",
            f"{r['sealed_audit_append_per_s']:,.0f}",
            f"{r['raw_put_concurrent_per_s']:,.0f}",
            f"{r['concurrent_put_ratio']:.2f}",
        )
    Console(width=160).print(table)
    return {"value_bytes": len(VALUE), "max_count": MAX_COUNT, "writers": WRITERS,
            "backends": results}  # fmt: skip
