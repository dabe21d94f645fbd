"""A full disk under the master's SQLite store, under worker load, then space freed again.

The master runs in its own mount namespace (`unshare`) with a 16 MiB tmpfs holding only the
store, so the mount cannot outlive it; the test fills that filesystem through
`/proc/<pid>/root` until ENOSPC. Writes are then refused 503 (never 500, never a hang), the
master stays up, and once the filler is deleted the same process acknowledges writes again.
Every write acknowledged before, during and after is in the store.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess
from harness.processes import free_port
from k3s_daas.nautilus.worker_record import WorkerRecord
from tests.conftest import require_tool
from tests.faults.load import Acks, cancel, drive, mint, parse_records

TMPFS_SIZE = "16m"
#: From the full disk to the first 503 (the WAL and free pages absorb writes for a while).
FULL_BOUND = 30.0
#: Longest answer while the disk is full.
ANSWER_BOUND = 5.0
#: From the filler's removal to the first acknowledged write.
RECOVERY_BOUND = 10.0


def fill(path: Path) -> int:
    """Write `path` until the filesystem is full; the bytes written."""
    written = 0
    chunk = b"\0" * (256 * 1024)
    with path.open("wb", buffering=0) as filler:
        try:
            while True:
                written += filler.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return written


def read_inside(pid: int, store_url: str, data_key: bytes) -> dict[str, WorkerRecord]:
    """The registry in the store of process `pid`, read from within its mount namespace
    (SQLite resolves `/proc/<pid>/root` to our own root, so it must be opened there)."""
    code = (
        "import asyncio, sys; from tests.faults.load import stored_records; "
        "records = asyncio.run(stored_records(sys.argv[1], bytes.fromhex(sys.stdin.read()))); "
        "print('\\n'.join(r.to_json().decode() for r in records.values()))"
    )
    done = subprocess.run(
        ["nsenter", "--target", str(pid), "--mount", "--", sys.executable, "-c", code, store_url],
        input=data_key.hex(), capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return parse_records(line.encode() for line in done.stdout.splitlines() if line)


@pytest.mark.parametrize(
    ("workers", "full_for"),
    [
        pytest.param(4, 3.0, id="short", marks=pytest.mark.timeout(300)),
        pytest.param(12, 20.0, id="long", marks=[pytest.mark.faults, pytest.mark.timeout(600)]),
    ],
)
async def test_disk_full_answers_503_then_recovers(
    devnet: DevnetProcess, tmp_path: Path, workers: int, full_for: float
) -> None:
    tools = all(shutil.which(t) for t in ("unshare", "nsenter"))
    require_tool(os.geteuid() == 0 and tools, "root, unshare and nsenter")
    small = tmp_path / "small"
    small.mkdir()
    mount = f'mount -t tmpfs -o size={TMPFS_SIZE},mode=0700 tmpfs "$0" && exec "$@"'
    master = MasterProcess(
        devnet, tmp_path / "master", free_port(),
        {"K3S_DAAS_NAUTILUS_STORE_URL": f"sqlite:///{small}/store.db"},
        wrap=("unshare", "--mount", "--propagation", "private", "sh", "-c", mount, str(small)),
    )  # fmt: skip
    master.start()
    try:
        inside = Path(f"/proc/{master.proc.pid}/root{small}")  # the tmpfs, seen from outside
        assert (inside / "store.db").exists() and not (small / "store.db").exists()
        stakers = await mint(devnet, f"d{master.port}", workers)
        acks = Acks()
        tls = ssl.create_default_context(cafile=master.ca_path)
        async with httpx.AsyncClient(base_url=master.url, verify=tls, timeout=30) as http:
            tasks = [asyncio.create_task(drive(http, s, lambda: master.public_key, acks))
                     for s in stakers]  # fmt: skip
            await asyncio.sleep(1.5)
            filled = await asyncio.to_thread(fill, inside / "filler")
            full = time.monotonic()
            deadline = full + FULL_BOUND
            while 503 not in acks.statuses(since=full) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            first_503 = time.monotonic() - full
            await asyncio.sleep(full_for)
            (inside / "filler").unlink()
            freed = time.monotonic()
            await asyncio.sleep(3.0)
            recovery = acks.first_ack_after(freed)
            await cancel(tasks)
        key = (master.data_dir / "data.key").read_bytes()
        records = read_inside(master.proc.pid, f"sqlite:///{small}/store.db", key)
        while_full = acks.statuses(since=full, until=freed)
        slowest = acks.slowest(since=full, until=freed)
        print(
            f"\ndisk full ({filled / 2**20:.1f} MiB filler), {workers} workers: "
            f"{len(acks.registered)} registrations + {sum(acks.beats.values())} heartbeats "
            f"acknowledged, {len(acks.lost(records))} lost; first 503 {first_503:.1f} s after "
            f"the disk filled; while full {dict(while_full)}, slowest answer {slowest:.2f} s; "
            f"recovery {recovery if recovery is None else round(recovery, 2)} s"
        )
        assert 503 in while_full, while_full
        assert set(while_full) <= {200, 503}, while_full
        assert slowest <= ANSWER_BOUND
        assert recovery is not None and recovery <= RECOVERY_BOUND
        assert not acks.lost(records)
        assert master.proc.poll() is None
        assert not (small / "store.db").exists()  # the store lived only on the tmpfs
    finally:
        master.stop()
