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
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import typer
from rich.live import Live
from rich.table import Table

from k3s_daas.chain.keys import SuiKeyPair
from k3s_daas.cli._common import console, err_console, fail, handle_errors
from k3s_daas.settings import Settings

CLI = str(Path(sys.executable).with_name("k3s-daas"))
STAKES = [100, 1_000, 10_000]  # one worker per tier, then round again
PHASES = ["new", "funding", "staking", "minting", "attesting", "registering", "ready"]
POLL_SECONDS = 0.5  # how often the workers' state files and the master's view are read
T = TypeVar("T")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if match is None:
        raise typer.BadParameter("use a duration like 30s, 2m or 90")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * scale


@dataclass
class Timings:
    """Seconds from the start of `up` (time.monotonic) to each milestone; None until reached."""

    started: float = field(default_factory=time.monotonic)
    devnet_s: float | None = None
    master_s: float | None = None
    workers_ready_s: float | None = None  # the first time every worker was ready at once

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def workers_ready(self) -> bool:
        """Record that every worker is ready; True only the first time."""
        if self.workers_ready_s is not None:
            return False
        self.workers_ready_s = self.elapsed()
        return True

    def as_json(self) -> dict[str, float | None]:
        return {
            "devnet_s": self.devnet_s,
            "master_s": self.master_s,
            "workers_ready_s": self.workers_ready_s,
        }


@dataclass
class Snapshot:
    """The workers at one poll: their own state files (`rows`) and the master's registry."""

    rows: list[dict[str, Any]]
    master: dict[str, dict[str, Any]]

    def status(self, row: dict[str, Any]) -> str:
        """What the master decided when it knows the node, else what the worker says."""
        return str(self.master.get(row["node"], {}).get("status") or row["status"])

    @property
    def all_ready(self) -> bool:
        return all(self.status(r) == "ready" for r in self.rows)

    @property
    def ready(self) -> int:
        return sum(1 for r in self.rows if self.status(r) == "ready")

    @property
    def revoked(self) -> int:
        """Workers the chain put out (stake slashed, token revoked, ...): revoked, and their
        agent exited with its revocation code. That is the system working, not a failure."""
        from k3s_daas.worker.agent import EXIT_REVOKED  # the chain stack: not for `--help`

        return sum(
            1 for r in self.rows if self.status(r) == "revoked" and r["exit_code"] == EXIT_REVOKED
        )


@dataclass
class Part:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    @property
    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Cluster:
    home: Path
    workers: int
    epoch_seconds: float
    heartbeat: float
    timings: Timings = field(default_factory=Timings)
    parts: list[Part] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def devnet_json(self) -> Path:
        return self.home / "devnet" / "devnet.json"

    @property
    def master_json(self) -> Path:
        return self.home / "nautilus" / "nautilus.json"

    def worker_dir(self, i: int) -> Path:
        return self.home / "workers" / f"worker-{i}"

    def _wait_file(self, path: Path, part: Part, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if part.exit_code is not None:
                fail(f"{part.name} exited with code {part.exit_code}; see {part.log}")
            if path.exists():
                with contextlib.suppress(ValueError):
                    data: dict[str, Any] = json.loads(path.read_text())
                    return data
            time.sleep(0.1)
        fail(f"{part.name} did not start within {timeout:.0f}s; see {part.log}")

    def start(self) -> None:
        logs = self.home / "logs"
        self.env["K3S_DAAS_HOME"] = str(self.home)
        self.devnet_json.unlink(missing_ok=True)
        devnet = Part(
            "devnet",
            [CLI, "devnet", "start", "--data", str(self.home / "devnet"),
             "--port", str(_free_port()), "--faucet-port", str(_free_port()),
             "--epoch-seconds", str(self.epoch_seconds)],
            logs / "devnet.log",
        )  # fmt: skip
        devnet.start(self.env)
        self.parts.append(devnet)
        self._wait_file(self.devnet_json, devnet)
        self.timings.devnet_s = self.timings.elapsed()
        self.master_json.unlink(missing_ok=True)
        master = Part(
            "nautilus",
            [CLI, "nautilus", "start", "--deployment", str(self.devnet_json),
             "--data", str(self.home / "nautilus"), "--port", str(_free_port())],
            logs / "nautilus.log",
        )  # fmt: skip
        master.start(self.env)
        self.parts.append(master)
        info = self._wait_file(self.master_json, master)
        self.timings.master_s = self.timings.elapsed()
        for i in range(1, self.workers + 1):
            self._start_worker(i, info["url"], logs)

    def _start_worker(self, i: int, master_url: str, logs: Path) -> None:
        folder = self.worker_dir(i)
        folder.mkdir(parents=True, exist_ok=True)
        key_path = folder / "sui.key"
        if not key_path.exists():
            SuiKeyPair.generate().save(key_path)
        config = {
            "node_id": f"worker-{i}",
            "sui_key_file": str(key_path),
            "stake_amount": STAKES[(i - 1) % len(STAKES)],
            "nautilus_endpoint": [master_url],
            "deployment": str(self.devnet_json),
            "state_file": str(folder / "state.json"),
            "heartbeat_interval": self.heartbeat,
            "mock_mode": True,
        }
        config_path = folder / "config.json"
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        part = Part(
            f"worker-{i}",
            [CLI, "worker", "start", "--config", str(config_path)],
            logs / f"worker-{i}.log",
        )
        part.start(self.env)
        self.parts.append(part)

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.stop()

    def write_kubeconfig(self) -> Path:
        """A kubectl user for the operator: a premium user stake, a user token with every
        permission, and a kubeconfig whose exec plugin hands kubectl that token."""
        from datetime import UTC, datetime, timedelta

        from k3s_daas.chain.client import ChainClient
        from k3s_daas.chain.deployment import Deployment
        from k3s_daas.chain.faucet import request_gas_sync
        from k3s_daas.chain.package import K3sDaasPackage
        from k3s_daas.cli._common import run_async
        from k3s_daas.kube.kubeconfig import write_kubeconfig, write_private_json

        deployment = Deployment.load(self.devnet_json)
        folder = self.home / "user"
        key_path = folder / "sui.key"
        if not key_path.exists():
            SuiKeyPair.generate().save(key_path)
        key = SuiKeyPair.load(key_path)
        assert deployment.faucet_url is not None
        request_gas_sync(deployment.faucet_url, key.address)

        async def mint() -> tuple[str, int]:
            async with ChainClient.from_deployment(deployment) as chain:
                package = K3sDaasPackage(chain, deployment)
                record = await package.stake_for_user(key, STAKES[-1])
                minted = await package.create_user_token(
                    key,
                    record.id,
                    ["pods:read", "services:read", "nodes:write", "pods:write", "*:*"],
                )
                return minted.token, minted.view.expires_at - await chain.current_epoch()

        token, epochs_left = run_async(mint())
        expires = datetime.now(UTC) + timedelta(seconds=max(1, epochs_left) * self.epoch_seconds)
        token_file = folder / "token.json"
        write_private_json(
            token_file, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        )
        info = json.loads(self.master_json.read_text())
        return write_kubeconfig(
            self.home / "kubeconfig",
            server=info["url"],
            ca_pem=Path(info["ca_path"]).read_bytes(),
            token_file=token_file,
        )

    # ---- status ----------------------------------------------------------------------------
    def worker_states(self) -> list[dict[str, Any]]:
        rows = []
        for i in range(1, self.workers + 1):
            path = self.worker_dir(i) / "state.json"
            state: dict[str, Any] = {}
            with contextlib.suppress(OSError, ValueError):
                state = json.loads(path.read_text())
            part = next((p for p in self.parts if p.name == f"worker-{i}"), None)
            rows.append(
                {
                    "node": f"worker-{i}",
                    "status": state.get("status", "starting"),
                    "reason": state.get("reason"),
                    "stake": STAKES[(i - 1) % len(STAKES)],
                    "tier": state.get("tier"),
                    "permissions": state.get("permissions", []),
                    "last_heartbeat": state.get("last_heartbeat"),
                    "heartbeats": state.get("heartbeats", 0),
                    "exit_code": None if part is None else part.exit_code,
                }
            )
        return rows

    def master_view(self) -> dict[str, dict[str, Any]]:
        """The master's own registry (what it decided), keyed by node."""
        try:
            info = json.loads(self.master_json.read_text())
            token = Path(info["admin_token_path"]).read_text().strip()
            response = httpx.get(
                f"{info['url']}/api/v1/workers",
                headers={"Authorization": f"Bearer {token}"},
                verify=info["ca_path"],
                timeout=2.0,
            )
            items = response.json().get("workers", [])
            return {w["node_id"]: w for w in items}
        except (OSError, ValueError, KeyError, httpx.HTTPError):
            return {}

    def poll(self) -> Snapshot:
        """The workers now: their state files and the master's view."""
        return Snapshot(self.worker_states(), self.master_view())


def _table(snapshot: Snapshot) -> Table:
    table = Table(title="k3s-daas: workers admitted by stake", expand=False)
    for column in ("node", "stake (MIST)", "tier", "permissions", "status", "last heartbeat"):
        table.add_column(column)
    for row in snapshot.rows:
        seen = snapshot.master.get(row["node"], {})
        status = snapshot.status(row)
        if row["exit_code"] not in (None, 0):
            status = f"exited ({row['reason'] or row['exit_code']})"
        colour = {"ready": "green", "revoked": "red", "not_ready": "yellow"}.get(status, "white")
        table.add_row(
            row["node"],
            str(row["stake"]),
            str(seen.get("tier") or row["tier"] or "-"),
            ", ".join(seen.get("permissions") or row["permissions"]) or "-",
            f"[{colour}]{status}[/]",
            str(seen.get("last_heartbeat") or row["last_heartbeat"] or "-"),
        )
    return table


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
    workers: int = typer.Option(3, "--workers", min=1, max=50, help="Number of workers."),
    run_for: str | None = typer.Option(None, "--for", help="Stop after this long (e.g. 30s)."),
    as_json: bool = typer.Option(False, "--json", help="Print a final JSON status (for CI)."),
    home: Path | None = typer.Option(None, "--home", help="Working directory (.k3s-daas)."),
    epoch_seconds: float = typer.Option(60.0, "--epoch-seconds", min=0.5),
    heartbeat: float = typer.Option(2.0, "--heartbeat", min=0.2, help="Heartbeat interval (s)."),
) -> None:
    """Run devnet, Nautilus master and N workers; show a live table; Ctrl-C stops everything."""
    _run(workers, _duration(run_for), as_json, home, epoch_seconds, heartbeat)


@handle_errors
def _run(
    workers: int,
    duration: float | None,
    as_json: bool,
    home: Path | None,
    epoch_seconds: float,
    heartbeat: float,
) -> None:
    timings = Timings()
    cluster = Cluster(
        (home or Settings().home).resolve(), workers, epoch_seconds, heartbeat, timings
    )
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
                    f"try: kubectl --kubeconfig {kubeconfig} get nodes\n"
                    f"slash a worker from another terminal: k3s-daas devnet slash worker-2 "
                    f"--deployment {cluster.devnet_json}"
                )
            if as_json:
                _poll_until(deadline, poll)
            else:
                with Live(_table(poll()), console=console, refresh_per_second=2) as live:
                    _poll_until(deadline, lambda: live.update(_table(poll())))
        except KeyboardInterrupt:
            err_console.print("stopping ...")
        finally:
            final = poll()
            cluster.stop()
    ready, revoked = final.ready, final.revoked
    if as_json:
        result = {
            "workers": final.rows,
            "ready": ready,
            "revoked": revoked,
            "timings": timings.as_json(),
            "home": str(cluster.home),
        }
        print(json.dumps(result, default=str))
    if duration is not None and ready + revoked < workers:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
