"""TokenReview webhook throughput and p99 over HTTPS keep-alive, against a no-op endpoint of the
same server in the same run (the ratio is what to compare across runs on noisy machines).

The server runs in its own uvicorn process (so client and server do not share a GIL) with the
in-memory authenticator: this isolates the kube layer. benchmarks/tokenreview.py measures the same
webhook on a real master against a devnet.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

from fastapi import FastAPI
from rich.console import Console
from rich.table import Table

from benchmarks._measure import Conn, constant, http_request, keepalive_load
from harness.kube_doubles import MemoryAuthenticator
from harness.processes import free_port, port_open, stop_process, wait_for
from k3s_daas.kube.install import install
from k3s_daas.kube.tls import ServerIdentity
from k3s_daas.kube.webhooks import TOKENREVIEW_PATH
from k3s_daas.seal import Claims, Tier, format_token, permissions_for
from k3s_daas.seal.constants import STAKE_TYPE_USER

SECONDS = 3.0
CONCURRENCY = 32
NOOP_PATH = "/bench/noop"
TOKEN = format_token("0x" + "12" * 32, b"\x34" * 32)


def _claims() -> Claims:
    return Claims(
        owner="0x" + "56" * 32,
        node_id="",
        stake_type=STAKE_TYPE_USER,
        stake_amount=1_000,
        permissions=tuple(permissions_for(1_000)),
        tier=Tier.STANDARD,
        expires_at_epoch=100,
        token_id="0x" + "78" * 32,
        stake_record_id="0x" + "9a" * 32,
        enclave_id="0x" + "bc" * 32,
    )


def bench_app() -> FastAPI:
    """uvicorn factory: the webhook router plus a no-op POST of the same size class."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    install(app, auth=MemoryAuthenticator({TOKEN: _claims()}), api=False)

    @app.post(NOOP_PATH)
    async def noop() -> dict[str, bool]:
        return {"ok": True}

    return app


async def _run_client(port: int, ca_path: str) -> dict[str, dict[str, float]]:
    review = json.dumps(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": TOKEN}}
    ).encode()
    ctx = ssl.create_default_context(cafile=ca_path)
    conn = await Conn.open(port, ctx)
    request = http_request(port, "POST", TOKENREVIEW_PATH, review)
    try:
        code, body = await conn.send(request)
    finally:
        await conn.close()
    if code != 200 or json.loads(body)["status"]["authenticated"] is not True:
        raise RuntimeError(f"the warm-up TokenReview failed: {code} {body[:200]!r}")
    noop = http_request(port, "POST", NOOP_PATH, review)
    out = {}
    for name, req in (("noop", noop), ("tokenreview", request)):
        out[name] = await keepalive_load(
            port, ca_path, constant(req), seconds=SECONDS, concurrency=CONCURRENCY
        )
    return out


def run(out_dir: Path) -> dict[str, object]:
    """Start the server process, measure no-op vs TokenReview, print a table, return numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        identity = ServerIdentity.load_or_create(Path(tmp), ["localhost"], ["127.0.0.1"])
        port = free_port()
        root = Path(__file__).resolve().parents[1]
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "benchmarks.webhooks:bench_app", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--ssl-certfile", str(identity.cert_path), "--ssl-keyfile", str(identity.key_path),
            ],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )  # fmt: skip

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("benchmark server did not start")
            return port_open(port)

        try:
            wait_for(ready, timeout=30, interval=0.1)
            numbers = asyncio.run(_run_client(port, str(identity.ca_path)))
        finally:
            stop_process(proc)

    result: dict[str, object] = {
        f"{name}_{key}": round(value, 2) for name, m in numbers.items() for key, value in m.items()
    }
    result["tokenreview_vs_noop"] = round(
        numbers["tokenreview"]["per_s"] / numbers["noop"]["per_s"], 3
    )
    result["concurrency"] = CONCURRENCY
    table = Table(
        title=f"webhooks over HTTPS keep-alive ({SECONDS:.0f} s each, {CONCURRENCY} at once)"
    )
    for column in ("endpoint", "req/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "endpoint" else "left")
    for name, m in numbers.items():
        table.add_row(name, f"{m['per_s']:,.0f}", f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.2f}")
    table.add_row("tokenreview / noop", f"{result['tokenreview_vs_noop']}", "", "")
    Console().print(table)
    return result


if __name__ == "__main__":
    print(run(Path(tempfile.gettempdir())))
