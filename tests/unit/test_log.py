"""One log format (JSON off a terminal, readable lines on one, logger names kept, libraries
included) and `crash_site`: the log line of a 500 names where the bug is, never the message."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import subprocess
import sys
from collections.abc import Iterator

import pytest
import structlog

from k3s_daas.log import (
    OWN_HANDLERS,
    QUIET_LIBRARIES,
    configure_logging,
    crash_site,
    get_logger,
)


def _inner(secret: str) -> None:
    raise KeyError(secret)


def test_crash_site_names_the_innermost_frame_only() -> None:
    try:
        _inner("seal_" + "ab" * 64)
    except KeyError as exc:
        site = crash_site(exc)
    assert site.startswith("test_log.py:") and site.endswith(" in _inner")
    assert "seal_" not in site
    assert crash_site(KeyError("never raised")) == "?"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """These tests configure the process's logging; put back what the session had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    own = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate,
               logging.getLogger(n).level) for n in OWN_HANDLERS}  # fmt: skip
    config = structlog.get_config()
    yield
    for name, (kept, propagate, own_level) in own.items():
        logging.getLogger(name).handlers[:] = kept
        logging.getLogger(name).propagate = propagate
        logging.getLogger(name).setLevel(own_level)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)
    structlog.configure(**config)


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _emit_both() -> None:
    get_logger("k3s_daas.demo").info("product line", node_id="n1")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 7)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_keep_the_logger_name_of_ours_and_of_libraries() -> None:
    logging.getLogger("uvicorn").propagate = False  # as uvicorn's own default config leaves it
    logging.getLogger("uvicorn").addHandler(logging.StreamHandler(io.StringIO()))
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # uvicorn.Config(log_level=...)
    out = io.StringIO()
    configure_logging("info", json=True, stream=out)
    _emit_both()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["logger"], r["event"], r["level"]) for r in lines] == [
        ("k3s_daas.demo", "product line", "info"),
        ("uvicorn.error", "Started server process [7]", "info"),
    ]
    assert lines[0]["node_id"] == "n1"
    assert all(r["timestamp"].endswith("Z") for r in lines)


@pytest.mark.usefixtures("restore_logging")
def test_a_terminal_gets_readable_lines_not_json() -> None:
    out = FakeTty()
    configure_logging("info", stream=out)  # json=None: decided by isatty
    _emit_both()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        with pytest.raises(ValueError):
            json.loads(line)
    assert "product line" in lines[0] and "k3s_daas.demo" in lines[0]
    assert "Started server process [7]" in lines[1] and "uvicorn.error" in lines[1]
    assert "\x1b[" in lines[0]  # coloured on a terminal


@pytest.mark.usefixtures("restore_logging")
def test_configuring_again_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", json=True, stream=first)
    configure_logging("warning", json=True, stream=second)
    _emit_both()
    get_logger("k3s_daas.demo").warning("once")
    assert first.getvalue() == ""
    assert [json.loads(line)["event"] for line in second.getvalue().splitlines()] == ["once"]


@pytest.mark.usefixtures("restore_logging")
def test_libraries_that_log_headers_stay_at_warning_under_debug() -> None:
    out = io.StringIO()
    configure_logging("debug", json=True, stream=out)
    logging.getLogger("hpack.hpack").debug("Decoded header authorization: Bearer seal_x")
    logging.getLogger("httpx").info("HTTP Request: POST https://m/api/v1/heartbeat")
    logging.getLogger("grpclib.protocol").warning("connection lost")
    get_logger("k3s_daas.demo").debug("ours at debug")
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["connection lost", "ours at debug"]


def _fails_holding_a_token() -> None:
    token = "seal_" + "cd" * 64
    raise RuntimeError("boom" + str(len(token)))


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("stream", [io.StringIO, FakeTty])
def test_tracebacks_never_show_local_variables(stream: type[io.StringIO]) -> None:
    out = stream()
    configure_logging("info", json=False, stream=out)
    try:
        _fails_holding_a_token()
    except RuntimeError:
        get_logger("k3s_daas.demo").exception("crashed")
        logging.getLogger("some.library").exception("crashed too")
    text = out.getvalue()
    assert "_fails_holding_a_token" in text and "crashed too" in text
    assert "seal_cd" not in text


_CHILD = """
import logging
from k3s_daas.log import get_logger
get_logger("k3s_daas.child").info("from the product")
logging.getLogger("uvicorn.error").info("from uvicorn")
"""


def _child_stderr(*, tty: bool, env: dict[str, str]) -> str:
    """Run a child whose stderr is a pipe or a pseudo-terminal; what it wrote there."""
    child_env = {k: v for k, v in os.environ.items() if k != "K3S_DAAS_LOG_JSON"} | env
    if not tty:
        done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                              env=child_env, timeout=60, check=True)  # fmt: skip
        return done.stderr
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD], stderr=follower, env=child_env)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(leader)
    return b"".join(chunks).decode()


def test_a_process_on_a_pipe_logs_json_and_on_a_terminal_readable_lines() -> None:
    piped = [json.loads(line) for line in _child_stderr(tty=False, env={}).splitlines()]
    assert [(r["logger"], r["event"]) for r in piped] == [
        ("k3s_daas.child", "from the product"),
        ("uvicorn.error", "from uvicorn"),
    ]
    on_tty = _child_stderr(tty=True, env={}).splitlines()
    assert len(on_tty) == 2 and "from uvicorn" in on_tty[1] and "uvicorn.error" in on_tty[1]
    for line in on_tty:
        with pytest.raises(ValueError):
            json.loads(line)
