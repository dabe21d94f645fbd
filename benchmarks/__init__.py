"""Benchmarks: each module exposes `run(out_dir: Path) -> dict`; `make bench` runs them all."""
