"""Real Nautilus master processes, plus simulated workers that sign like real ones.

`MasterProcess(devnet, data_dir, port, env, wrap=())` runs `k3s-daas nautilus start` (under the
`wrap` command, if any) against a devnet on a loopback port with fast timings (`TEST_ENV`,
overridden by `env`): `.url`, `.ca_path`,
`.admin_token`, `.public_key` (enclave key), `.enclave_id`, `.proc`, `.data_dir`, `stop()`,
`kill9()`, `restart()`, `workers()` (the admin view).
`Staker` mints node stakes in one call and sends signed requests (`register`, `heartbeat`,
`leave`, or `send` for hand-made bodies) over HTTPS, exactly as the worker agent does.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.devnet import DevnetProcess
from harness.processes import CLI, ManagedProcess, port_open, wait_for
from k3s_daas.chain import ChainClient, K3sDaasPackage, MintedToken, SuiKeyPair, request_gas
from k3s_daas.seal.protocol import PATHS, Kind, signing_bytes
from k3s_daas.seal.token import token_fingerprint

#: Fast timings so lifecycle, caches and staleness are observable within a test.
TEST_ENV = {
    "K3S_DAAS_NAUTILUS_HEARTBEAT_INTERVAL": "1",
    "K3S_DAAS_NAUTILUS_EPOCH_TTL": "0.2",
    "K3S_DAAS_NAUTILUS_POOL_TTL": "0.2",
    "K3S_DAAS_NAUTILUS_CACHE_TTL": "1",
    "K3S_DAAS_NAUTILUS_STALENESS": "4",
    "K3S_DAAS_NAUTILUS_NEGATIVE_TTL": "0.2",
    "K3S_DAAS_NAUTILUS_CHAIN_TIMEOUT": "2",
}


@dataclass
class MasterProcess(ManagedProcess):
    """One `k3s-daas nautilus start` subprocess (see the module docstring)."""

    devnet: DevnetProcess
    data_dir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    #: A command the master runs under (it must exec it), e.g. `unshare` for a private mount.
    wrap: tuple[str, ...] = ()
    #: more `nautilus start` flags (--host, --advertised-url, --store, ...)
    args: tuple[str, ...] = ()
    #: `ip netns exec NAME` to run on another host (harness.netns); readiness is then
    #: nautilus.json alone (written once it serves)
    netns: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] = field(init=False)
    info: dict[str, Any] = field(init=False)

    @property
    def url(self) -> str:
        """The URL the master advertises (nautilus.json's) once started."""
        if getattr(self, "info", None):
            return str(self.info["url"])
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> str:
        return str(self.info["ca_path"])

    @property
    def admin_token(self) -> str:
        return Path(self.info["admin_token_path"]).read_text().strip()

    @property
    def public_key(self) -> bytes:
        return bytes.fromhex(self.info["public_key"])

    @property
    def enclave_id(self) -> str:
        return str(self.info["enclave_id"])

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def start(self) -> None:
        info_path = self.data_dir / "nautilus.json"
        info_path.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*self.netns, *self.wrap, CLI, "nautilus", "start",
                 "--deployment", str(self.devnet.data_dir / "devnet.json"),
                 "--data", str(self.data_dir), "--port", str(self.port), *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "K3S_DAAS_LOG_JSON": "true", **TEST_ENV, **self.env},
            )  # fmt: skip

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"master exited early:\n{self.log_path.read_text()[-3000:]}")
            return info_path.exists() and (bool(self.netns) or port_open(self.port))

        wait_for(ready, timeout=60)
        self.info = json.loads(info_path.read_text())

    def http(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ca_path, timeout=15, **kw)

    def workers(self) -> dict[str, dict[str, Any]]:
        with self.http() as client:
            response = client.get(
                "/api/v1/workers", headers={"Authorization": f"Bearer {self.admin_token}"}
            )
        response.raise_for_status()
        return {w["node_id"]: w for w in response.json()["workers"]}

    def validate(self, token: str) -> dict[str, Any]:
        """The validation answer; a 429 (tests that poll refusals drain their client's bucket) is
        waited out as a well-behaved client would, for up to ~10 s."""
        with self.http() as client:
            for _ in range(20):
                answer = client.post("/api/v1/validate", json={"token": token})
                if answer.status_code != 429:
                    break
                time.sleep(min(float(answer.headers.get("retry-after", "1")), 1.0) / 2)
            return dict(answer.json())


@dataclass
class Staker:
    """A simulated worker: a funded Sui key, a node stake + token, and signed HTTPS requests."""

    key: SuiKeyPair
    node_id: str
    minted: MintedToken

    @property
    def token(self) -> str:
        return self.minted.token

    def body(self, kind: Kind, master_key: bytes, *, token: str | None = None,
             sign_with: SuiKeyPair | None = None, **fields: Any) -> dict[str, Any]:  # fmt: skip
        """A signed body (fields override node_id/timestamp/nonce; extra fields are sent)."""
        body: dict[str, Any] = {
            "node_id": self.node_id,
            "timestamp": int(time.time() * 1000),
            "nonce": secrets.token_hex(16),
            **fields,
        }
        message = signing_bytes(kind, master_key, token_fingerprint(token or self.token), body)
        signature = (sign_with or self.key).sign_personal_message(message)
        body["signature"] = base64.b64encode(signature).decode()
        return body

    async def send(
        self, http: httpx.AsyncClient, kind: Kind, master_key: bytes,
        *, token: str | None = None, body: dict[str, Any] | None = None, **fields: Any,
    ) -> httpx.Response:  # fmt: skip
        payload = body if body is not None else self.body(kind, master_key, token=token, **fields)
        return await http.post(
            PATHS[kind], json=payload, headers={"X-Seal-Token": token or self.token}
        )


async def fund(devnet: DevnetProcess, *addresses: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for address in addresses:
            await request_gas(devnet.faucet_url, address, timeout=30, http=http)


async def new_staker(
    package: K3sDaasPackage, devnet: DevnetProcess, node_id: str, amount: int = 1_000,
    scheme: str = "ed25519",
) -> Staker:  # fmt: skip
    """Fund a fresh key of `scheme` and stake + mint for `node_id` in one transaction."""
    key = SuiKeyPair.generate(scheme)
    await fund(devnet, key.address)
    minted = await package.stake_and_create_worker_token(key, amount, node_id)
    return Staker(key, node_id, minted)


def chain(devnet: DevnetProcess) -> tuple[ChainClient, K3sDaasPackage]:
    client = ChainClient.from_deployment(devnet.deployment)
    return client, K3sDaasPackage(client, devnet.deployment)
