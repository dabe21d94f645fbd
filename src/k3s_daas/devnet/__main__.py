"""`python -m k3s_daas.devnet [--data DIR] [--port N] [--faucet-port N] [--epoch-seconds S]
[--publish-only] [--no-subscriptions] [--validators N] [--checkpoint-interval S]`.

The same as `k3s-daas devnet start` (the CLI layer sits above devnet, so this parses by itself).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from k3s_daas.devnet.server import DevnetConfig, DevnetSettings, run_devnet
from k3s_daas.log import configure_logging
from k3s_daas.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    parser = argparse.ArgumentParser(prog="python -m k3s_daas.devnet")
    parser.add_argument("--data", type=Path, default=settings.devnet_dir)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--faucet-port", type=int, default=9123)
    parser.add_argument("--epoch-seconds", type=float, default=60.0)
    parser.add_argument("--publish-only", action="store_true")
    parser.add_argument(
        "--no-subscriptions",
        dest="subscriptions",
        action="store_false",
        default=DevnetSettings().subscriptions,
    )
    parser.add_argument("--validators", type=int, default=None)
    parser.add_argument(
        "--checkpoint-interval", type=float, default=DevnetSettings().checkpoint_interval
    )
    args = parser.parse_args()
    config = DevnetConfig(
        args.data,
        args.port,
        args.faucet_port,
        args.epoch_seconds,
        publish_only=args.publish_only,
        subscriptions=args.subscriptions,
        validators=args.validators,
        checkpoint_interval=args.checkpoint_interval,
    )
    asyncio.run(run_devnet(config, on_ready=lambda d: print(d.grpc_endpoints[0], flush=True)))


if __name__ == "__main__":  # pragma: no cover - thin entry point
    main()
