"""`k3s-daas nautilus start | workers`: run the master in the foreground, list its workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.table import Table

from k3s_daas.cli._common import console, fail, handle_errors, run_async
from k3s_daas.settings import Settings

app = typer.Typer(no_args_is_help=True, help="The Nautilus master (control plane).")


@app.command()
@handle_errors
def start(
    chain: list[str] = typer.Option([], "--chain", help="gRPC endpoint (repeatable)."),
    deployment: Path | None = typer.Option(None, "--deployment", help="devnet.json path."),
    store: str | None = typer.Option(None, "--store", help="sqlite:///path | etcd://h:p"),
    port: int | None = typer.Option(None, "--port", help="HTTPS port (127.0.0.1)."),
    data: Path | None = typer.Option(None, "--data", help="Data directory."),
    tier: str | None = typer.Option(None, "--tier", help="basic | standard | premium"),
    heartbeat_interval: float | None = typer.Option(None, "--heartbeat-interval"),
    cluster: str | None = typer.Option(None, "--cluster", help="standalone | k3s"),
    k3s_kubeconfig: Path | None = typer.Option(
        None, "--k3s-kubeconfig", help="K3s admin kubeconfig (cluster=k3s)."
    ),
    k3s_server: str | None = typer.Option(
        None, "--k3s-server", help="URL workers give `k3s agent --server`."
    ),
) -> None:
    """Serve the master until Ctrl-C; writes <data>/nautilus.json once it serves."""
    from k3s_daas.nautilus.master import Master
    from k3s_daas.nautilus.settings import NautilusSettings

    overrides: dict[str, Any] = {
        "chain": chain or None,
        "deployment": deployment,
        "store_url": store,
        "port": port,
        "data_dir": data,
        "tier": tier,
        "heartbeat_interval": heartbeat_interval,
        "cluster": cluster,
        "k3s_kubeconfig": k3s_kubeconfig,
        "k3s_server_url": k3s_server,
    }
    settings = NautilusSettings(**{k: v for k, v in overrides.items() if v is not None})
    run_async(Master(settings).run())


def _info(data: Path | None) -> dict[str, Any]:
    path = (data or Settings().home / "nautilus") / "nautilus.json"
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"{path} not found: is the master running (k3s-daas nautilus start)?")
    return info


@app.command()
@handle_errors
def workers(
    url: str | None = typer.Option(None, "--url", help="Master URL (default: nautilus.json)."),
    data: Path | None = typer.Option(None, "--data", help="The master's data directory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The master's registry: node, owner, tier, stake, status, last heartbeat."""
    info = _info(data)
    token = Path(info["admin_token_path"]).read_text(encoding="utf-8").strip()
    try:
        response = httpx.get(
            f"{url or info['url']}/api/v1/workers",
            headers={"Authorization": f"Bearer {token}"},
            verify=info["ca_path"],
            timeout=10,
        )
    except httpx.HTTPError as exc:
        fail(f"master unreachable: {exc.__class__.__name__}")
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
