"""`devnet faucet` right after `devnet start &` (the README's order) waits for that devnet to
serve instead of failing; with no devnet starting it fails in one line with the next step."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from k3s_daas.chain import CoinSent, Deployment, FaucetError
from k3s_daas.cli import devnet as devnet_cli
from k3s_daas.cli._common import Quiet, error_line
from k3s_daas.devnet.ids import DEVNET_JSON
from k3s_daas.devnet.lock import DataDirLock

OBJECT = "0x" + "ab" * 32
COIN = CoinSent(object_id=OBJECT, amount=10, tx_digest="digest")


class Recorder(Quiet):
    """The spinner double: keeps what it was told to show."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def update(self, status: str) -> None:
        self.shown.append(status)


def _save_deployment(data_dir: Path) -> None:
    Deployment.model_validate(
        {
            "chain_id": "test",
            "grpc_endpoints": ["127.0.0.1:1"],
            "package_id": OBJECT,
            "pool_id": OBJECT,
            "enclave_config_id": OBJECT,
            "faucet_url": "http://127.0.0.1:1",
        }
    ).save(data_dir / DEVNET_JSON)


@pytest.fixture(autouse=True)
def _no_grace_no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devnet_cli, "START_GRACE_S", 0.0)  # only the lock says "starting"
    monkeypatch.setattr(time, "sleep", lambda _s: None)


def _faucet_answering_after(monkeypatch: pytest.MonkeyPatch, refusals: int) -> list[str]:
    """The faucet double: refuses `refusals` times (nothing listens yet), then sends a coin."""
    calls: list[str] = []

    def request(url: str, address: str, *, amount: int | None) -> list[CoinSent]:
        calls.append(url)
        if len(calls) <= refusals:
            raise FaucetError("faucet not reachable", reason="faucet_unreachable")
        return [COIN]

    monkeypatch.setattr(devnet_cli, "request_gas_sync", request)
    return calls


def test_waits_while_a_devnet_is_starting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lock = DataDirLock.acquire(tmp_path)  # a devnet starting: locked, no address yet
    _save_deployment(tmp_path)
    calls = _faucet_answering_after(monkeypatch, refusals=3)
    status = Recorder()
    try:
        assert devnet_cli._gas_once_up(tmp_path, OBJECT, None, status) == [COIN]
    finally:
        lock.release()
    assert len(calls) == 4
    assert status.shown and all("waiting for the devnet" in s for s in status.shown)


def test_no_devnet_json_yet_is_waited_for_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock = DataDirLock.acquire(tmp_path)  # genesis running: the file is not there yet
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        _save_deployment(tmp_path)  # genesis done, the devnet serves

    monkeypatch.setattr(time, "sleep", sleep)
    _faucet_answering_after(monkeypatch, refusals=0)
    try:
        assert devnet_cli._gas_once_up(tmp_path, OBJECT, None, Recorder()) == [COIN]
    finally:
        lock.release()
    assert len(sleeps) == 1


def test_no_devnet_starting_fails_at_once_with_the_next_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _save_deployment(tmp_path)  # a chain left by a devnet that is not running
    calls = _faucet_answering_after(monkeypatch, refusals=9)
    with pytest.raises(FaucetError) as err:
        devnet_cli._gas_once_up(tmp_path, OBJECT, None, Recorder())
    assert len(calls) == 1
    assert "k3s-daas devnet start" in error_line(err.value)


def test_a_served_devnet_refusing_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lock = DataDirLock.acquire(tmp_path)
    lock.record("127.0.0.1:9000")  # it serves: a refusal is an answer, not a start-up
    _save_deployment(tmp_path)
    calls = _faucet_answering_after(monkeypatch, refusals=9)
    try:
        with pytest.raises(FaucetError):
            devnet_cli._gas_once_up(tmp_path, OBJECT, None, Recorder())
    finally:
        lock.release()
    assert len(calls) == 1
