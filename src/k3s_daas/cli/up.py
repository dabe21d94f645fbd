"""`k3s-daas up`: devnet + master + N workers on the embedded defaults, in one command.

Each part runs as its own process — exactly the commands an operator would run by hand — so what
`up` shows is what a real deployment does. Ctrl-C, SIGTERM or `--for` stops them in reverse order.
Every run starts a fresh chain (the previous state moved aside, its path printed) unless
`--resume`. The parts log to files under `<home>/logs/`, and so does `up` itself while its table
is live, so nothing but the table and its spinners reaches the terminal.

`--for ... --json` prints one final JSON object: the workers, how many are `ready`, how many were
`revoked` by the chain (stake slashed, token revoked, ...: their agent exited 3), and `timings`
(seconds from the start of the command to devnet ready, master ready, all workers first ready).
It exits 0 when every worker is one or the other, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import RenderableType
from rich.live import Live

from k3s_daas.cli._common import console, err_console, handle_errors, progress
from k3s_daas.cli.options import HomeOpt, option
from k3s_daas.cli.up_cluster import CLI, STAKES, Cluster
from k3s_daas.cli.up_view import Snapshot, Timings, caption, summary, table
from k3s_daas.kube.kubeconfig import kubectl_executable
from k3s_daas.log import logs_to_file
from k3s_daas.seal.amounts import parse_amount
from k3s_daas.settings import Settings

POLL_SECONDS = 0.5  # how often the workers' state files and the master's view are read
T = TypeVar("T")


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if match is None:
        raise typer.BadParameter("use a duration like 30s, 2m or 90")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * scale


def _while_polling(work: Callable[[], T], poll: Callable[[], object]) -> T:
    """Run `work` in a thread and `poll` every POLL_SECONDS until it is done, so that workers
    becoming ready meanwhile (while the operator's kubeconfig is minted) are timed when they do."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="k3s-daas-up")
    try:
        future = pool.submit(work)
        while not wait_futures([future], timeout=POLL_SECONDS).done:
            poll()
        return future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _poll_until(deadline: float | None, poll: Callable[[], object]) -> None:
    """`poll` every POLL_SECONDS until `deadline` (monotonic), or forever when None."""
    while deadline is None or time.monotonic() < deadline:
        left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
        time.sleep(max(0.0, min(POLL_SECONDS, left)))
        poll()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops everything the way Ctrl-C does (the parts run in their own sessions, so
    they would outlive an `up` that just died)."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stakes(text: str | None) -> list[int]:
    """`--stakes 100,1000,1SUI`: worker i stakes the i-th, in turn."""
    if text is None:
        return list(STAKES)
    return [parse_amount(part, "stake") for part in text.split(",") if part.strip()] or list(STAKES)


def up(
    workers: int = option(
        3, "--workers", env="UP_WORKERS", min=1, max=50, help="Number of workers."
    ),
    run_for: str | None = option(
        None,
        "--for",
        env="UP_FOR",
        show_default="until Ctrl-C",
        help="Stop after this long (e.g. 30s, 2m).",
    ),
    as_json: bool = option(
        False, "--json", env="JSON", help="Print a final JSON status (for CI) instead of a table."
    ),
    home: Path | None = HomeOpt,
    resume: bool = option(
        False,
        "--resume",
        env="UP_RESUME",
        help="Continue the previous run's chain and master state instead of starting fresh.",
    ),
    wide: bool = option(
        False,
        "--wide",
        env="UP_WIDE",
        help="Also show key schemes, permissions, heartbeat counts and times, exit codes.",
    ),
    stakes: str | None = option(
        None,
        "--stakes",
        env="UP_STAKES",
        show_default="100,1000,10000: one worker per tier",
        help="Workers' stakes in turn, comma-separated (1.5SUI, 100MIST or MIST).",
    ),
    epoch_seconds: float = option(
        60.0,
        "--epoch-seconds",
        env="UP_EPOCH_SECONDS",
        min=0.5,
        help="The devnet's epoch length in seconds.",
    ),
    heartbeat: float = option(
        2.0,
        "--heartbeat-interval",
        env="UP_HEARTBEAT_INTERVAL",
        min=0.2,
        help="Seconds between the workers' heartbeats.",
    ),
    subscriptions: bool = option(
        True,
        "--subscriptions/--no-subscriptions",
        env="UP_SUBSCRIPTIONS",
        help="--no-subscriptions: the devnet serves no checkpoint stream (like some full nodes); "
        "the master's watcher polls instead.",
    ),
) -> None:
    """Run devnet, Nautilus master and N workers on a fresh chain; show a live table; Ctrl-C
    stops everything."""
    options = UpOptions(
        workers,
        _duration(run_for),
        as_json,
        home,
        resume=resume,
        wide=wide,
        epoch_seconds=epoch_seconds,
        heartbeat=heartbeat,
        subscriptions=subscriptions,
    )
    _run(options, stakes)


@dataclass(frozen=True)
class UpOptions:
    """The command line of one `up`."""

    workers: int
    duration: float | None
    as_json: bool
    home: Path | None
    resume: bool = False
    wide: bool = False
    epoch_seconds: float = 60.0
    heartbeat: float = 2.0
    subscriptions: bool = True  # False: the devnet serves no checkpoint stream; the master polls


def _invocable(program: str) -> str:
    """How to type `program` here: its name when it is on PATH, else a path (relative when
    under the current directory, as `.venv/bin/k3s-daas`)."""
    name = Path(program).name
    if shutil.which(name) == program:
        return name
    relative = os.path.relpath(program)
    return program if relative.startswith("..") else relative


def _announce(cluster: Cluster, resume: bool) -> str:
    """Set the previous run aside (or not, with --resume) and say so in one line."""
    cluster.check_not_running()
    if resume:
        if not cluster.has_state():
            return f"nothing to resume in {cluster.home}: fresh start"
        return f"resuming the previous chain and master state in {cluster.home} (--resume)"
    previous = cluster.set_aside()
    if previous is None:
        return f"fresh start in {cluster.home}"
    return f"fresh start: the previous state is in {previous} (`up --resume` continues it)"


@handle_errors
def _run(options: UpOptions, stakes_text: str | None) -> None:
    stakes = _stakes(stakes_text)
    timings = Timings()
    settings = Settings()
    cluster = Cluster(
        (options.home or settings.home).resolve(),
        options.workers,
        options.epoch_seconds,
        options.heartbeat,
        timings,
        stakes=stakes,
        subscriptions=options.subscriptions,
    )
    deadline = None if options.duration is None else timings.started + options.duration
    say = err_console if options.as_json else console
    say.print(_announce(cluster, options.resume), highlight=False, soft_wrap=True)
    say.print(
        f"logs: {cluster.logs}/{{devnet,nautilus,worker-N,up}}.log", highlight=False, soft_wrap=True
    )

    def view(snapshot: Snapshot) -> RenderableType:
        return table(snapshot, wide=options.wide, footer=caption(snapshot, timings))

    def poll() -> Snapshot:
        snapshot = cluster.poll()
        if snapshot.all_ready:
            timings.workers_ready()
        return snapshot

    log_file = cluster.logs / "up.log"
    with (
        _sigterm_as_interrupt(),
        logs_to_file(log_file, settings.log_level, json=settings.log_json),
    ):
        try:
            with progress("starting ...") as status:
                cluster.start(lambda text: status.update(f"{text} ..."))

                def waiting() -> None:
                    ready = poll().ready
                    status.update(
                        "staking and minting the operator's kubectl token, waiting for finality"
                        f" ... ({ready}/{options.workers} workers ready)"
                    )

                kubeconfig = _while_polling(cluster.write_kubeconfig, waiting)
            if not options.as_json:
                deployment = (
                    ""
                    if cluster.home == settings.home.resolve()
                    else (f" --deployment {cluster.devnet_json}")
                )
                console.print(
                    f"kubeconfig: {kubeconfig}\n"
                    f"try: {kubectl_executable()} --kubeconfig {kubeconfig} get nodes\n"
                    f"slash a worker from another terminal: {_invocable(CLI)} devnet slash "
                    f"worker-2{deployment}",
                    highlight=False,
                    soft_wrap=True,
                )
            if options.as_json:
                _poll_until(deadline, poll)
            else:
                with Live(view(poll()), console=console, refresh_per_second=2) as live:
                    _poll_until(deadline, lambda: live.update(view(poll())))
        except KeyboardInterrupt:
            err_console.print("stopping ...")
        finally:
            final = poll()
            cluster.stop()
    if options.as_json:
        print(json.dumps(summary(final, timings, cluster.home), default=str))
    if options.duration is not None and final.ready + final.revoked < options.workers:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
