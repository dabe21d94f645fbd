"""One devnet per data directory: an exclusive `flock` on `<data>/devnet.lock`, held while it
serves, the file naming the holder (pid, gRPC address) so a second start says who to stop.

The kernel drops the lock when the holder dies, so a crashed devnet never blocks the next one;
the file itself stays (emptied on a clean stop) and means nothing unless it is locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from k3s_daas.devnet.errors import DevnetError

LOCK_FILE = "devnet.lock"


class DevnetRunning(DevnetError):
    """Another process serves this data directory."""

    reason = "devnet_running"


@dataclass(frozen=True)
class Holder:
    """Who holds a data directory's lock: its pid and, once it listens, its gRPC address."""

    pid: int | None
    address: str | None

    def describe(self) -> str:
        where = f"at {self.address}" if self.address else "(still starting)"
        pid = f"pid {self.pid}" if self.pid is not None else "pid unknown"
        return f"devnet already running {where} ({pid})"


def _read_holder(fd: int) -> Holder:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        data = {}
    pid, address = data.get("pid"), data.get("address")
    return Holder(
        pid if isinstance(pid, int) else None, address if isinstance(address, str) else None
    )


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _running(found: Holder) -> DevnetRunning:
    hint = f"stop it (kill {found.pid})" if found.pid else "stop it"
    return DevnetRunning(f"{found.describe()}: use it, {hint}, or pass another --data")


class DataDirLock:
    """The held lock of one data directory (released by `release`, or by the process dying)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        """Lock `data_dir` for this process, or raise DevnetRunning naming the holder."""
        path = data_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            found = _read_holder(fd)
            os.close(fd)
            raise _running(found)
        lock = cls(path, fd)
        lock.record(None)
        return lock

    def record(self, address: str | None) -> None:
        """Write who holds the lock (the address once both servers listen)."""
        if self._fd is None:
            return
        body = json.dumps({"pid": os.getpid(), "address": address}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, body + b"\n", 0)

    def release(self) -> None:
        """Empty the file and unlock it (idempotent)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the only descriptor drops the flock
        self._fd = None


def holder(data_dir: Path) -> Holder | None:
    """Who serves `data_dir` right now, or None (no devnet holds its lock)."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd):
            return None
        return _read_holder(fd)
    finally:
        os.close(fd)  # also drops the probe's lock if it got one


def ensure_free(data_dir: Path) -> None:
    """DevnetRunning naming the holder if a devnet serves `data_dir` (a check before binding
    ports, so a second start says who runs rather than that its port is taken)."""
    found = holder(data_dir)
    if found is not None:
        raise _running(found)
