"""A real master and devnet write one log format: every line of their output is a JSON object
naming its logger, uvicorn's own lines included, and no line carries the admin token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.devnet import DevnetProcess
from harness.master import MasterProcess


def _records(path: Path) -> list[dict[str, Any]]:
    """Every line of a process started with K3S_DAAS_LOG_JSON=true (it prints nothing else)."""
    records = []
    for line in path.read_text().splitlines():
        record = json.loads(line)  # a plain-text line fails here
        assert isinstance(record, dict) and record.get("logger"), line
        records.append(record)
    return records


def test_master_logs_are_json_lines_with_logger_names(master: MasterProcess) -> None:
    records = _records(master.log_path)
    loggers = {r["logger"] for r in records}
    assert any(r["logger"] == "uvicorn.error" and "running on" in r["event"] for r in records)
    assert any(name.startswith("k3s_daas.nautilus.") for name in loggers), loggers
    assert master.admin_token not in master.log_path.read_text()


def test_devnet_logs_are_json_lines_with_logger_names(devnet: DevnetProcess) -> None:
    """`devnet start` also prints its endpoints on stdout (the same file): those lines aside,
    every line is a record."""
    lines = devnet.log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert all(r.get("logger") for r in records)
    assert not [line for line in lines if line.split(":")[0] in {"INFO", "WARNING", "ERROR"}]
    # The devnet hands uvicorn sockets it bound itself, so uvicorn's start line is this one.
    assert any(
        r["logger"] == "uvicorn.error" and r["event"].startswith("Started server process")
        for r in records
    )
    assert any(r["logger"] == "k3s_daas.devnet.server" and r["event"] == "devnet ready"
               for r in records)  # fmt: skip
