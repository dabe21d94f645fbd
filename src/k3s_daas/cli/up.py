"""`k3s-daas up`: devnet + master + N workers on the embedded defaults, in one command.

Each part runs as its own process — exactly the commands an operator would run by hand — so what
`up` shows is what a real deployment does. Ctrl-C, SIGTERM or `--for` stops them in reverse order.

`--for ... --json` prints one final JSON object: the workers, how many are `ready`, how many were
`revoked` by the chain (stake slashed, token revoked, ...: their agent exited 3), and `timings`
(seconds from the start of the command to devnet ready, master ready, all workers first ready).
It exits 0 when every worker is one or the other, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import TypeVar

import typer
from rich.live import Live

from k3s_daas.cli._common import console, err_console, handle_errors
from k3s_daas.cli.options import HomeOpt, option
from k3s_daas.cli.up_cluster import Cluster
from k3s_daas.cli.up_view import Snapshot, Timings, summary, table
from k3s_daas.kube.kubeconfig import kubectl_executable
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
    """Run devnet, Nautilus master and N workers; show a live table; Ctrl-C stops everything."""
    _run(workers, _duration(run_for), as_json, home, epoch_seconds, heartbeat, subscriptions)


@handle_errors
def _run(
    workers: int,
    duration: float | None,
    as_json: bool,
    home: Path | None,
    epoch_seconds: float,
    heartbeat: float,
    subscriptions: bool = True,
) -> None:
    timings = Timings()
    cluster = Cluster(
        (home or Settings().home).resolve(), workers, epoch_seconds, heartbeat, timings,
        subscriptions=subscriptions,
    )  # fmt: skip
    deadline = None if duration is None else timings.started + duration
    plural = "worker" if workers == 1 else "workers"

    def poll() -> Snapshot:
        snapshot = cluster.poll()
        if snapshot.all_ready and timings.workers_ready() and not as_json:
            console.print(f"{workers} {plural} ready in {timings.workers_ready_s:.1f} s")
        return snapshot

    with _sigterm_as_interrupt():
        try:
            if not as_json:
                console.print(
                    f"starting devnet, master and {workers} {plural} in {cluster.home} ..."
                )
            cluster.start()
            kubeconfig = _while_polling(cluster.write_kubeconfig, poll)
            if not as_json:
                console.print(
                    f"kubeconfig: {kubeconfig}\n"
                    f"try: {kubectl_executable()} --kubeconfig {kubeconfig} get nodes\n"
                    f"slash a worker from another terminal: k3s-daas devnet slash worker-2 "
                    f"--deployment {cluster.devnet_json}"
                )
            if as_json:
                _poll_until(deadline, poll)
            else:
                with Live(table(poll()), console=console, refresh_per_second=2) as live:
                    _poll_until(deadline, lambda: live.update(table(poll())))
        except KeyboardInterrupt:
            err_console.print("stopping ...")
        finally:
            final = poll()
            cluster.stop()
    if as_json:
        print(json.dumps(summary(final, timings, cluster.home), default=str))
    if duration is not None and final.ready + final.revoked < workers:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
