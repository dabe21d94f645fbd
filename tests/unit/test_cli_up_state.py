"""`up` starts from a fresh chain and master unless `--resume`: the previous run's state moves,
whole, to `<home>/previous/<timestamp>/` (keys stay); a home whose devnet still runs is refused
in one line; while the table is live, this process's log lines go to a file; `--no-subscriptions`
reaches the cluster that starts the devnet."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from k3s_daas.cli.up import _announce, _invocable, up
from k3s_daas.cli.up_cluster import RUN_STATE, Cluster
from k3s_daas.devnet.lock import DataDirLock
from k3s_daas.log import configure_logging, get_logger, logs_to_file


def cluster(home: Path) -> Cluster:
    return Cluster(home, workers=3, epoch_seconds=60.0, heartbeat=2.0)


def previous_run(home: Path) -> None:
    for name in RUN_STATE:
        if name == "kubeconfig":
            (home / name).write_text("kubeconfig")
        else:
            (home / name).mkdir(parents=True)
            (home / name / "marker").write_text(name)
    (home / "keys").mkdir()
    (home / "keys" / "default.key").write_text("the user's key")


def test_a_fresh_start_moves_the_previous_run_aside_and_says_where(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert _announce(cluster(home), resume=False) == f"fresh start in {home}"
    previous_run(home)
    line = _announce(cluster(home), resume=False)
    moved = next((home / "previous").iterdir())
    assert line == f"fresh start: the previous state is in {moved} (`up --resume` continues it)"
    assert sorted(p.name for p in moved.iterdir()) == sorted(RUN_STATE)
    assert (moved / "devnet" / "marker").read_text() == "devnet"
    assert not any((home / name).exists() for name in RUN_STATE)
    assert (home / "keys" / "default.key").read_text() == "the user's key"  # never moved
    (home / "workers").mkdir()  # another run in the same second
    _announce(cluster(home), resume=False)
    assert len(list((home / "previous").iterdir())) == 2  # same second: a second folder


def test_resume_keeps_the_state(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert _announce(cluster(home), resume=True) == f"nothing to resume in {home}: fresh start"
    previous_run(home)
    line = _announce(cluster(home), resume=True)
    assert line == f"resuming the previous chain and master state in {home} (--resume)"
    assert (home / "devnet" / "marker").exists() and not (home / "previous").exists()


def test_a_home_whose_devnet_runs_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    previous_run(home)
    lock = DataDirLock.acquire(home / "devnet")
    lock.record("127.0.0.1:9000")
    try:
        for resume in (False, True):
            with pytest.raises(typer.Exit):
                _announce(cluster(home), resume=resume)
            err = capsys.readouterr().err
            assert "devnet already running at 127.0.0.1:9000" in err
            assert "pass another --home" in err
    finally:
        lock.release()
    assert (home / "devnet" / "marker").exists() and not (home / "previous").exists()


def test_logs_go_to_the_file_while_the_table_is_live(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "logs" / "up.log"
    configure_logging("info")
    with logs_to_file(path, "info"):
        get_logger("k3s_daas.test").info("inside", n=1)
        logging.getLogger("some.library").warning("stdlib inside")
    get_logger("k3s_daas.test").info("outside")
    text = path.read_text()
    assert '"event": "inside"' in text  # JSON: a file is not a terminal
    assert "stdlib inside" in text
    assert "outside" not in text
    err = capsys.readouterr().err
    configure_logging("info", stream=sys.__stderr__)  # not capsys's stream, closed after the test
    assert "inside" not in err
    assert "outside" in err


def test_the_printed_commands_run_as_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = tmp_path / ".venv" / "bin" / "k3s-daas"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert _invocable(str(program)) == ".venv/bin/k3s-daas"  # not on PATH: the path to type
    monkeypatch.setenv("PATH", f"{program.parent}:/usr/bin")
    assert _invocable(str(program)) == "k3s-daas"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert _invocable(str(program)) == str(program)


@pytest.mark.parametrize(("flags", "served"), [((), True), (("--no-subscriptions",), False)])
def test_no_subscriptions_reaches_the_cluster_that_starts_the_devnet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...], served: bool
) -> None:
    seen: list[bool] = []

    class Stop(Exception):
        pass

    def fake_cluster(*args: object, subscriptions: bool = True, **kwargs: object) -> Cluster:
        seen.append(subscriptions)
        raise Stop

    monkeypatch.setattr("k3s_daas.cli.up.Cluster", fake_cluster)
    command = typer.Typer()
    command.command()(up)  # one command: its options are the whole command line
    result = CliRunner().invoke(command, ["--home", str(tmp_path), "--wide", *flags])
    assert isinstance(result.exception, Stop)
    assert seen == [served]
