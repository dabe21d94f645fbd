"""`k3s-daas worker start|status`: the staker-host agent."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from k3s_daas.cli._common import console, fail, handle_errors, run_async
from k3s_daas.worker.config import WorkerConfig
from k3s_daas.worker.state import WorkerState

app = typer.Typer(no_args_is_help=True)


@app.command("start")
@handle_errors
def start(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Worker JSON config (seed keys)."
    ),
) -> None:
    """Stake, mint, attest the master, register and heartbeat until stopped or revoked.

    Exits 0 after a graceful leave (SIGTERM), 3 when the stake is slashed or the token revoked.
    """
    from k3s_daas.worker.agent import WorkerAgent
    from k3s_daas.worker.exits import WorkerExit

    cfg = WorkerConfig.load(config)
    try:
        code = run_async(WorkerAgent(cfg).run())
    except WorkerExit as exc:
        fail(f"{cfg.node_id}: {exc.message} ({exc.reason})", code=exc.code)
    raise typer.Exit(code)


@app.command("status")
@handle_errors
def status(
    config: Path | None = typer.Option(None, "--config", "-c", help="Worker JSON config."),
    state_file: Path | None = typer.Option(None, "--state", help="State file (default: config's)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the worker's local state (never its token)."""
    path = state_file or WorkerConfig.load(config).state_file
    state = WorkerState.load(path)
    if state is None:
        fail(f"no worker state at {path}")
    shown = state.model_dump(mode="json", exclude={"token"})
    if as_json:
        console.print_json(json.dumps(shown))
        return
    table = Table(show_header=False)
    for key, value in shown.items():
        table.add_row(key, "-" if value is None else str(value))
    console.print(table)
