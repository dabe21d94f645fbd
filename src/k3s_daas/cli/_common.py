"""Shared CLI plumbing: one-line errors and a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.status import Status

from k3s_daas.seal.encoding import first_error
from k3s_daas.seal.errors import K3sDaasError

P = ParamSpec("P")
R = TypeVar("R")

console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """The one-line `error: ...` on stderr."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit non-zero."""
    print_error(message)
    raise typer.Exit(code)


#: The next step for an error reason, added to its line when the message does not name one.
NEXT_STEP = {
    "chain_unavailable": "is the chain up? start the devnet (`k3s-daas devnet start`) or check "
    "--endpoint",
    "faucet_unreachable": "is the devnet up? start it (`k3s-daas devnet start`) or pass its --data",
}
PORT_IN_USE = "pass --port with a free port (0 = any free one)"


def error_line(exc: BaseException) -> str:
    """One line for an expected error, ending with what to do next when that is known."""
    if isinstance(exc, K3sDaasError):
        hint = NEXT_STEP.get(exc.reason, "")
        line = f"{exc.message} ({exc.reason})"
        return f"{line}: {hint}" if hint and "k3s-daas" not in exc.message else line
    if isinstance(exc, ValidationError):  # settings/config models: the first problem, one line
        return f"{first_error(exc, exc.title)} (invalid_setting)"
    if isinstance(exc, FileNotFoundError) and exc.filename is not None:
        return f"{exc.filename}: not found"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"{exc.strerror or 'address already in use'}: {PORT_IN_USE}"
    return str(exc) or exc.__class__.__name__


class Quiet:
    """The spinner of a process that must not draw one (stderr not its terminal)."""

    def update(self, status: str) -> None:
        del status

    def stop(self) -> None:
        pass


def _owns_terminal() -> bool:
    """Whether stderr is a terminal this process may draw on: a job in the background (`devnet
    start &`) must not animate over the shell's prompt."""
    try:
        return os.isatty(2) and os.tcgetpgrp(2) == os.getpgrp()
    except OSError:
        return False


@contextlib.contextmanager
def progress(message: str) -> Iterator[Status | Quiet]:
    """A spinner on stderr while something may take over half a second (silent when stderr is
    not this process's terminal, so `--json` output, logs and background jobs stay clean)."""
    if not _owns_terminal():
        yield Quiet()
        return
    with err_console.status(message, spinner="dots") as status:
        yield status


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the product's expected errors (and OS errors on user files) into one line + exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (K3sDaasError, ValidationError, OSError, ValueError) as exc:
            fail(error_line(exc))
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper


def run_async(coro: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine on uvloop when available (a faster event loop), else on asyncio."""
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coro)
