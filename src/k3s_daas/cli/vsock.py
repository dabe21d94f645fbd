"""`k3s-daas vsock-proxy`: the vsock <-> TCP forwarder of a Nitro enclave deployment
(nautilus/vsock.py), run inside the enclave and on its parent instance."""

from __future__ import annotations

from pathlib import Path

import typer

from k3s_daas.cli._common import fail, handle_errors, run_async
from k3s_daas.cli.options import HomeOpt, option


def vsock_proxy(
    forward: list[str] = option(
        ...,
        "--forward",
        env="VSOCK_PROXY_FORWARD",
        help="LISTEN=CONNECT, each tcp:HOST:PORT, vsock:CID:PORT (CID: a number, any, local, "
        "host, parent) or unix:PATH; repeat for more (env: space-separated). Parent: "
        "tcp:0.0.0.0:8443=vsock:16:8443; enclave: vsock:any:8443=tcp:127.0.0.1:8443.",
    ),
    max_connections: int = option(
        1024,
        "--max-connections",
        env="VSOCK_PROXY_MAX_CONNECTIONS",
        min=1,
        help="Connections at once per forward; more are closed at once.",
    ),
    connect_timeout: float = option(
        5.0,
        "--connect-timeout",
        env="VSOCK_PROXY_CONNECT_TIMEOUT",
        min=0.1,
        help="Seconds to open the forwarded connection.",
    ),
    home: Path | None = HomeOpt,
) -> None:
    """Forward connections between TCP, vsock and Unix sockets until stopped (SIGTERM)."""
    from k3s_daas.nautilus.vsock import ForwardError, parse_forward, run_forwards

    try:
        forwards = [parse_forward(spec) for spec in forward]
    except ForwardError as exc:
        fail(f"--forward {exc.message}")
    run_async(run_forwards(forwards, max_connections=max_connections,
                           connect_timeout=connect_timeout))  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("vsock-proxy")(handle_errors(vsock_proxy))
