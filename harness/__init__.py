"""Real k3s-daas processes on loopback (devnet, master, workers, etcd), started and stopped by PID.

Shared by `tests/` (whose pytest fixtures wrap these launchers) and `benchmarks/`, so that neither
imports the other; nothing here ships in the product wheel.
"""
