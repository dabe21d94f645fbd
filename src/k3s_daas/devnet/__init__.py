"""The embedded Sui-compatible devnet: sui.rpc.v2 gRPC server, SQLite ledger, executor, faucet.

Start it with `k3s-daas devnet start` (or `python -m k3s_daas.devnet`); clients reach it over gRPC
only, exactly as they would reach a Sui full node. See docs/devnet.md.
"""
