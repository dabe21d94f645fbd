"""`devnet start --no-subscriptions`, `K3S_DAAS_DEVNET_SUBSCRIPTIONS=false` and
`python -m k3s_daas.devnet --no-subscriptions` all configure a devnet without the subscription
service (what it then answers is pinned in tests/integration/test_nautilus_chain_polling.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import k3s_daas.devnet.__main__ as devnet_main
import k3s_daas.devnet.server as server
from k3s_daas.cli.devnet import app as devnet_app
from k3s_daas.devnet.server import DevnetConfig


@pytest.fixture
def configs(monkeypatch: pytest.MonkeyPatch) -> list[DevnetConfig]:
    """Replaces run_devnet: records each config instead of serving."""
    seen: list[DevnetConfig] = []

    async def fake(config: DevnetConfig, *, on_ready: Callable[..., Any] | None = None) -> None:
        del on_ready
        seen.append(config)

    monkeypatch.setattr(server, "run_devnet", fake)
    monkeypatch.setattr(devnet_main, "run_devnet", fake)
    monkeypatch.delenv("K3S_DAAS_DEVNET_SUBSCRIPTIONS", raising=False)
    return seen


@pytest.mark.parametrize(
    ("flags", "env", "served"),
    [
        ((), None, True),
        (("--no-subscriptions",), None, False),
        ((), "false", False),
        (("--subscriptions",), "false", True),  # the flag wins over the environment
    ],
)
def test_cli_flag_and_env(
    configs: list[DevnetConfig],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    flags: tuple[str, ...],
    env: str | None,
    served: bool,
) -> None:
    if env is not None:
        monkeypatch.setenv("K3S_DAAS_DEVNET_SUBSCRIPTIONS", env)
    result = CliRunner().invoke(devnet_app, ["start", "--data", str(tmp_path), *flags])
    assert result.exit_code == 0, result.output
    assert [c.subscriptions for c in configs] == [served]


@pytest.mark.parametrize(("argv", "served"), [((), True), (("--no-subscriptions",), False)])
def test_python_m_devnet(
    configs: list[DevnetConfig],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: tuple[str, ...],
    served: bool,
) -> None:
    monkeypatch.setattr(sys, "argv", ["devnet", "--data", str(tmp_path), *argv])
    devnet_main.main()
    assert [c.subscriptions for c in configs] == [served]
