"""`k3s-daas worker start|status`: the staker-host agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from k3s_daas.cli._common import console, fail, handle_errors, run_async
from k3s_daas.cli.options import HomeOpt, JsonOpt, option
from k3s_daas.worker.config import WorkerConfig
from k3s_daas.worker.state import WorkerState

app = typer.Typer(no_args_is_help=True)

ConfigOpt: Any = option(
    None,
    "--config",
    "-c",
    env="WORKER_CONFIG",
    show_default="none: K3S_DAAS_WORKER_* variables only",
    help="Worker JSON config (seed keys); K3S_DAAS_WORKER_<KEY> variables override its keys.",
)


@app.command("start")
@handle_errors
def start(
    config: Path | None = ConfigOpt,
    home: Path | None = HomeOpt,
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
    config: Path | None = ConfigOpt,
    worker_state: Path | None = option(
        None,
        "--worker-state",
        env="WORKER_STATE",
        show_default="the config's state_file",
        help="The worker agent's state file.",
    ),
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Show the worker's local state (never its token)."""
    path = worker_state or WorkerConfig.load(config).state_file
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
