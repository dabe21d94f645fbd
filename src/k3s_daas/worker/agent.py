"""The worker agent's lifecycle (its phases are `seal.protocol.WorkerPhase`).

load key -> reuse or create the stake -> mint a Seal token (one PTB) -> find the enclaves on
chain -> attest the master (fail closed) -> register -> heartbeat every N s with jitter; when a
master cannot be reached the next one is asked at once (`worker.masters`), and only when none
answers does the agent back off (jittered, `k3s_daas.retry`) -> rotate the token before it
expires -> on `stake_slashed` / revocation stop K3s, stop the node's containers (K3s mode) and
exit 3 naming the reason -> on SIGTERM leave and exit 0. Its metrics are served on a local port
(`worker.metrics`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from k3s_daas.attestation import load_root
from k3s_daas.chain import (
    BalanceReader,
    ChainClient,
    ChainError,
    FaucetError,
    K3sDaasPackage,
    SealTokenView,
    request_gas,
)
from k3s_daas.log import get_logger
from k3s_daas.retry import Backoff, Retry
from k3s_daas.seal.constants import STATUS_ACTIVE
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.protocol import HeartbeatAnswer, Reason, WorkerPhase
from k3s_daas.seal.token import parse_token, short_fingerprint
from k3s_daas.worker.attested import RegisteredEnclave
from k3s_daas.worker.config import WorkerConfig
from k3s_daas.worker.exits import EXIT_FAILED, EXIT_OK, EXIT_REVOKED, WorkerExit
from k3s_daas.worker.k3s import K3sAgent, stop_node_containers
from k3s_daas.worker.master import MasterClient, MasterRejected, MasterUnavailable
from k3s_daas.worker.masters import MasterPool, Timeouts, Trust
from k3s_daas.worker.metrics import MetricsServer, WorkerMetrics
from k3s_daas.worker.state import WorkerState

log = get_logger("k3s_daas.worker")

EPOCH_ESTIMATE = timedelta(hours=1)  # only used to print an approximate expiry time


class WorkerAgent:
    """One worker's lifecycle; `sleep` and `rng` are injectable so tests drive its timing."""

    def __init__(
        self,
        config: WorkerConfig,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._wait = sleep  # None: wait on the stop event (a SIGTERM ends a wait at once)
        self._rng = rng
        self.key = config.key()
        self.deployment = config.resolve_deployment()
        self.state = WorkerState.load(config.state_file) or WorkerState(
            node_id=config.node_id,
            address=self.key.address,
            chain_id=self.deployment.chain_id,
            package_id=self.deployment.package_id,
        )
        if self.state.node_id != config.node_id or self.state.address != self.key.address:
            raise WorkerExit(EXIT_FAILED, "bad_state", "state file belongs to another node or key")
        self.k3s: K3sAgent | None = None
        self.metrics = WorkerMetrics()
        self.metrics.k3s_restarts.set_function(lambda: self.k3s.restarts if self.k3s else 0)
        self._stop = asyncio.Event()
        self._assigned_enclave: str | None = None  # the token's enclave (chain-assigned by tier)

    # ---- state ---------------------------------------------------------------------------
    def _set(self, status: WorkerPhase, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(self.state, name, value)
        self.state.status = status
        self.state.save(self.config.state_file)
        self.metrics.set_phase(status)
        log.info("worker_status", node=self.config.node_id, status=status)

    # ---- chain ---------------------------------------------------------------------------
    async def _fund_if_devnet(self, chain: BalanceReader) -> None:
        """On the embedded devnet, ask its faucet for gas (a real network's wallet is funded)."""
        if not self.config.mock_mode or self.deployment.faucet_url is None:
            return
        if await chain.get_balance(self.key.address) >= self.config.stake_amount + 10**9:
            return
        self._set(WorkerPhase.FUNDING)
        try:
            await request_gas(self.deployment.faucet_url, self.key.address)
        except FaucetError as exc:
            raise WorkerExit(EXIT_FAILED, "faucet_failed", exc.message) from exc

    async def _ensure_token(self, package: K3sDaasPackage) -> SealTokenView:
        """Reuse the stake and token from the state file (no second stake), else stake + mint."""
        if self.state.token and self.state.token_id:
            try:
                view = await package.get_seal_token(self.state.token_id)
                record = await package.get_stake_record(view.stake_record)
            except ChainError:
                view = None
            if view is not None and record.status == STATUS_ACTIVE:
                return view
            if view is not None:
                reason = Reason.for_stake_status(record.status)
                raise WorkerExit(EXIT_REVOKED, reason, f"stake is {record.status_name}")
        existing = await package.find_stake_for_node(self.config.node_id)
        if existing is not None and existing.staker != self.key.address:
            raise WorkerExit(
                EXIT_FAILED, "node_taken", f"{self.config.node_id} is staked by another address"
            )
        if existing is not None:
            self._set(WorkerPhase.MINTING, stake_record_id=existing.id)
            minted = await package.create_worker_token(self.key, existing.id)
        else:
            self._set(WorkerPhase.STAKING)
            minted = await package.stake_and_create_worker_token(
                self.key, self.config.stake_amount, self.config.node_id
            )
        self._set(
            WorkerPhase.MINTED,
            token=minted.token,
            token_id=minted.token_id,
            stake_record_id=minted.stake_record_id,
            token_expires_epoch=minted.view.expires_at,
            token_expires_at=datetime.now(UTC) + EPOCH_ESTIMATE,
        )
        log.info("token_minted", node=self.config.node_id, token=short_fingerprint(minted.token))
        return minted.view

    async def _registered_enclaves(
        self, package: K3sDaasPackage
    ) -> tuple[list[RegisteredEnclave], dict[int, bytes], dict[str, str]]:
        """Every enclave on chain, the pinned PCRs, and each enclave's advertised endpoint."""
        config = await package.get_enclave_config()
        pcrs = {0: config.pcr0, 1: config.pcr1, 2: config.pcr2}
        enclaves, endpoints = [], {}
        for enclave_id in (*config.premium, *config.standard, *config.basic):
            enclave = await package.get_enclave(enclave_id)
            enclaves.append(RegisteredEnclave(enclave.id, enclave.public_key, pcrs))
            endpoints[enclave.id] = enclave.endpoint
        return enclaves, pcrs, endpoints

    def _master_urls(self, endpoints: dict[str, str]) -> list[str]:
        """The configured masters, in order; with none configured, the endpoints the enclaves
        advertise on chain, the token's assigned enclave first (attestation decides trust)."""
        if self.config.nautilus_endpoint:
            return list(self.config.nautilus_endpoint)
        assigned = self._assigned_enclave
        ordered = [endpoints[assigned]] if assigned in endpoints else []
        ordered += endpoints.values()
        return list(dict.fromkeys(url for url in ordered if url.startswith("https://")))

    # ---- master --------------------------------------------------------------------------
    async def _trust(self, package: K3sDaasPackage) -> Trust:
        """What attestation checks against and the masters to try, read from the chain."""
        if self.deployment.attestation_root_path is None:
            raise WorkerExit(
                EXIT_FAILED, "no_attestation_root", "deployment names no attestation root"
            )
        root = load_root(Path(self.deployment.attestation_root_path))
        enclaves, pcrs, endpoints = await self._registered_enclaves(package)
        return Trust(root, pcrs, enclaves, self._master_urls(endpoints))

    def _pool(self, package: K3sDaasPackage) -> MasterPool:
        c = self.config
        timeouts = Timeouts.for_interval(c.heartbeat_interval, c.request_timeout, c.connect_timeout)
        return MasterPool(lambda: self._trust(package), self.key, timeouts,
                          on_failover=self.metrics.failovers.inc)  # fmt: skip

    def _retry(self) -> Retry:
        """Backoff once no master answers: jittered, so workers never retry in lockstep."""
        cap = self.config.max_backoff
        return Retry(Backoff(min(self.config.heartbeat_interval, cap), cap), rng=self._rng)

    def _answered_by(self, pool: MasterPool) -> MasterClient:
        master = pool.master
        assert master is not None  # set by the call that just succeeded
        return master

    async def _register(self, pool: MasterPool) -> None:
        assert self.state.token is not None
        token = self.state.token
        self._set(WorkerPhase.REGISTERING)
        answer = await pool.call(lambda m: m.register(token, self.config.node_id))
        master = self._answered_by(pool)
        self._set(WorkerPhase.REGISTERED, registered_at=datetime.now(UTC),
                  master_url=master.url, enclave_id=master.enclave_id)  # fmt: skip
        if self.config.mode != "k3s":
            return
        join, server = answer.join_token, answer.k3s_server
        if not join or not server:
            raise WorkerExit(
                EXIT_FAILED,
                "no_join_token",
                f"mode is k3s but the master at {master.url} runs a {answer.cluster} "
                "cluster and gave no join token",
            )
        if self.k3s is None:
            self.k3s = K3sAgent(
                self.config.k3s_binary, server, self.config.node_id, extra_args=self.config.k3s_args
            )
        self.k3s.start(join)  # a re-registration only refreshes the token for future restarts

    # ---- main loop -----------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        server = await self._serve_metrics()
        revoked = False
        try:
            return await self._run()
        except WorkerExit as exc:
            revoked = exc.code == EXIT_REVOKED
            self._set(WorkerPhase.REVOKED if revoked else WorkerPhase.FAILED, reason=exc.reason)
            log.error("worker_exit", node=self.config.node_id, reason=exc.reason, error=exc.message)
            raise
        finally:
            if self.k3s is not None:
                await self.k3s.stop()
            c = self.config
            if revoked and c.mode == "k3s" and c.k3s_killall:
                await stop_node_containers(c.k3s_killall, c.k3s_killall_timeout)
            if server is not None:
                await server.stop()

    async def _serve_metrics(self) -> MetricsServer | None:
        """Serve /metrics locally (its URL goes to the state file); None when off or unbound."""
        c = self.config
        if c.metrics_port is None:
            return None
        server = MetricsServer(self.metrics, c.metrics_host, c.metrics_port)
        url = await server.start()
        self._set(self.state.status, metrics_url=url)
        return server if url is not None else None

    async def _run(self) -> int:
        async with ChainClient.from_deployment(self.deployment) as chain:
            package = K3sDaasPackage(chain, self.deployment)
            await self._fund_if_devnet(chain)
            self._assigned_enclave = (await self._ensure_token(package)).enclave
            pool = self._pool(package)
            try:
                if not await self._join(pool):
                    self._set(WorkerPhase.LEFT)
                    return EXIT_OK
                return await self._heartbeats(chain, package, pool)
            finally:
                await pool.close()

    async def _join(self, pool: MasterPool) -> bool:
        """Attest and register; while no master answers (or its K3s API is down), retry with
        jittered backoff. False when asked to stop meanwhile."""
        retry = self._retry()
        self._set(WorkerPhase.ATTESTING)
        while True:
            try:
                await self._register(pool)
            except MasterUnavailable as exc:
                delay = retry.next_delay()
                log.warning("register_unavailable", error=exc.message, retry_in=round(delay, 2))
                if await self._sleep(delay):
                    return False
                continue
            return True

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True when a stop was requested."""
        if self._wait is not None:
            await self._wait(seconds)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return self._stop.is_set()

    async def _beat(self, pool: MasterPool) -> HeartbeatAnswer | None:
        """One heartbeat, at whichever master answers; None when that master did not know the
        node (its own store, not a replica sharing the registry) and it was registered there."""
        assert self.state.token is not None
        token = self.state.token
        start = time.perf_counter()
        try:
            answer = await pool.call(lambda m: m.heartbeat(token, self.config.node_id))
        except MasterUnavailable:
            self.metrics.heartbeats.labels("unavailable").inc()
            raise
        except MasterRejected as exc:
            self.metrics.heartbeats.labels("refused").inc()
            reason = Reason.parse(exc.reason)
            if reason is not None and reason.terminal:
                raise WorkerExit(EXIT_REVOKED, reason, f"master says {reason}") from exc
            if reason != Reason.NOT_REGISTERED:
                raise WorkerExit(EXIT_FAILED, exc.reason, exc.message) from exc
        else:
            self.metrics.heartbeat_latency.observe(time.perf_counter() - start)
            self.metrics.heartbeats.labels("ok").inc()
            self.metrics.last_heartbeat.set_to_current_time()
            return answer
        await self._register(pool)
        return None

    async def _leave(self, pool: MasterPool) -> int:
        with contextlib.suppress(K3sDaasError):
            assert self.state.token is not None
            token = self.state.token
            await pool.call(lambda m: m.leave(token, self.config.node_id))
        self._set(WorkerPhase.LEFT)
        return EXIT_OK

    async def _heartbeats(
        self, chain: ChainClient, package: K3sDaasPackage, pool: MasterPool
    ) -> int:
        """Heartbeat every interval (± jitter) at the master that answers; when none does, retry
        after a jittered backoff instead of the interval."""
        interval, retry = self.config.heartbeat_interval, self._retry()
        wait = interval
        while True:
            if await self._sleep(wait):
                return await self._leave(pool)
            await self._rotate_if_due(chain, package)
            try:
                answer = await self._beat(pool)
            except MasterUnavailable as exc:
                wait = retry.next_delay()
                log.warning("master_unavailable", error=exc.message, retry_in=round(wait, 2))
                continue
            retry.reset()
            jitter = interval * self.config.heartbeat_jitter * (2 * self._rng() - 1)
            wait = max(0.05, interval + jitter)
            if answer is None:
                continue  # registered anew; the next heartbeat makes it ready
            master = self._answered_by(pool)
            self._set(
                WorkerPhase.READY,
                last_heartbeat=datetime.now(UTC),
                heartbeats=self.state.heartbeats + 1,
                reason=None,
                tier=answer.tier,
                permissions=answer.permissions,
                master_url=master.url,
                enclave_id=master.enclave_id,
            )

    async def _rotate_if_due(self, chain: ChainClient, package: K3sDaasPackage) -> None:
        expires = self.state.token_expires_epoch
        if expires is None:
            return
        epoch = await chain.current_epoch()
        if epoch + self.config.rotate_before_epochs < expires:
            return
        assert self.state.token is not None
        minted = await package.rotate_token(self.key, self.state.token)
        self._set(
            self.state.status,
            token=minted.token,
            token_expires_epoch=minted.view.expires_at,
            token_expires_at=datetime.now(UTC) + EPOCH_ESTIMATE,
        )
        log.info("token_rotated", node=self.config.node_id, token=short_fingerprint(minted.token))
        parse_token(minted.token)
