"""The master process: wires enclave, store, chain, validator, registry, watcher and HTTPS.

Start-up order (each step needs the one before): TLS identity (its key hash goes into every
attestation document) -> enclave (simulated from the devnet's dev CA, or Nitro) -> the Store,
sealed with the enclave's data key -> the chain client -> the Enclave object on chain
(`register_enclave` the first time, `update_enclave` with the id kept in the Store afterwards,
signed by the operator key) -> validator, registry (loaded from the Store), watcher -> HTTPS.
Once serving it writes `<data>/nautilus.json` (url, CA path, enclave id, admin token path).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import ipaddress
import json
import os
import secrets
import signal
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from k3s_daas.attestation import DevCA
from k3s_daas.chain import (
    ChainClient,
    ChainError,
    ChainSource,
    Deployment,
    FaucetError,
    FollowSettings,
    K3sDaasPackage,
    MoveAbortError,
    ObjectNotFound,
    SuiKeyPair,
    UnverifiedChainData,
    VerifiedChain,
    open_chain_source,
    pcr_problem,
    request_gas,
)
from k3s_daas.kube.tls import ServerIdentity, certificate_names
from k3s_daas.log import get_logger
from k3s_daas.nautilus.app import create_app, create_webhook_app
from k3s_daas.nautilus.audit import AuditLog
from k3s_daas.nautilus.cluster import open_cluster
from k3s_daas.nautilus.context import AppContext
from k3s_daas.nautilus.enclave import DataKeySource, Enclave, make_enclave
from k3s_daas.nautilus.errors import StartupError
from k3s_daas.nautilus.freshness import ChainFreshness
from k3s_daas.nautilus.health import (
    Readiness,
    StoreCheck,
    chain_check,
    enclave_check,
    watcher_check,
)
from k3s_daas.nautilus.liveness import Liveness
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.read_audit import ReadAudit
from k3s_daas.nautilus.registry import KeyValueStore, Registry
from k3s_daas.nautilus.revocations import Revocations
from k3s_daas.nautilus.service import MasterService
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.nautilus.shared_protocol import NoSharedCache, SharedCache
from k3s_daas.nautilus.store import BytesStore, open_store
from k3s_daas.nautilus.store.timed import TimedStore
from k3s_daas.nautilus.validator import Validator
from k3s_daas.nautilus.watcher import ChainWatcher
from k3s_daas.seal.permissions import Tier
from k3s_daas.serving import Server, serve_app, settle_heap
from k3s_daas.settings import Settings

log = get_logger(__name__)

ENCLAVE_ID_PREFIX = "/enclave/id/"  # + operator address: replicas sharing a store each own one
OPERATOR_MIN_BALANCE = 1_000_000_000  # 1 SUI of gas for register/update_enclave


def read_or_create_secret(path: Path) -> str:
    """A 0600 file holding a random hex token (the admin bearer token)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return token


def _free_to_bind(host: str, port: int, flag: str) -> int:
    """The port, or the one the system picks for 0, after checking it can be bound; a port in
    use is a StartupError naming `flag` (uvicorn binds it again when serving starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"{host}:{port} is in use (address already in use): pass {flag} with a "
                    f"free port, or {flag} 0 for any free one"
                ) from exc
            raise StartupError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): pass a local address "
                "or a name of this host as --host"
            ) from exc
        return int(sock.getsockname()[1])


def _wildcard(host: str) -> bool:
    """0.0.0.0 or :: (every address): no URL can be made from it."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


class Master:
    """One master instance; `run()` serves until SIGTERM/SIGINT."""

    def __init__(self, settings: NautilusSettings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.enclave_id = ""
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def url(self) -> str:
        """The URL put on chain and in nautilus.json (workers and kubeconfigs use it)."""
        s = self.settings
        if s.advertised_url:
            return s.advertised_url
        host = f"[{s.host}]" if ":" in s.host else s.host
        return f"https://{host}:{s.port}"

    def _deployment(self) -> Deployment:
        path = self.settings.deployment or Settings().devnet_json
        return Deployment.load(path).with_endpoints(self.settings.chain)

    def _enclave(self, deployment: Deployment) -> Enclave:
        s = self.settings
        if s.enclave_kind == "simulated":
            if not deployment.attestation_root_path or not deployment.attestation_ca_key_path:
                raise StartupError("the deployment names no dev CA for the simulated enclave")
            ca = DevCA.load_files(
                Path(deployment.attestation_root_path), Path(deployment.attestation_ca_key_path)
            )
            return make_enclave("simulated", ca=ca, data_key_path=s.data_key_path)
        return make_enclave("nitro", kms=self._kms_data_key)

    def _kms_data_key(self) -> DataKeySource:
        """Nitro: the data key wrapped by AWS KMS (botocore is the `nitro` extra)."""
        from k3s_daas.nautilus.kms import kms_data_key

        s = self.settings
        return kms_data_key(
            s.kms_wrapped_key_path,
            key_id=s.kms_key_id,
            region=s.kms_region,
            endpoint_url=s.kms_endpoint_url,
        )

    async def start(self) -> None:
        """Everything but the HTTP server (so tests and benchmarks can reuse it)."""
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.deployment = deployment = self._deployment()
        hostnames, ips = certificate_names(s.host, self.url, s.tls_san)
        self.identity = ServerIdentity.load_or_create(s.data_dir / "tls", hostnames, ips)
        self.enclave = self._enclave(deployment)
        raw_store = TimedStore(
            open_store(s.store, data_key=self.enclave.data_key()), self.metrics.observe_store
        )
        self.store: KeyValueStore = BytesStore(raw_store)
        # every registration, heartbeat and revocation
        self.audit = AuditLog(raw_store, observe=self.metrics.observe_audit)
        self.read_audit = ReadAudit(self.audit, self.metrics.audit_dropped)  # never waited for
        #: heartbeats' state changes, also never waited for (a bigger queue: one per worker)
        self.liveness_audit = ReadAudit(self.audit, self.metrics.audit_dropped, capacity=65_536)
        for name, queue in (("reads", self.read_audit), ("liveness", self.liveness_audit)):
            self.metrics.audit_queued.labels(name).set_function(queue.queued)
        self.admin_token = read_or_create_secret(s.admin_token_path)
        self.client = ChainClient.from_deployment(
            deployment, timeout=s.chain_timeout, tls_ca=s.chain_ca_file
        )
        self.package = K3sDaasPackage(self.client, deployment)
        self.chain = await self._chain_source(deployment)
        self.freshness = self._freshness()
        # before serving: every revocation recorded
        self.revocations = Revocations(self.store, on_failure=self.metrics.revocation_failures.inc)
        await self.revocations.load()
        self.validator = Validator(
            self.chain,
            self.package.package_id,
            deployment.pool_id,
            self.metrics,
            s,
            shared=self._shared_cache(),
            revoked=self.revocations,
            freshness=self.freshness,
        )
        self.cluster = open_cluster(s, self.metrics)
        self.liveness = Liveness(
            self.store, read_or_create_secret(s.replica_id_path)[:16],
            flush_interval=s.liveness_flush_interval, refresh_interval=s.liveness_refresh,
            future_seconds=s.future_skew_seconds,
            key_id=hashlib.sha256(self.enclave.public_key).hexdigest()[:16],
        )  # fmt: skip
        self.registry = Registry(
            self.store, self.metrics, audit=self.audit, on_revoked=self.cluster.revoked,
            liveness=self.liveness,
        )  # fmt: skip
        loaded = await self.registry.load()
        self.enclave_id = await self._register_enclave()
        self.service = MasterService(
            settings=s,
            validator=self.validator,
            registry=self.registry,
            store=self.store,
            enclave=self.enclave,
            metrics=self.metrics,
            cluster=self.cluster,
            enclave_id=self.enclave_id,
            audit=self.audit,
            signatures=self.client,
            liveness=self.liveness_audit,
        )
        self.watcher = ChainWatcher(
            self.chain, self.package.package_id, self.validator, self.registry, self.store,
            self.metrics,
            FollowSettings(poll_interval=s.watcher_poll_interval,
                           stream_retry=s.watcher_stream_retry),
        )  # fmt: skip
        if self.freshness is not None:
            self.watcher.cursor.on_processed = self.freshness.processed
        context = AppContext(
            settings=s,
            service=self.service,
            validator=self.validator,
            registry=self.registry,
            metrics=self.metrics,
            enclave=self.enclave,
            admin_token=self.admin_token,
            audit=self.audit,
            read_audit=self.read_audit,
            tls_binding=self.identity.public_key_sha256,
            health=self._health,
            readiness=self._readiness(),
        )
        separate = s.webhook_port is not None
        self.app = create_app(context, webhooks=not separate)
        self.webhook_app = create_webhook_app(context) if separate else None
        log.info("master ready", workers=loaded, enclave=self.enclave_id, url=self.url,
                 cluster=self.cluster.mode)  # fmt: skip

    def _readiness(self) -> Readiness:
        """The checks of `/readyz` (nautilus.health)."""
        s = self.settings
        fresh = [("checkpoints", self.freshness.probe)] if self.freshness is not None else []
        return Readiness([
            ("chain", chain_check(self.watcher, s.staleness)),
            *fresh,
            ("watcher", watcher_check(self.watcher, s.ready_max_lag)),
            ("store", StoreCheck(self.store, timeout=s.chain_timeout)),
            ("enclave", enclave_check(lambda: self.enclave_id)),
        ])  # fmt: skip

    def _shared_cache(self) -> SharedCache:
        """Redis (the `redis` extra) is imported only when a shared cache is configured."""
        s = self.settings
        if not s.shared_cache_url:
            return NoSharedCache()
        from k3s_daas.nautilus.shared_cache import open_shared_cache

        return open_shared_cache(s.shared_cache_url, self.enclave.data_key(), ttl=s.cache_ttl)

    async def _chain_source(self, deployment: Deployment) -> ChainSource:
        """What the validator and watcher read: every answer proven from the deployment's
        committee (`verify_chain`, on by default when it names one), or the endpoints as is."""
        s = self.settings
        verify = s.verify_chain if s.verify_chain is not None else deployment.committee is not None
        if s.enclave_kind == "nitro" and not verify:
            raise StartupError(
                "enclave_kind=nitro needs verify_chain: add the validator committee to the "
                "deployment (`committee`) and unset K3S_DAAS_NAUTILUS_VERIFY_CHAIN=false"
            )
        try:
            return await open_chain_source(self.client, deployment, verify=verify)
        except UnverifiedChainData as exc:
            raise StartupError(
                f"the chain endpoints do not prove their answers ({exc.message[:200]}): "
                "check --chain and the deployment's chain id and committee"
            ) from exc

    def _freshness(self) -> ChainFreshness | None:
        """With a verified chain, answers are bounded by the age of its newest checkpoint the
        watcher processed (seeded with the tip verified at start: the caches are empty, so
        every answer until the watcher moves is a read proven as of that tip)."""
        if not isinstance(self.chain, VerifiedChain):
            return None
        freshness = ChainFreshness(self.settings.staleness, self.chain)
        if self.chain.height is not None:
            freshness.processed(self.chain.height)
        return freshness

    def _health(self) -> dict[str, Any]:
        freshness = self.freshness.health() if self.freshness is not None else {}
        return {
            **freshness,
            "watcher_checkpoint": self.watcher.cursor.checkpoint,
            "watcher_mode": self.watcher.mode,
            "verified_checkpoint": getattr(self.chain, "height", None),
            "revoked": {**self.revocations.counts(), "pending": self.revocations.pending},
            "url": self.url,
        }

    # -- enclave on chain -------------------------------------------------------------------
    async def _operator(self) -> SuiKeyPair:
        path = self.settings.operator_key_path
        if path.exists():
            return SuiKeyPair.load(path)
        key = SuiKeyPair.generate()
        key.save(path)
        return key

    async def _fund(self, operator: SuiKeyPair) -> None:
        """Dev only: ask the deployment's faucet for gas when the operator has too little."""
        if await self.client.get_balance(operator.address) >= OPERATOR_MIN_BALANCE:
            return
        faucet = self.deployment.faucet_url
        if not faucet:
            raise StartupError(f"operator {operator.address} has no gas and there is no faucet")
        try:
            await request_gas(faucet, operator.address, timeout=15)
        except FaucetError as exc:
            raise StartupError(exc.message) from exc

    async def _check_pcrs(self) -> None:
        """Refuse to start, in one line naming the next step, when the chain's expected PCRs
        are unset (a fresh publish) or are not this enclave's: registration would abort."""
        problem = pcr_problem(await self.package.get_enclave_config(), self.enclave.pcrs)
        if problem is not None:
            raise StartupError(problem)

    async def _register_enclave(self) -> str:
        """Register (or update) this master's Enclave object with a fresh document."""
        await self._check_pcrs()
        try:
            return await self._register_or_update()
        except MoveAbortError as exc:
            if exc.name != "E_PCR_MISMATCH":
                raise
            await self._check_pcrs()  # the PCRs changed since the check: say how
            raise StartupError(f"{exc.message}: k3s-daas chain update-pcrs") from exc

    async def _register_or_update(self) -> str:
        operator = await self._operator()
        await self._fund(operator)
        document = self.enclave.attestation(user_data=self.identity.public_key_sha256)
        id_key = ENCLAVE_ID_PREFIX + operator.address
        stored = await self.store.get(id_key)
        if stored:
            enclave_id = stored.decode()
            try:
                await self.package.update_enclave(operator, enclave_id, document, self.url)
                log.info("enclave updated on chain", enclave=enclave_id)
                return enclave_id
            except (ObjectNotFound, ChainError) as exc:
                if isinstance(exc, ChainError) and exc.reason == "chain_unavailable":
                    raise
                log.warning("enclave update refused; registering anew", reason=exc.reason)
        enclave_id = await self.package.register_enclave(
            operator, document, self.url, Tier[self.settings.tier.upper()]
        )
        await self.store.put(id_key, enclave_id.encode())
        log.info("enclave registered on chain", enclave=enclave_id, tier=self.settings.tier)
        return enclave_id

    # -- serving ----------------------------------------------------------------------------
    async def lifecycle(self) -> None:
        """Move silent workers to not_ready, then evicted (the registry's lifecycle)."""
        s = self.settings
        while True:
            await asyncio.sleep(min(s.heartbeat_interval / 2, 5.0))
            try:
                await self.registry.sweep(s.heartbeat_interval, s.missed_heartbeats, s.evict_after)
            except Exception as exc:  # the store may be briefly unavailable; try next tick
                log.warning("lifecycle sweep failed", error=exc.__class__.__name__)

    def write_info(self) -> Path:
        info = {
            "url": self.url,
            "webhook_url": self.webhook_url,
            "ca_path": str(self.identity.ca_path),
            "cert_path": str(self.identity.cert_path),
            "enclave_id": self.enclave_id,
            "public_key": self.enclave.public_key.hex(),
            "admin_token_path": str(self.settings.admin_token_path),
            "store": self.settings.store.split("?")[0],
            "pid": os.getpid(),
        }
        path = self.settings.info_path
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    def _server(self, app: Any, port: int, **tls: Any) -> Server:
        """One listener with the master's limits (header size, slow clients, bounded shutdown)."""
        s = self.settings
        tls |= {"ssl_certfile": str(self.identity.cert_path),
                "ssl_keyfile": str(self.identity.key_path)}  # fmt: skip
        return serve_app(app, s.host, port, s.http_limits, **tls)

    def _check_ports(self) -> None:
        """Before anything goes on chain: a port in use fails at once, in one line naming the
        option, and port 0 becomes a free port (so the URL put on chain names it)."""
        s = self.settings
        if _wildcard(s.host) and not s.advertised_url:
            raise StartupError(
                f"--host {s.host} listens on every address: pass --advertised-url "
                "https://NAME:PORT, the URL workers and kubectl reach this master at"
            )
        update = {"port": _free_to_bind(s.host, s.port, "--port")}
        if s.webhook_port is not None:
            flag = "K3S_DAAS_NAUTILUS_WEBHOOK_PORT"
            update["webhook_port"] = _free_to_bind(s.host, s.webhook_port, flag)
        self.settings = s.model_copy(update=update)

    @staticmethod
    async def _serve(server: Server, what: str) -> asyncio.Task[None]:
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.02)
        if serving.done():
            serving.result()
            raise StartupError(f"could not serve {what}")
        return serving

    async def run(self) -> None:
        """Start, serve HTTPS until SIGTERM/SIGINT, then stop everything."""
        self._check_ports()
        await self.start()
        s = self.settings
        servers = [self._server(self.app, s.port)]
        if self.webhook_app is not None and s.webhook_port is not None:
            # mTLS: only clients with a certificate from our CA (kube-apiserver) get in.
            servers.append(
                self._server(self.webhook_app, s.webhook_port, ssl_cert_reqs=ssl.CERT_REQUIRED,
                             ssl_ca_certs=str(self.identity.ca_path))
            )  # fmt: skip
        loop = asyncio.get_running_loop()
        # Follow the revoked set before answering anyone: records written since `start()` loaded
        # it (a replica that resumed past a slash) are in before the first request.
        self._tasks = [asyncio.create_task(self.revocations.run())]
        await self._following()
        # heartbeats are answered only under a stored W: the first flush before the first one
        self._tasks.append(asyncio.create_task(self.liveness.run()))

        def stop() -> None:
            for server in servers:
                server.should_exit = True

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop)
        serving = [
            await self._serve(server, f"on {s.host}:{server.config.port}") for server in servers
        ]
        self._tasks += [
            asyncio.create_task(self.watcher.run()),
            asyncio.create_task(self.watcher.track_lag(staleness=s.staleness)),
            asyncio.create_task(self.lifecycle()),
            asyncio.create_task(self.registry.follow()),
            asyncio.create_task(self.liveness.follow()),
            asyncio.create_task(self.service.refusals.run()),
        ]
        settle_heap()
        self.write_info()
        log.info("master serving", url=self.url, webhook_url=self.webhook_url)
        try:
            await asyncio.gather(*serving)
        finally:
            stop()
            await asyncio.gather(*serving, return_exceptions=True)
            await self.close()

    async def _following(self, timeout: float = 30.0) -> None:
        """Wait until the revoked set is followed and caught up (fail the start otherwise)."""
        try:
            async with asyncio.timeout(timeout):
                await self.revocations.following.wait()
        except TimeoutError:
            raise StartupError("the store's revocation records cannot be followed") from None

    @property
    def webhook_url(self) -> str:
        """Where kube-apiserver calls the webhooks (the mTLS port when there is one)."""
        s = self.settings
        if s.webhook_port is None:
            return self.url
        host = urlsplit(self.url).hostname or s.host
        return f"https://{f'[{host}]' if ':' in host else host}:{s.webhook_port}"

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):  # what was handled is durable: a restart skips it
            async with asyncio.timeout(2.0):
                await self.watcher.cursor.persist()
        with contextlib.suppress(Exception):  # routine heartbeats not yet written, every one
            async with asyncio.timeout(2.0):
                await self.liveness.flush(everything=True)
        self.settings.info_path.unlink(missing_ok=True)
        await self.cluster.close()
        await self.read_audit.close()
        await self.liveness_audit.close()
        await self.service.refusals.close()  # the current minute's counts too
        await self.audit.settle()
        await self.validator.shared.close()
        await self.client.close()
        closer = getattr(self.store, "close", None)
        if closer is not None:
            result = closer()
            if asyncio.iscoroutine(result):
                await result
