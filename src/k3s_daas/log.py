"""One log format for the product and every library: JSON lines when stderr is not a terminal,
readable lines when it is. structlog and stdlib records (uvicorn, grpclib, httpx, aetcd, ...) meet
in one stdlib handler whose `ProcessorFormatter` renders both, with the logger's name kept.

Logging never fails its caller: a log line that cannot be written (a full disk, a closed stream, a
handler that raises) is dropped, so an error path answers the same status and body either way.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import structlog

_configured = False
_MARK = "k3s_daas_handler"

#: Libraries that log each request or their own start-up at INFO/DEBUG (hpack and h2 even header
#: values, such as a bearer token, at DEBUG): held at WARNING even when the product logs at DEBUG.
QUIET_LIBRARIES = (
    "httpx", "httpcore", "hpack", "h2", "grpclib", "aetcd", "kubernetes", "urllib3", "asyncio",
    "multipart", "python_multipart", "pysui",
)  # fmt: skip

#: Loggers a library may have given handlers and levels of its own (uvicorn's default `log_config`,
#: which our servers turn off): pointed back at the root handler, so nothing bypasses the format.
OWN_HANDLERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

# What both kinds of record get before rendering: the level, the logger's name and a UTC time.
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _FailSafe(logging.StreamHandler[TextIO]):
    """A stream handler that drops a record it cannot write, silently (the stream is what fails:
    the stdlib would report it on stderr, and re-raises some errors)."""

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # nowhere left to report it
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """Drop the record."""


class _Stderr(_FailSafe):
    """Writes to whatever `sys.stderr` is at emit time (tests and `up` swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]  # as logging.lastResort does
        return sys.stderr


def _renderer(use_json: bool, colors: bool) -> list[Any]:
    if use_json:
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    # Tracebacks without local variables: a local may hold a raw token or key.
    tracebacks: Any = (
        structlog.dev.RichTracebackFormatter(show_locals=False)
        if colors
        else structlog.dev.plain_traceback
    )
    return [structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=tracebacks)]


def configure_logging(
    level: str = "info", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Idempotent; `json=None` picks JSON unless the stream is a terminal (what operators pipe to
    files). `stream` (default: the current stderr) receives every record, ours and libraries'."""
    global _configured
    tty = (stream or sys.stderr).isatty()
    use_json = (not tty) if json is None else json
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_renderer(use_json, colors=tty),
        ],
    )
    handler: logging.Handler = _Stderr() if stream is None else _FailSafe(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)  # configuring again replaces our handler, never adds a second
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(lvl)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(lvl, logging.WARNING))
    for name in OWN_HANDLERS:  # e.g. after uvicorn's default dictConfig ran in this process
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # our level, not the one a uvicorn.Config set
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=_fail_safe(structlog.make_filtering_bound_logger(lvl)),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    _configured = True


def _fail_safe(bound: type[Any]) -> type[Any]:
    """`bound` whose every call returns normally, whatever a processor or a handler raises (any
    handler: one added by an operator or a library may raise where ours drops)."""

    class FailSafeLogger(bound):  # type: ignore[misc]
        def _proxy_to_logger(self, method_name: str, event: Any = None, **kw: Any) -> Any:
            try:
                return super()._proxy_to_logger(method_name, event, **kw)
            except Exception:
                return None

    return FailSafeLogger


@contextlib.contextmanager
def logs_to_file(path: Path, level: str = "info", *, json: bool | None = None) -> Iterator[None]:
    """Meanwhile every log line of this process (ours and the libraries') is appended to `path`
    instead of the terminal, which a live display (`up`'s table) owns; then back to stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        configure_logging(level, json=json, stream=out)
        last_resort = logging.lastResort  # records of a logger that reaches no handler at all
        logging.lastResort = _FailSafe(out)
        logging.lastResort.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logging.lastResort = last_resort
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
