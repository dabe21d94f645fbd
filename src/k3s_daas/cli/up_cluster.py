"""The processes behind `k3s-daas up`: a devnet, a master and N workers, each started as the
command an operator would run by hand, stopped in reverse order; and how their state is read.

Each `up` starts a fresh chain unless resumed: the previous run's state is moved, whole, to
`<home>/previous/<timestamp>/` (keys under `<home>/keys` are the user's and never move).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from k3s_daas.chain import SCHEME_NAMES, SuiKeyPair
from k3s_daas.cli._common import fail, run_async
from k3s_daas.cli.up_view import Snapshot, Timings, WorkerRow
from k3s_daas.devnet.lock import holder
from k3s_daas.seal.protocol import WorkerPhase

CLI = str(Path(sys.executable).with_name("k3s-daas"))
STAKES = [100, 1_000, 10_000]  # MIST: one worker per tier, then round again
KEY_SCHEMES = SCHEME_NAMES  # ed25519, secp256k1, secp256r1: worker i gets the i-th, in turn
#: What one `up` run leaves under its home (moved aside by the next fresh start).
RUN_STATE = ("devnet", "nautilus", "workers", "user", "kubeconfig", "logs")
PREVIOUS = "previous"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Part:
    """One process of the cluster (its own session, its output appended to `log`)."""

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
    """The devnet, the master and the workers under `home`, started and stopped together."""

    home: Path
    workers: int
    epoch_seconds: float
    heartbeat: float
    timings: Timings = field(default_factory=Timings)
    parts: list[Part] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stakes: list[int] = field(default_factory=lambda: list(STAKES))  # MIST, worker i: i-th
    subscriptions: bool = True  # False: the devnet plays a node without checkpoint streams
    key_schemes: dict[int, str] = field(default_factory=dict)  # worker index -> its key's scheme

    @property
    def devnet_json(self) -> Path:
        return self.home / "devnet" / "devnet.json"

    @property
    def master_json(self) -> Path:
        return self.home / "nautilus" / "nautilus.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def worker_dir(self, i: int) -> Path:
        return self.home / "workers" / f"worker-{i}"

    def stake(self, i: int) -> int:
        return self.stakes[(i - 1) % len(self.stakes)]

    def check_not_running(self) -> None:
        """Refuse to touch a home whose devnet is served by another process (an `up` or a
        `devnet start` still running)."""
        running = holder(self.home / "devnet")
        if running is not None:
            stop = f"kill {running.pid}" if running.pid else "stop it"
            fail(f"{running.describe()} on {self.home}: {stop}, or pass another --home")

    def has_state(self) -> bool:
        """Whether a previous run left its chain or master here."""
        return any((self.home / name).exists() for name in ("devnet", "nautilus"))

    def set_aside(self) -> Path | None:
        """Move the previous run's state to `<home>/previous/<timestamp>/`; None when there was
        none. Keys (`<home>/keys`) stay."""
        present = [name for name in RUN_STATE if (self.home / name).exists()]
        if not present:
            return None
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        target = self.home / PREVIOUS / stamp
        n = 1
        while target.exists():
            n += 1
            target = self.home / PREVIOUS / f"{stamp}-{n}"
        target.mkdir(parents=True)
        for name in present:
            (self.home / name).rename(target / name)
        return target

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

    def start(self, step: Callable[[str], object] = lambda _: None) -> None:
        """Start the devnet, then the master, then the workers; `step` hears what is awaited."""
        logs = self.logs
        self.env["K3S_DAAS_HOME"] = str(self.home)
        self.devnet_json.unlink(missing_ok=True)
        devnet = Part(
            "devnet",
            [CLI, "devnet", "start", "--data", str(self.home / "devnet"),
             "--port", str(_free_port()), "--faucet-port", str(_free_port()),
             "--epoch-seconds", str(self.epoch_seconds),
             *([] if self.subscriptions else ["--no-subscriptions"])],
            logs / "devnet.log",
        )  # fmt: skip
        step("starting the devnet (genesis, pinning the enclave's PCRs)")
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
        step("starting the master (simulated enclave, registering it on chain)")
        master.start(self.env)
        self.parts.append(master)
        info = self._wait_file(self.master_json, master)
        self.timings.master_s = self.timings.elapsed()
        step(f"starting {self.workers} worker agents")
        for i in range(1, self.workers + 1):
            self._start_worker(i, info["url"], logs)

    def _start_worker(self, i: int, master_url: str, logs: Path) -> None:
        folder = self.worker_dir(i)
        folder.mkdir(parents=True, exist_ok=True)
        key_path = folder / "sui.key"
        if not key_path.exists():
            SuiKeyPair.generate(KEY_SCHEMES[(i - 1) % len(KEY_SCHEMES)]).save(key_path)
        self.key_schemes[i] = SuiKeyPair.load(key_path).scheme
        config = {
            "node_id": f"worker-{i}",
            "sui_key_file": str(key_path),
            "stake_amount": self.stake(i),
            "nautilus_endpoint": [master_url],
            "deployment": str(self.devnet_json),
            "state_file": str(folder / "state.json"),
            "heartbeat_interval": self.heartbeat,
            "mock_mode": True,
            "metrics_port": 0,  # several agents on one host: each on a free port (in its state)
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
        from k3s_daas.chain import ChainClient, Deployment, K3sDaasPackage, request_gas_sync
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
    def worker_states(self) -> list[WorkerRow]:
        rows = []
        for i in range(1, self.workers + 1):
            path = self.worker_dir(i) / "state.json"
            state: dict[str, Any] = {}
            with contextlib.suppress(OSError, ValueError):
                state = json.loads(path.read_text())
            part = next((p for p in self.parts if p.name == f"worker-{i}"), None)
            rows.append(
                WorkerRow(
                    node=f"worker-{i}",
                    status=state.get("status", WorkerPhase.STARTING),
                    reason=state.get("reason"),
                    stake=self.stake(i),
                    key_scheme=self.key_schemes.get(i, "-"),
                    tier=state.get("tier"),
                    permissions=state.get("permissions", []),
                    last_heartbeat=state.get("last_heartbeat"),
                    heartbeats=state.get("heartbeats", 0),
                    exit_code=None if part is None else part.exit_code,
                )
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
