"""Run the devnet in the foreground: gRPC (sui.rpc.v2) + faucet/admin HTTP + the epoch timer.

One devnet serves a data directory at a time (`devnet.datadir`: a lock naming the holder, and a
new chain created whole or not at all); both ports (127.0.0.1) are bound before anything runs,
so a port in use is one line naming `--port`. Once both listen, the operator's steps run as
signed transactions (`devnet.operator`, skipped with `publish_only`), `publish.json` is written
at the first start and devnet.json is (re)written last, so a reader that sees it can connect
and finds the PCRs pinned. SIGTERM / Ctrl-C stop everything and close the ledger cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from grpclib.server import Server
from pydantic_settings import BaseSettings, SettingsConfigDict

from k3s_daas.chain import Deployment
from k3s_daas.devnet.datadir import Claim, claim
from k3s_daas.devnet.errors import DevnetError, PortInUse
from k3s_daas.devnet.executor import Executor
from k3s_daas.devnet.faucet import create_app
from k3s_daas.devnet.genesis import LEDGER_FILE, GenesisInfo, ensure_genesis, package_ids
from k3s_daas.devnet.ids import DEVNET_JSON
from k3s_daas.devnet.ledger import Ledger
from k3s_daas.devnet.lock import ensure_free
from k3s_daas.devnet.node import DevnetNode
from k3s_daas.devnet.operator import run_operator_steps
from k3s_daas.devnet.publish_record import PUBLISH_JSON, write_publish_record
from k3s_daas.devnet.services import all_services
from k3s_daas.devnet.validators import VALIDATOR_SECRET_FILE, ValidatorKeys
from k3s_daas.devnet.wire import FastProtoCodec
from k3s_daas.log import get_logger
from k3s_daas.serving import HttpLimits, serve_app, settle_heap

log = get_logger(__name__)

HOST = "127.0.0.1"
#: Seconds an idle devnet goes without a checkpoint (Sui: several per second, idle or not).
DEFAULT_CHECKPOINT_INTERVAL = 1.0


class DevnetSettings(BaseSettings):
    """`K3S_DAAS_DEVNET_SUBSCRIPTIONS=false` = `devnet start --no-subscriptions`;
    `K3S_DAAS_DEVNET_CHECKPOINT_INTERVAL` = `--checkpoint-interval`."""

    model_config = SettingsConfigDict(env_prefix="K3S_DAAS_DEVNET_", extra="ignore")

    subscriptions: bool = True
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL


@dataclass(frozen=True)
class DevnetConfig:
    """What `k3s-daas devnet start` takes (ports 0 = pick a free one). `subscriptions=False`
    plays a full node without the subscription service: SubscribeCheckpoints is UNIMPLEMENTED."""

    data_dir: Path
    port: int = 9000
    faucet_port: int = 9123
    epoch_seconds: float = 60.0
    #: Stop where `sui client publish` stops: PCRs stay empty until `chain update-pcrs`.
    publish_only: bool = False
    subscriptions: bool = True
    #: Validators at genesis (None: 4); a resumed devnet keeps the number it was made with.
    validators: int | None = None
    #: At most this many seconds without a checkpoint: an empty one is certified when idle
    #: (0: checkpoints only when something happens).
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    #: Where gRPC listens, and the host devnet.json names (a wildcard names this machine).
    #: The faucet and admin API stay on loopback: they give gas and slash.
    host: str = HOST

    @property
    def advertised_host(self) -> str:
        try:
            wildcard = ipaddress.ip_address(self.host.strip("[]")).is_unspecified
        except ValueError:
            wildcard = False
        return socket.getfqdn() if wildcard else self.host


def _bound_port(sockets: Any) -> int:
    return int(next(iter(sockets)).getsockname()[1])


def _attestation_root(info: GenesisInfo, data_dir: Path) -> x509.Certificate:
    path = Path(str(info.deployment(data_dir, 0, 0).attestation_root_path))
    return x509.load_pem_x509_certificate(path.read_bytes())


async def _epoch_timer(node: DevnetNode, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await node.advance_epoch()
        except Exception:
            log.exception("epoch advance failed")


def _listen(port: int, flag: str, host: str = HOST) -> socket.socket:
    """A listening socket on host:port; a port in use is one line naming the flag to change."""
    host = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"{host}:{port} is in use (address already in use): pass {flag} with another "
                f"port, or {flag} 0 for any free one"
            ) from exc
        raise DevnetError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): pass a local address or "
            "a name of this host as --host"
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def run_devnet(
    config: DevnetConfig, *, on_ready: Callable[[Deployment], None] | None = None
) -> None:
    """Serve until SIGTERM/SIGINT (or cancellation); DevnetRunning if another devnet serves the
    directory, PortInUse if a port is taken (before any genesis: nothing is created)."""
    data_dir = config.data_dir
    ensure_free(data_dir)
    sockets = [_listen(config.port, "--port", config.host)]
    try:
        sockets.append(_listen(config.faucet_port, "--faucet-port"))
        held = claim(data_dir, config.validators)  # genesis only once both ports are ours
        try:
            validators = ValidatorKeys.load(data_dir / VALIDATOR_SECRET_FILE)
            ledger = Ledger(data_dir / LEDGER_FILE, validators)
            try:
                await _serve(config, ledger, validators, sockets, held, on_ready)
            finally:
                ledger.close()
        finally:
            held.release()
    finally:
        for sock in sockets:
            sock.close()


async def _serve(
    config: DevnetConfig,
    ledger: Ledger,
    validators: ValidatorKeys,
    sockets: list[socket.socket],
    held: Claim,
    on_ready: Callable[[Deployment], None] | None,
) -> None:
    """Run both servers on the bound sockets until stopped."""
    data_dir = config.data_dir
    info = ensure_genesis(data_dir, ledger, validators, config.validators)
    node = DevnetNode(ledger, Executor(package_ids(), _attestation_root(info, data_dir)))
    services = all_services(node, subscriptions=config.subscriptions)
    grpc_server = Server(services, codec=FastProtoCodec())  # answers: devnet.wire
    await grpc_server.start(sock=sockets[0])
    app = create_app(node)
    http = serve_app(app, HOST, 0, HttpLimits())  # the master's limits; serves sockets[1]
    http_task = asyncio.create_task(http.serve(sockets=[sockets[1]]))
    try:
        while not http.started:
            if http_task.done():
                await http_task
                raise OSError("the faucet server stopped while starting")
            await asyncio.sleep(0.01)
        deployment = info.deployment(
            data_dir, _bound_port(sockets[:1]), _bound_port(sockets[1:]), config.advertised_host
        )
        app.state.deployment = deployment
        if not (data_dir / PUBLISH_JSON).exists():
            write_publish_record(data_dir, ledger, info)
        if not config.publish_only:
            await run_operator_steps(deployment)
        settle_heap()  # no full-collection pauses in the middle of a checkpoint or a mint
        held.served = True
        held.lock.record(str(deployment.grpc_endpoints[0]))
        deployment.save(data_dir / DEVNET_JSON)
        log.info(
            "devnet ready",
            grpc=deployment.grpc_endpoints[0],
            faucet=deployment.faucet_url,
            chain_id=info.chain_id,
            epoch=ledger.epoch(),
            validators=len(info.committee.validators),
            subscriptions=config.subscriptions,
            checkpoint_interval=config.checkpoint_interval,
        )
        if on_ready is not None:
            on_ready(deployment)
        await _until_stopped(node, config.epoch_seconds, config.checkpoint_interval)
    finally:
        http.should_exit = True
        with contextlib.suppress(Exception):
            await http_task
        grpc_server.close()
        await grpc_server.wait_closed()
        log.info("devnet stopped")


async def _until_stopped(
    node: DevnetNode, epoch_seconds: float, checkpoint_interval: float
) -> None:
    """Advance epochs on the timer, and checkpoint while idle, until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    timers = [asyncio.create_task(_epoch_timer(node, epoch_seconds))]
    if checkpoint_interval > 0:
        timers.append(asyncio.create_task(node.keep_checkpointing(checkpoint_interval)))
    try:
        await stop.wait()
    finally:
        for timer in timers:
            timer.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
