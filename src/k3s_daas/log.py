"""structlog set-up: JSON lines when stderr is not a terminal, readable lines when it is."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import structlog

_configured = False


def configure_logging(
    level: str = "info", *, json: bool | None = None, file: TextIO | None = None
) -> None:
    """Idempotent; lines go to `file` (default stderr); `json=None` picks JSON unless that is a
    TTY (what operators pipe to files)."""
    global _configured
    out = sys.stderr if file is None else file
    use_json = (not out.isatty()) if json is None else json
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    _configured = True


@contextlib.contextmanager
def logs_to_file(path: Path, level: str = "info", *, json: bool | None = None) -> Iterator[None]:
    """Meanwhile every log line of this process (structlog and stdlib) is appended to `path`
    instead of the terminal, which a live display (`up`'s table) owns; then back to stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        configure_logging(level, json=json, file=out)
        handlers = [  # not FileHandlers: those already write to a file
            h
            for h in logging.root.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        ]
        streams = [h.setStream(out) for h in handlers]
        last_resort = logging.lastResort
        logging.lastResort = logging.StreamHandler(out)
        logging.lastResort.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logging.lastResort = last_resort
            for handler, stream in zip(handlers, streams, strict=True):
                if stream is not None:
                    handler.setStream(stream)
            configure_logging(level, json=json)


def get_logger(name: str) -> Any:
    """A bound structlog logger; never pass it a raw token or key, only fingerprints."""
    if not _configured:
        configure_logging()
    return structlog.get_logger(name)


def crash_site(exc: BaseException) -> str:
    """Where an unexpected exception was raised (`file.py:line in function`), for the log line
    of a 500: enough to find the bug, without the message or locals (which may echo input)."""
    tb = exc.__traceback__
    if tb is None:
        return "?"
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno} in {code.co_name}"
