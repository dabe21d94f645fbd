"""Shared pytest set-up. Fixture modules live in tests/fixtures/, one per kind of real server."""

from __future__ import annotations

import importlib.util
import os

import pytest

# Each module starts real processes (devnet, master, etcd, redis, kubectl) on loopback ports.
_FIXTURE_MODULES = [
    "tests.fixtures.devnet",
    "tests.fixtures.services",
    "tests.fixtures.master",
    "tests.fixtures.kube",
    "tests.fixtures.golden",
]
pytest_plugins = [m for m in _FIXTURE_MODULES if importlib.util.find_spec(m) is not None]

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(found: bool, what: str) -> None:
    """Skip locally when a tool is absent, but fail in CI: a missing server is never a pass."""
    if found:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is missing")
    pytest.skip(f"{what} not installed")
