"""The worker's masters as one pool: attested on first use, the one that answered last tried
first, and the next one tried at once when it cannot be reached (failover within one heartbeat).

Replicas share the registry (etcd), so the master a worker fails over to already holds its record
and takes its heartbeats without a re-registration; a master with a store of its own answers
`not_registered` and the agent registers there. Timeouts are short next to the heartbeat
interval, so a dead or hung master costs a heartbeat at most one timeout before the next is
asked. A master that restarted has a new enclave key: its refusal `bad_signature` (our request
was signed for the old key) re-attests it once, and an attestation naming a key the chain did
not list when we read it re-reads the chain once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509

from k3s_daas.chain import ChainError, SuiKeyPair
from k3s_daas.log import get_logger
from k3s_daas.seal.protocol import Reason
from k3s_daas.worker.attested import (
    AttestedMaster,
    MasterNotTrusted,
    MasterUnreachable,
    RegisteredEnclave,
    attest_master,
)
from k3s_daas.worker.master import MasterClient, MasterRejected, MasterUnavailable

log = get_logger("k3s_daas.worker.masters")
T = TypeVar("T")


@dataclass(frozen=True)
class Trust:
    """What attestation checks against, read from the chain: the pinned root, the PCRs, the
    registered enclaves, and the master URLs to try in order."""

    root: x509.Certificate
    pcrs: dict[int, bytes]
    enclaves: list[RegisteredEnclave]
    urls: list[str]


@dataclass(frozen=True)
class Timeouts:
    """Seconds: to open a connection, for a heartbeat, and for everything else."""

    connect: float
    heartbeat: float
    request: float

    @classmethod
    def for_interval(cls, interval: float, request: float, connect: float) -> Timeouts:
        """A heartbeat may take half an interval (at least 1 s, at most `request`), so a hung
        master is left well before the master's not_ready threshold."""
        heartbeat = min(request, max(1.0, interval / 2))
        return cls(connect=min(connect, heartbeat), heartbeat=heartbeat, request=request)


Attest = Callable[..., Awaitable[AttestedMaster]]


class MasterPool:
    """The configured (or advertised) masters; `call(op)` runs `op` on one that answers."""

    def __init__(
        self,
        load_trust: Callable[[], Awaitable[Trust]],
        key: SuiKeyPair,
        timeouts: Timeouts,
        *,
        attest: Attest = attest_master,
        on_failover: Callable[[], None] | None = None,
    ) -> None:
        self._load_trust = load_trust
        self._on_failover = on_failover  # counted in the agent's metrics
        self._key = key
        self.timeouts = timeouts
        self._attest = attest
        self._trust: Trust | None = None
        self._clients: dict[str, MasterClient] = {}
        self._current: str | None = None

    @property
    def master(self) -> MasterClient | None:
        """The master that answered last (tried first next time)."""
        return self._clients.get(self._current) if self._current is not None else None

    async def _trusted(self, *, reload: bool = False) -> Trust:
        """The chain's view (read once, and again on `reload`); a chain outage is an outage."""
        if self._trust is None or reload:
            try:
                self._trust = await self._load_trust()
            except ChainError as exc:
                raise MasterUnavailable(f"enclaves not readable from the chain: {exc.message}",
                                        reason=exc.reason) from exc  # fmt: skip
        return self._trust

    def _order(self, urls: Sequence[str]) -> list[str]:
        """The last master that answered first, then the others in their configured order."""
        if self._current in urls:
            start = urls.index(self._current)
            return [*urls[start:], *urls[:start]]
        return list(urls)

    async def _client(self, url: str, trust: Trust) -> MasterClient:
        """The attested client of `url`, attesting it now if need be (one chain re-read when its
        key is one the chain did not list yet: a master that restarted since)."""
        client = self._clients.get(url)
        if client is not None:
            return client
        try:
            attested = await self._attest_with(url, trust)
        except MasterUnreachable:
            raise
        except MasterNotTrusted:
            attested = await self._attest_with(url, await self._trusted(reload=True))
        client = MasterClient(attested, self._key, timeout=self.timeouts.request,
                              connect_timeout=self.timeouts.connect,
                              heartbeat_timeout=self.timeouts.heartbeat)  # fmt: skip
        self._clients[url] = client
        return client

    async def _attest_with(self, url: str, trust: Trust) -> AttestedMaster:
        return await self._attest(
            url, root=trust.root, expected_pcrs=trust.pcrs, enclaves=trust.enclaves,
            timeout=self.timeouts.request, connect_timeout=self.timeouts.connect,
        )  # fmt: skip

    async def forget(self, url: str) -> None:
        """Drop `url`'s attested client: the next use attests it again."""
        client = self._clients.pop(url, None)
        if client is not None:
            await client.close()

    async def call(self, op: Callable[[MasterClient], Awaitable[T]]) -> T:
        """`op` on the last master that answered; when it cannot be reached (or is not trusted),
        on the next one at once, and so on. MasterUnavailable when none answered; MasterNotTrusted
        when every master was reached and none proved itself; a refusal propagates as is."""
        trust = await self._trusted()
        if not trust.urls:
            raise MasterNotTrusted("no master endpoint: none configured and none on chain")
        problems: list[str] = []
        reached_untrusted = 0
        for url in self._order(trust.urls):
            try:
                result = await self._run(url, trust, op)
            except MasterUnreachable as exc:
                problems.append(exc.message)
                continue
            except MasterNotTrusted as exc:
                log.warning("master_not_trusted", url=url, reason=exc.reason, error=exc.message)
                problems.append(exc.message)
                reached_untrusted += 1
                continue
            except MasterUnavailable as exc:
                await self.forget(url)
                problems.append(exc.message)
                continue
            if url != self._current and self._current is not None:
                log.warning("master_failover", previous=self._current, url=url)
                if self._on_failover is not None:
                    self._on_failover()
            self._current = url
            return result
        if reached_untrusted == len(trust.urls):
            raise MasterNotTrusted("no master could be attested: " + "; ".join(problems))
        raise MasterUnavailable("no master answered: " + "; ".join(problems))

    async def _run(self, url: str, trust: Trust, op: Callable[[MasterClient], Awaitable[T]]) -> T:
        client = await self._client(url, trust)
        try:
            return await op(client)
        except MasterRejected as exc:
            if exc.reason != Reason.BAD_SIGNATURE:
                raise
        # Signed for a key the master no longer has (it restarted): attest it again, once.
        await self.forget(url)
        return await op(await self._client(url, trust))

    async def close(self) -> None:
        for url in list(self._clients):
            with contextlib.suppress(Exception):
                await self.forget(url)


__all__ = ["MasterPool", "Timeouts", "Trust"]
