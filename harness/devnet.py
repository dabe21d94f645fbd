"""A real devnet process: `k3s-daas devnet start` on free loopback ports, and handles to reach it.

`DevnetProcess(data_dir, grpc_port, faucet_port, args=())` runs
`k3s-daas devnet start --data DATA --port P --faucet-port Q --epoch-seconds 3600 ARGS`; `start()`
waits for `devnet.json` and the gRPC port. Its API, stable for tests and benchmarks:
- `.deployment` (chain.deployment.Deployment, as read from devnet.json), `.data_dir`,
  `.grpc_target` ("127.0.0.1:PORT"), `.grpc_host`, `.grpc_port`, `.faucet_url`, `.admin_url`,
  `.admin_key` (the genesis admin's SuiKeyPair, owns the AdminCap and 5 x 1,000 SUI), `.proc`;
- `stop()` (SIGTERM, wait), `kill9()`, `restart()` (same data dir and ports; waits until ready),
  `advance_epoch(rotate=None) -> int` (new epoch; `rotate=I`: validator I signs the next epoch
  with a new key), `faucet(address, amount=None) -> dict` (Sui's response),
  `committee()` (the anchor committee devnet.json names).
Env `K3S_DAAS_DEVNET_CMD` (space-separated) replaces the command prefix, e.g. to run under coverage.
`attestation_document(devnet, pcrs)` signs an enclave document with the devnet's dev CA.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from harness.processes import CLI, ManagedProcess, free_port, port_open, wait_for
from k3s_daas.attestation import AttestationDocument, DevCA, issue_enclave_leaf, sign_document
from k3s_daas.chain import CoinSent, Committee, Deployment, SuiKeyPair, request_gas_sync


def _command(data_dir: Path, port: int, faucet_port: int, args: tuple[str, ...]) -> list[str]:
    prefix = shlex.split(os.environ.get("K3S_DAAS_DEVNET_CMD", "")) or [CLI, "devnet", "start"]
    return [
        *prefix,
        "--data",
        str(data_dir),
        "--port",
        str(port),
        "--faucet-port",
        str(faucet_port),
        "--epoch-seconds",
        "3600",
        *args,
    ]


class _PortTaken(RuntimeError):
    """The devnet exited because one of its ports was in use."""


@dataclass
class DevnetProcess(ManagedProcess):
    """One running devnet subprocess and handles to reach it (see the module docstring)."""

    data_dir: Path
    grpc_port: int
    faucet_port: int
    args: tuple[str, ...] = ()  # more `devnet start` flags, e.g. ("--no-subscriptions",)
    #: `ip netns exec NAME` to run on another host (harness.netns); readiness is then
    #: devnet.json alone (written once both ports serve)
    netns: tuple[str, ...] = ()
    host: str = "127.0.0.1"  # `devnet start --host`
    proc: subprocess.Popen[bytes] = field(init=False)
    deployment: Deployment = field(init=False)
    admin_key: SuiKeyPair = field(init=False)

    @property
    def grpc_host(self) -> str:
        return self.host

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def faucet_url(self) -> str:
        return str(self.deployment.faucet_url)

    @property
    def admin_url(self) -> str:
        return str(self.deployment.admin_url)

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self) -> None:
        """Start it and wait until it serves. A port picked by `free_port` can be taken by a
        connection's ephemeral port before the devnet binds it (both come from the same range):
        then, on loopback, it starts again on two new ports (twice at most)."""
        for attempt in range(3):
            try:
                self._start()
                return
            except _PortTaken:
                if attempt == 2 or self.netns:
                    raise
                self.grpc_port, self.faucet_port = free_port(), free_port()

    def _start(self) -> None:
        json_path = self.data_dir / "devnet.json"
        json_path.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        args = (*self.args, "--host", self.host)
        argv = [*self.netns, *_command(self.data_dir, self.grpc_port, self.faucet_port, args)]
        self.proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "K3S_DAAS_LOG_JSON": "true"},
        )
        log.close()

        def ready() -> bool:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text()[-3000:]
                if "(port_in_use)" in tail.strip().rsplit("\n", 1)[-1]:  # its last words
                    raise _PortTaken(tail)
                raise RuntimeError(f"devnet exited early:\n{tail}")
            return json_path.exists() and (bool(self.netns) or port_open(self.grpc_port))

        wait_for(ready, timeout=60)
        self.deployment = Deployment.load(json_path)
        self.admin_key = SuiKeyPair.load(Path(str(self.deployment.admin_key_path)))

    def advance_epoch(self, rotate: int | None = None) -> int:
        params = {} if rotate is None else {"rotate": rotate}
        response = httpx.post(f"{self.admin_url}/epoch", params=params, timeout=10)
        response.raise_for_status()
        return int(response.json()["epoch"])

    def committee(self) -> Committee:
        anchor = self.deployment.committee
        if anchor is None:
            raise RuntimeError("devnet.json names no committee")
        return anchor.committee()

    def faucet(self, address: str, amount: int | None = None) -> list[CoinSent]:
        return request_gas_sync(self.faucet_url, address, amount=amount)


def attestation_document(devnet: DevnetProcess, pcrs: dict[int, bytes]) -> bytes:
    """A document signed by the devnet's dev CA (the simulated enclave's chain of trust)."""
    dep = devnet.deployment
    ca = DevCA.load_files(
        Path(str(dep.attestation_root_path)), Path(str(dep.attestation_ca_key_path))
    )
    leaf = issue_enclave_leaf(ca)
    doc = AttestationDocument(
        module_id="chain-test",
        timestamp_ms=int(datetime.now(UTC).timestamp() * 1000),
        pcrs={**{i: bytes(48) for i in range(16)}, **pcrs},
        certificate=leaf.certificate_der,
        cabundle=leaf.cabundle,
        public_key=b"\x09" * 32,
    )
    return sign_document(doc, leaf.key)
