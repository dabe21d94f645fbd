"""Shared pytest set-up. Fixture modules live in tests/fixtures/, one per kind of real server."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile

import pytest

# No test reads or writes the user's real home (~/.k3s-daas): every command a test runs, in
# process or as a child, uses this one unless the test names its own.
os.environ["K3S_DAAS_HOME"] = tempfile.mkdtemp(prefix="k3s-daas-test-home-")
atexit.register(shutil.rmtree, os.environ["K3S_DAAS_HOME"], True)

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
