"""Series every k3s-daas process exports (the master's and the worker agent's registries)."""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Info, ProcessCollector

import k3s_daas

__all__ = ["process_and_build"]


def process_and_build(registry: CollectorRegistry) -> None:
    """`process_*` series (CPU, memory, fds, start time) and `k3s_daas_build_info`."""
    ProcessCollector(registry=registry)
    build = Info("k3s_daas_build", "The running k3s-daas build", registry=registry)
    build.info({"version": k3s_daas.__version__, "python": platform.python_version()})
