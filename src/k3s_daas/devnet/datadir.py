"""A devnet's data directory: served by one process at a time, and created whole or not at all.

A new chain is built (genesis) in a hidden directory beside the target and renamed into place,
so a start that dies half-way never leaves a directory that looks like a chain; a start that
fails later, before it served (a port in use), removes the chain it created.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from k3s_daas.devnet.errors import DevnetError
from k3s_daas.devnet.genesis import LEDGER_FILE, ensure_genesis
from k3s_daas.devnet.ledger import Ledger
from k3s_daas.devnet.lock import LOCK_FILE, DataDirLock
from k3s_daas.devnet.validators import VALIDATOR_SECRET_FILE, ValidatorKeys


@dataclass
class Claim:
    """This process's hold on a data directory; `created`: genesis ran in this start; `served`:
    the devnet got ready (set by the server)."""

    data_dir: Path
    lock: DataDirLock
    created: bool
    served: bool = False

    def release(self) -> None:
        """Let go; a directory this start created and never served is removed first."""
        if self.created and not self.served:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.lock.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(parent: Path, name: str) -> None:
    """Genesis directories left by starts that were killed (their pid is gone)."""
    for path in parent.glob(f".{name}.genesis-*"):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _has_other_files(data_dir: Path) -> bool:
    return data_dir.is_dir() and any(p.name != LOCK_FILE for p in data_dir.iterdir())


def claim(data_dir: Path, validators: int | None = None) -> Claim:
    """Lock `data_dir` (DevnetRunning if another devnet serves it), running genesis first when
    it holds no chain yet (with `validators` validators, default 4; their secret is created
    beside the ledger and moves into place with it)."""
    if (data_dir / LEDGER_FILE).exists():
        return Claim(data_dir, DataDirLock.acquire(data_dir), created=False)
    if _has_other_files(data_dir):
        raise DevnetError(
            f"{data_dir} holds files but no devnet ledger: pass another --data, or remove it"
        )
    parent = data_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(parent, data_dir.name)
    staging = parent / f".{data_dir.name}.genesis-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    lock = DataDirLock.acquire(staging)
    try:
        keys = ValidatorKeys.load_or_create(staging / VALIDATOR_SECRET_FILE)
        ledger = Ledger(staging / LEDGER_FILE, keys)
        try:
            ensure_genesis(staging, ledger, keys, validators)
        finally:
            ledger.close()
        with contextlib.suppress(FileNotFoundError):
            if not any(data_dir.iterdir()):  # an empty directory (the lock file at most)
                shutil.rmtree(data_dir)
        os.rename(staging, data_dir)
    except OSError as exc:
        lock.release()
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):  # another start created it meanwhile
            return Claim(data_dir, DataDirLock.acquire(data_dir), created=False)
        raise
    except BaseException:
        lock.release()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    lock.path = data_dir / LOCK_FILE
    return Claim(data_dir, lock, created=True)
