"""`k3s-daas kubeconfig` and `k3s-daas exec-credential`: kubectl with a Seal token; and
`k3s_config_command` (wired by the lead as `nautilus k3s-config`) for K3s mode."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from k3s_daas.cli._common import console, fail, handle_errors
from k3s_daas.kube.credential_cache import default_home
from k3s_daas.kube.exec_credential import exec_credential, load
from k3s_daas.kube.kubeconfig import kubectl_executable, write_kubeconfig

TOKEN_FILE_HELP = 'Token file: {"token": "seal_...", "expires_at": "<RFC 3339>"} or a bare token.'  # noqa: S105
WORKER_STATE_HELP = "The worker agent's state file (its token and token_expires_at are used)."


def _one_source(token_file: Path | None, worker_state: Path | None) -> None:
    if (token_file is None) == (worker_state is None):
        fail("give exactly one of --token-file and --worker-state")


def _read_ca(path: Path) -> bytes:
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" not in data:
        fail(f"{path}: not a PEM certificate")
    return data


@handle_errors
def kubeconfig_command(
    server: str = typer.Option(..., "--server", help="The master's https:// URL."),
    ca: Path = typer.Option(..., "--ca", help="The master's CA certificate (PEM)."),
    token_file: Path | None = typer.Option(None, "--token-file", help=TOKEN_FILE_HELP),
    worker_state: Path | None = typer.Option(None, "--worker-state", help=WORKER_STATE_HELP),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the kubeconfig."),
    name: str = typer.Option("k3s-daas", "--name", help="Cluster/context name."),
) -> None:
    """Write a kubeconfig (0600) whose user runs `k3s-daas exec-credential`."""
    _one_source(token_file, worker_state)
    path = write_kubeconfig(
        output,
        server=server,
        ca_pem=_read_ca(ca),
        token_file=token_file,
        worker_state=worker_state,
        name=name,
    )
    hint = f"{kubectl_executable()} --kubeconfig {path} get nodes"
    console.print(f"wrote {path} (use: {hint})", highlight=False)


@handle_errors
def exec_credential_command(
    token_file: Path | None = typer.Option(None, "--token-file", help=TOKEN_FILE_HELP),
    worker_state: Path | None = typer.Option(None, "--worker-state", help=WORKER_STATE_HELP),
    home: Path | None = typer.Option(
        None,
        "--home",
        envvar="K3S_DAAS_HOME",
        show_default="~/.k3s-daas",
        help="Holds the credential cache (cache/exec-credential/, 0600; never the token).",
    ),
) -> None:
    """Print an ExecCredential (client.authentication.k8s.io/v1) for kubectl."""
    _one_source(token_file, worker_state)
    cache_home = home.expanduser() if home is not None else default_home()
    if token_file is not None:
        cred = load("token-file", token_file, cache_home=cache_home)
    else:
        assert worker_state is not None
        cred = load("worker-state", worker_state, cache_home=cache_home)
    sys.stdout.write(json.dumps(exec_credential(cred)) + "\n")


@handle_errors
def k3s_config_command(
    master_url: str = typer.Option(..., "--master-url", help="The master's https:// URL."),
    ca: Path = typer.Option(..., "--ca", help="The master's CA certificate (PEM)."),
    out_dir: Path = typer.Option(..., "--out-dir", help="Where to write the webhook configs."),
    client_cert_from: Path | None = typer.Option(
        None,
        "--client-cert-from",
        help="The master's TLS directory (<data>/tls): issue kube-apiserver a client certificate "
        "for a master whose webhooks require mTLS (K3S_DAAS_NAUTILUS_WEBHOOK_PORT).",
    ),
) -> None:
    """Write the kube-apiserver webhook configs and print the `k3s server` flags."""
    from k3s_daas.kube.k3s import write_k3s_config  # the kubernetes client is slow to import
    from k3s_daas.kube.tls import issue_client_certificate

    client = issue_client_certificate(client_cert_from) if client_cert_from else None
    config = write_k3s_config(out_dir, master_url, _read_ca(ca), client)
    for path in config.files:
        console.print(f"wrote {path}", highlight=False)
    console.print("k3s server \\", highlight=False)
    console.print(" \\\n".join(f"  {flag}" for flag in config.server_flags), highlight=False)


def register(app: typer.Typer) -> None:
    """Add the top-level `kubeconfig` and `exec-credential` commands."""
    app.command("kubeconfig")(kubeconfig_command)
    app.command("exec-credential")(exec_credential_command)
