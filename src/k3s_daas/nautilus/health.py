"""`/livez` and `/readyz`, kube-apiserver style: named checks, `?verbose` lists each one.

A load balancer or kubelet-style prober sends traffic only to a ready master: the chain answered
within `staleness` (else every cached answer is about to expire and new tokens fail closed), the
watcher is at most `ready_max_lag` checkpoints behind the tip (else revocations are late), the
store takes a write (else registrations and heartbeats fail), and the enclave is registered on
chain (else workers cannot attest it). `/livez` only says the process serves: restarting a live
master does not bring a stopped chain back.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from k3s_daas.log import get_logger
from k3s_daas.nautilus.registry import KeyValueStore

log = get_logger(__name__)

#: A check: None when it passes, else why not (one short line).
Probe = Callable[[], Awaitable[str | None]]
#: The key each master writes (with a TTL, so it never accumulates) to prove the store writable.
PROBE_PREFIX: Final = "/health/ready/"
STORE_PROBE_TTL: Final = 60.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    failure: str | None  # None: passed

    @property
    def line(self) -> str:
        if self.failure is None:
            return f"[+]{self.name} ok"
        return f"[-]{self.name} failed: {self.failure}"


class ChainFollower(Protocol):
    """What the chain and watcher checks read (nautilus.watcher.ChainWatcher)."""

    lag: int

    def chain_age(self) -> float | None: ...


def chain_check(watcher: ChainFollower, staleness: float) -> Probe:
    async def probe() -> str | None:
        age = watcher.chain_age()
        if age is None:
            return "the chain has not answered since start"
        if age > staleness:
            return f"no answer from the chain for {age:.0f}s (staleness {staleness:g}s)"
        return None

    return probe


def watcher_check(watcher: ChainFollower, max_lag: int) -> Probe:
    async def probe() -> str | None:
        if watcher.lag > max_lag:
            return f"{watcher.lag} checkpoints behind the tip (at most {max_lag})"
        return None

    return probe


class StoreCheck:
    """Writes one key (with a TTL); a result is reused for `cache_seconds`, so a flood of probes
    costs one write per interval, and concurrent probes share it."""

    def __init__(self, store: KeyValueStore, timeout: float, cache_seconds: float = 1.0) -> None:
        self.store = store
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.key = PROBE_PREFIX + os.urandom(8).hex()
        self._last: tuple[float, str | None] | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> str | None:
        async with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < self.cache_seconds:
                return self._last[1]
            failure = await self._write()
            self._last = (time.monotonic(), failure)
            return failure

    async def _write(self) -> str | None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.store.put(self.key, str(time.time()).encode(), ttl=STORE_PROBE_TTL)
        except TimeoutError:
            return f"a write took over {self.timeout:g}s"
        except Exception as exc:  # any backend failure is a failed check, never a 500
            reason = getattr(exc, "reason", type(exc).__name__)
            log.warning("readiness store write failed", reason=reason)
            return f"a write failed ({reason})"
        return None


def enclave_check(enclave_id: Callable[[], str]) -> Probe:
    async def probe() -> str | None:
        return None if enclave_id() else "the enclave is not registered on chain"

    return probe


class Readiness:
    """The named checks of `/readyz`, run concurrently."""

    def __init__(self, checks: Sequence[tuple[str, Probe]]) -> None:
        self.checks = list(checks)

    async def run(self) -> list[CheckResult]:
        async def one(name: str, probe: Probe) -> CheckResult:
            try:
                return CheckResult(name, await probe())
            except Exception as exc:  # a broken check fails, it does not crash the endpoint
                return CheckResult(name, f"check error ({type(exc).__name__})")

        return list(await asyncio.gather(*(one(name, probe) for name, probe in self.checks)))


def report(what: str, results: Sequence[CheckResult], verbose: bool) -> tuple[int, str]:
    """The status and text body, as kube-apiserver writes them: `ok` when all pass (the list
    with `?verbose`), else 503 and the list ending `readyz check failed`."""
    failed = any(r.failure is not None for r in results)
    if not failed and not verbose:
        return 200, "ok"
    lines = [r.line for r in results]
    lines.append(f"{what} check failed" if failed else f"{what} check passed")
    return (503 if failed else 200), "\n".join(lines) + "\n"


__all__ = [
    "CheckResult",
    "Readiness",
    "StoreCheck",
    "chain_check",
    "enclave_check",
    "report",
    "watcher_check",
]
