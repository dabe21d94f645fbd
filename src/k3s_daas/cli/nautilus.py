"""`k3s-daas nautilus start | workers`: run the master in the foreground, list its workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.table import Table

from k3s_daas.cli._common import console, fail, handle_errors, run_async
from k3s_daas.cli.options import HomeOpt, JsonOpt, option
from k3s_daas.nautilus.settings import NautilusSettings

app = typer.Typer(no_args_is_help=True, help="The Nautilus master (control plane).")


def _setting(field: str, *flags: str, help: str, show: str = "", **kwargs: Any) -> Any:
    """An option of `nautilus start` standing for the NautilusSettings field `field`: its env
    name (K3S_DAAS_NAUTILUS_<FIELD>) and its default are the settings' own."""
    default = NautilusSettings.model_fields[field].default
    if not isinstance(default, int | float | str):
        default = None  # computed at run time: `show` says how
    return option(
        default, *flags, env=f"NAUTILUS_{field}", show_default=show or True, help=help, **kwargs
    )


#: `nautilus start`'s parameters, each named as its NautilusSettings field.
START_FIELDS = (
    "chain", "deployment", "store_url", "host", "port", "advertised_url", "tls_san", "data_dir",
    "tier", "heartbeat_interval", "cluster", "k3s_kubeconfig", "k3s_server_url",
)  # fmt: skip


@app.command()
@handle_errors
def start(
    ctx: typer.Context,
    chain: list[str] | None = _setting(
        "chain",
        "--endpoint",
        show="the deployment's",
        help="Chain gRPC endpoint (host:port or https://host:port); repeat for failover "
        '(env: a JSON list, ["host:port", ...]).',
    ),
    deployment: Path | None = _setting(
        "deployment",
        "--deployment",
        show="<home>/devnet/devnet.json",
        help="Deployment file naming the package and the chain.",
    ),
    store_url: str | None = _setting(
        "store_url",
        "--store",
        show="sqlite:///<data>/store.db",
        help="Where the registry and audit log live: sqlite:///path | etcd://h:p,...",
    ),
    host: str | None = _setting(
        "host",
        "--host",
        help="Address (or name of this host) HTTPS listens on; 0.0.0.0 for every address "
        "(then --advertised-url is required).",
    ),
    port: int | None = _setting("port", "--port", help="HTTPS port on --host (0 = any free)."),
    advertised_url: str | None = _setting(
        "advertised_url",
        "--advertised-url",
        show="https://<host>:<port>",
        help="The https:// URL workers and kubectl reach this master at (a DNS name, a load "
        "balancer); put on chain, and its host is added to the certificate.",
    ),
    tls_san: list[str] | None = _setting(
        "tls_san",
        "--tls-san",
        show="none",
        help="One more DNS name or IP for the TLS certificate; repeat for more (env: a JSON "
        "list). localhost, 127.0.0.1 and --host are always named.",
    ),
    data_dir: Path | None = _setting(
        "data_dir",
        "--data",
        show="<home>/nautilus",
        help="Data directory: TLS identity, keys, nautilus.json, the SQLite store.",
    ),
    tier: str | None = _setting(
        "tier", "--tier", help="The enclave's tier on chain: basic | standard | premium."
    ),
    heartbeat_interval: float | None = _setting(
        "heartbeat_interval",
        "--heartbeat-interval",
        help="Seconds between the heartbeats workers are told to send; missed ones mark a "
        "worker not_ready, then evicted.",
    ),
    cluster: str | None = _setting(
        "cluster", "--cluster", help="Where workers run: standalone | k3s."
    ),
    k3s_kubeconfig: Path | None = _setting(
        "k3s_kubeconfig",
        "--k3s-kubeconfig",
        show="none: standalone",
        help="K3s admin kubeconfig (--cluster k3s).",
    ),
    k3s_server_url: str | None = _setting(
        "k3s_server_url",
        "--k3s-server",
        show="the K3s kubeconfig's server",
        help="URL workers give `k3s agent --server`.",
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Serve the master until Ctrl-C; writes <data>/nautilus.json once it serves.

    Each option overrides its K3S_DAAS_NAUTILUS_* setting (the environment is read once, by the
    settings, in their own format).
    """
    from k3s_daas.nautilus.master import Master

    given = {name: ctx.params[name] for name in START_FIELDS if _source(ctx, name) == "COMMANDLINE"}
    run_async(Master(NautilusSettings(**given)).run())


def _source(ctx: typer.Context, name: str) -> str:
    """Where a parameter's value came from: COMMANDLINE, ENVIRONMENT, DEFAULT, ..."""
    source = ctx.get_parameter_source(name)
    return "DEFAULT" if source is None else source.name


def _info(data: Path | None) -> dict[str, Any]:
    path = (data or NautilusSettings().data_dir) / "nautilus.json"
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"{path} not found: is the master running (k3s-daas nautilus start)?")
    return info


@app.command()
@handle_errors
def workers(
    master_url: str | None = option(
        None,
        "--master-url",
        env="MASTER_URL",
        show_default="nautilus.json's url",
        help="The master's https:// URL.",
    ),
    data: Path | None = option(
        None,
        "--data",
        env="NAUTILUS_DATA_DIR",
        show_default="<home>/nautilus",
        help="The master's data directory (its nautilus.json, admin token and CA).",
    ),
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """The master's registry: node, owner, tier, stake, status, last heartbeat."""
    info = _info(data)
    token = Path(info["admin_token_path"]).read_text(encoding="utf-8").strip()
    try:
        response = httpx.get(
            f"{master_url or info['url']}/api/v1/workers",
            headers={"Authorization": f"Bearer {token}"},
            verify=info["ca_path"],
            timeout=10,
        )
    except httpx.HTTPError as exc:
        fail(
            f"master unreachable: {exc.__class__.__name__}: is it running "
            "(`k3s-daas nautilus start`)? or check --master-url"
        )
    body = response.json()
    if response.status_code != 200:
        fail(f"{body.get('message', 'refused')} ({body.get('error', response.status_code)})")
    if as_json:
        console.print_json(json.dumps(body))
        return
    table = Table(title=f"workers ({body['revision']})")
    for column in ("node", "status", "reason", "tier", "stake", "owner", "last heartbeat"):
        table.add_column(column)
    for w in body["workers"]:
        table.add_row(
            w["node_id"], w["status"], w.get("reason") or "-", w["tier"], str(w["stake"]),
            w["owner"][:10] + "…", w.get("last_heartbeat") or "-",
        )  # fmt: skip
    console.print(table)


def _mount_k3s_config() -> None:
    """`nautilus k3s-config` writes the apiserver's webhook files (kube/k3s.py)."""
    from k3s_daas.cli.kube import k3s_config_command

    app.command("k3s-config")(k3s_config_command)


_mount_k3s_config()


def _mount_wrap_key() -> None:
    """`nautilus wrap-key` wraps a Nitro master's data key with AWS KMS (cli/wrap_key.py)."""
    from k3s_daas.cli.wrap_key import wrap_key_command

    app.command("wrap-key")(wrap_key_command)


_mount_wrap_key()
