"""`k3s-daas devnet start|faucet|epoch|info`: run and poke the embedded Sui-compatible devnet."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import typer

from k3s_daas.chain import CoinSent, Deployment, DeploymentError, FaucetError, request_gas_sync
from k3s_daas.cli._common import Quiet, console, fail, handle_errors, progress, run_async
from k3s_daas.cli.options import HomeOpt, JsonOpt, option
from k3s_daas.cli.stake import load_key
from k3s_daas.devnet.ids import DEVNET_JSON
from k3s_daas.devnet.lock import holder
from k3s_daas.retry import Backoff, Retry
from k3s_daas.seal.amounts import format_amount, parse_amount
from k3s_daas.settings import Settings

if TYPE_CHECKING:
    from rich.status import Status

    from k3s_daas.devnet.server import DevnetConfig

app = typer.Typer(no_args_is_help=True)

DataOpt: Any = option(
    None,
    "--data",
    env="DEVNET_DATA",
    show_default="<home>/devnet",
    help="Devnet data directory (ledger, devnet.json, keys of the admin and the dev CA).",
)


def _data(data: Path | None) -> Path:
    return data if data is not None else Settings().devnet_dir


def _deployment(data: Path | None) -> Deployment:
    return Deployment.load(_data(data) / DEVNET_JSON)


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        response = httpx.request(method, url, json=body, timeout=10.0)
    except httpx.HTTPError as exc:
        fail(
            f"devnet not reachable at {url}: {exc.__class__.__name__}: start it with "
            "`k3s-daas devnet start` (or pass the --data of the running one)"
        )
    try:
        payload = response.json()
    except ValueError:
        fail(f"{url}: HTTP {response.status_code}, not JSON")
    if response.status_code >= 400:
        reason = payload.get("reason", "error") if isinstance(payload, dict) else "error"
        detail = payload.get("status", {}) if isinstance(payload, dict) else {}
        message = detail.get("Failure", {}).get("Internal", "") if isinstance(detail, dict) else ""
        fail(f"{message or response.text[:200]} ({reason})")
    return payload if isinstance(payload, dict) else {"result": payload}


#: `devnet start &` just before (the README's order) may not hold its data directory's lock yet:
#: `devnet faucet` retries this long, and after that for as long as a devnet is still starting.
START_GRACE_S = 5.0
START_BUDGET_S = 60.0


def _still_starting(data_dir: Path, since: float) -> bool:
    """Whether a devnet may yet serve `data_dir`: within the grace period, or while one holds
    its lock without an address (genesis, binding its ports)."""
    if time.monotonic() - since < START_GRACE_S:
        return True
    found = holder(data_dir)
    return found is not None and found.address is None


def _gas_once_up(
    data_dir: Path, address: str, mist: int | None, status: Status | Quiet
) -> list[CoinSent]:
    """Ask the faucet `data_dir`'s devnet.json names, waiting for a devnet still starting there
    (the file and the faucet appear when it serves); any other failure at once."""
    retry, since = Retry(Backoff(0.1, 1.0), budget=START_BUDGET_S), time.monotonic()
    while True:
        try:
            dep = Deployment.load(data_dir / DEVNET_JSON)
            if dep.faucet_url is None:
                fail("the deployment names no faucet")
            return request_gas_sync(dep.faucet_url, address, amount=mist)
        except (DeploymentError, FaucetError) as exc:
            if exc.reason not in ("no_deployment", "faucet_unreachable"):
                raise
            delay = retry.next_delay()
            if delay >= retry.remaining() or not _still_starting(data_dir, since):
                raise
            status.update(f"waiting for the devnet on {data_dir} to start ...")
            time.sleep(delay)


@app.command("start")
@handle_errors
def start(
    data: Path | None = DataOpt,
    host: str = option(
        "127.0.0.1",
        "--host",
        env="DEVNET_HOST",
        help="Address (or name of this host) gRPC listens on, and the host devnet.json names "
        "(0.0.0.0: every address, named by this machine's FQDN). The faucet and admin API "
        "stay on 127.0.0.1.",
    ),
    port: int = option(
        9000, "--port", env="DEVNET_PORT", help="gRPC port on --host (0 = any free port)."
    ),
    faucet_port: int = option(
        9123,
        "--faucet-port",
        env="DEVNET_FAUCET_PORT",
        help="Faucet/admin HTTP port on 127.0.0.1 (0 = any free port).",
    ),
    epoch_seconds: float = option(
        60.0,
        "--epoch-seconds",
        env="DEVNET_EPOCH_SECONDS",
        min=0.5,
        help="Advance the epoch every S seconds.",
    ),
    publish_only: bool = option(
        False,
        "--publish-only",
        env="DEVNET_PUBLISH_ONLY",
        help="Skip the operator's steps: the PCRs stay empty, as after `sui client publish`, "
        "until `k3s-daas chain update-pcrs`.",
    ),
    subscriptions: bool = option(
        True,
        "--subscriptions/--no-subscriptions",
        env="DEVNET_SUBSCRIPTIONS",
        help="Serve SubscribeCheckpoints; --no-subscriptions answers UNIMPLEMENTED like a full "
        "node without the subscription service.",
    ),
    validators: int | None = option(
        None,
        "--validators",
        env="DEVNET_VALIDATORS",
        min=1,
        max=100,
        show_default="4 at genesis; a resumed devnet keeps its own",
        help="Validators certifying checkpoints, created at genesis.",
    ),
    checkpoint_interval: float = option(
        1.0,
        "--checkpoint-interval",
        env="DEVNET_CHECKPOINT_INTERVAL",
        min=0,
        help="Certify an empty checkpoint when none was made for S seconds, as a real network "
        "keeps checkpointing while idle (masters bound their freshness by it); 0 = only when "
        "something happens.",
    ),
    as_json: bool = option(
        False,
        "--json",
        env="JSON",
        help="Print the endpoints and files as one JSON line once serving.",
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Run the devnet in the foreground (genesis on first start, resume afterwards).

    Genesis publishes the package as `sui client publish` would (empty PCRs); then, unless
    --publish-only, the admin pins the simulated enclave's PCRs in a signed `update_pcrs`.
    One devnet per data directory: a second start names the running one and exits 1.
    """
    from k3s_daas.devnet.server import DevnetConfig, run_devnet  # heavy

    config = DevnetConfig(
        _data(data),
        port,
        faucet_port,
        epoch_seconds,
        publish_only=publish_only,
        subscriptions=subscriptions,
        validators=validators,
        checkpoint_interval=checkpoint_interval,
        host=host,
    )
    with progress(f"starting the devnet in {config.data_dir} ...") as status:

        def ready(deployment: Deployment) -> None:
            status.stop()
            _print_ready(deployment, config, as_json)

        run_async(run_devnet(config, on_ready=ready))


def _print_ready(deployment: Deployment, config: DevnetConfig, as_json: bool) -> None:
    if as_json:
        info = {
            "grpc": str(deployment.grpc_endpoints[0]),
            "faucet": f"{deployment.faucet_url}/v2/gas",
            "devnet_json": str(config.data_dir / DEVNET_JSON),
            "publish_json": str(config.data_dir / "publish.json"),
            "pcrs_pinned": not config.publish_only,
            "subscriptions": config.subscriptions,
        }
        print(json.dumps(info), flush=True)
        return
    console.print(f"devnet gRPC   {deployment.grpc_endpoints[0]}", highlight=False)
    console.print(f"faucet        {deployment.faucet_url}/v2/gas", highlight=False)
    console.print(f"devnet.json   {config.data_dir / DEVNET_JSON}", highlight=False)
    console.print(f"publish.json  {config.data_dir / 'publish.json'}", highlight=False)
    if config.publish_only:
        console.print("PCRs          not pinned: k3s-daas chain update-pcrs", highlight=False)
    if not config.subscriptions:
        console.print("subscriptions not served (UNIMPLEMENTED)", highlight=False)


@app.command("faucet")
@handle_errors
def faucet(
    address: str | None = typer.Argument(
        None, help="Recipient Sui address (default: the address of <home>/keys/default.key)."
    ),
    amount: str | None = option(
        None,
        "--amount",
        env="DEVNET_FAUCET_AMOUNT",
        show_default="10SUI",
        help="How much: 1.5SUI, 100MIST or MIST (at most 100SUI).",
    ),
    data: Path | None = DataOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Send SUI from the devnet faucet."""
    mist = None if amount is None else parse_amount(amount)
    if address is None:
        address = load_key(None).address
    with progress("asking the faucet, waiting for finality ...") as status:
        coins = _gas_once_up(_data(data), address, mist, status)
    if as_json:
        sent = [
            {"object_id": c.object_id, "amount": c.amount, "tx_digest": c.tx_digest} for c in coins
        ]
        console.print_json(json.dumps({"recipient": address, "coins": sent}))
        return
    for coin in coins:
        console.print(
            f"sent {format_amount(coin.amount)} to {address}: coin {coin.object_id} "
            f"(tx {coin.tx_digest})",
            highlight=False,
        )


@app.command("epoch")
@handle_errors
def epoch(
    data: Path | None = DataOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Advance the devnet epoch now."""
    dep = _deployment(data)
    result = _call("POST", f"{dep.admin_url}/epoch")
    if as_json:
        info = {"epoch": result["epoch"], "checkpoint": result["checkpoint"]}
        console.print_json(json.dumps(info))
        return
    console.print(f"epoch {result['epoch']} (checkpoint {result['checkpoint']})", highlight=False)


@app.command("info")
@handle_errors
def info(
    data: Path | None = DataOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Show chain id, epoch, checkpoint height and the deployment ids."""
    dep = _deployment(data)
    result = _call("GET", f"{dep.admin_url}/info")
    if as_json:
        console.print_json(json.dumps(result))
        return
    for key in ("chain_id", "epoch", "checkpoint"):
        console.print(f"{key:18} {result.get(key)}", highlight=False)
    for key, value in dep.model_dump().items():
        if value is not None:
            console.print(f"{key:18} {value}", highlight=False)


def _mount_admin_commands() -> None:
    """`devnet slash` lives beside the chain client it uses (cli/chain_admin.py)."""
    from k3s_daas.cli.chain_admin import register_devnet

    register_devnet(app)


_mount_admin_commands()
