"""`k3s-daas kubeconfig` and `k3s-daas exec-credential`: kubectl with a Seal token; and
`k3s_config_command` (wired by the lead as `nautilus k3s-config`) for K3s mode."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from k3s_daas.cli._common import console, fail, handle_errors
from k3s_daas.cli.options import HomeOpt, JsonOpt, option, output_option
from k3s_daas.kube.credential_cache import default_home
from k3s_daas.kube.exec_credential import exec_credential, load
from k3s_daas.kube.kubeconfig import kubectl_executable, write_kubeconfig

TokenFileOpt: Any = option(
    None,
    "--token-file",
    env="TOKEN_FILE",
    show_default="none: give it or --worker-state",
    help='Token file: {"token": "seal_...", "expires_at": "<RFC 3339>"} or a bare token.',
)
WorkerStateOpt: Any = option(
    None,
    "--worker-state",
    env="WORKER_STATE",
    show_default="none: give it or --token-file",
    help="The worker agent's state file (its token and token_expires_at are used).",
)
MasterUrlOpt: Any = option(..., "--master-url", env="MASTER_URL", help="The master's https:// URL.")
CaOpt: Any = option(..., "--ca", env="CA", help="The master's CA certificate (PEM).")


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
    master_url: str = MasterUrlOpt,
    ca: Path = CaOpt,
    token_file: Path | None = TokenFileOpt,
    worker_state: Path | None = WorkerStateOpt,
    output: Path = output_option("KUBECONFIG", "Where to write the kubeconfig.", required=True),
    name: str = option(
        "k3s-daas", "--name", env="KUBECONFIG_NAME", help="Cluster, user and context name."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Write a kubeconfig (0600) whose user runs `k3s-daas exec-credential`."""
    _one_source(token_file, worker_state)
    path = write_kubeconfig(
        output,
        server=master_url,
        ca_pem=_read_ca(ca),
        token_file=token_file,
        worker_state=worker_state,
        name=name,
    )
    hint = f"{kubectl_executable()} --kubeconfig {path} get nodes"
    if as_json:
        info = {"kubeconfig": str(path), "master_url": master_url, "context": name, "try": hint}
        console.print(json.dumps(info), highlight=False, markup=False, soft_wrap=True)
        return
    console.print(f"wrote {path} (use: {hint})", highlight=False)


@handle_errors
def exec_credential_command(
    token_file: Path | None = TokenFileOpt,
    worker_state: Path | None = WorkerStateOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Print an ExecCredential (client.authentication.k8s.io/v1) for kubectl; it is cached
    under <home>/cache/exec-credential/ (0600, never the token) until the token expires."""
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
    master_url: str = MasterUrlOpt,
    ca: Path = CaOpt,
    output: Path = output_option(
        "NAUTILUS_K3S_CONFIG", "Directory to write the webhook configs in.", required=True
    ),
    client_cert_from: Path | None = option(
        None,
        "--client-cert-from",
        env="NAUTILUS_K3S_CONFIG_CLIENT_CERT_FROM",
        show_default="none: webhooks without mTLS",
        help="The master's TLS directory (<data>/tls): issue kube-apiserver a client certificate "
        "for a master whose webhooks require mTLS (K3S_DAAS_NAUTILUS_WEBHOOK_PORT).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Write the kube-apiserver webhook configs and print the `k3s server` flags."""
    from k3s_daas.kube.k3s_config import write_k3s_config
    from k3s_daas.kube.tls import issue_client_certificate

    client = issue_client_certificate(client_cert_from) if client_cert_from else None
    config = write_k3s_config(output, master_url, _read_ca(ca), client)
    if as_json:
        info = {"files": [str(p) for p in config.files], "server_flags": config.server_flags}
        console.print(json.dumps(info), highlight=False, markup=False, soft_wrap=True)
        return
    for path in config.files:
        console.print(f"wrote {path}", highlight=False)
    console.print("k3s server \\", highlight=False)
    console.print(" \\\n".join(f"  {flag}" for flag in config.server_flags), highlight=False)


def register(app: typer.Typer) -> None:
    """Add the top-level `kubeconfig` and `exec-credential` commands."""
    app.command("kubeconfig")(kubeconfig_command)
    app.command("exec-credential")(exec_credential_command)
