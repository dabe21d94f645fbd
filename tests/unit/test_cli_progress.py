"""Every wait over half a second shows a spinner saying what it waits for — on the process's own
terminal only: never in a pipe (`--json`, logs), never from a background job."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from k3s_daas.cli._common import progress

WAIT = (
    "import time\nfrom k3s_daas.cli._common import progress\n"
    "with progress('staking 1 SUI, waiting for finality ...'):\n    time.sleep(0.8)\n"
    "print('done')\n"
)


def on_a_terminal(code: str) -> str:
    """What a child in the foreground of its own pseudo-terminal shows."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: session leader, the pty its controlling terminal
        os.execv(sys.executable, [sys.executable, "-c", code])  # noqa: S606 (a fixed program)
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    shown = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, shown
    return shown


def test_the_spinner_says_what_it_waits_for_on_a_terminal() -> None:
    shown = on_a_terminal(WAIT)
    assert "staking 1 SUI, waiting for finality" in shown
    assert shown.rstrip().endswith("done")
    assert "Traceback" not in shown


def test_no_spinner_in_a_pipe() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WAIT], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout == "done\n"
    assert result.stderr == ""


def test_the_quiet_spinner_takes_updates() -> None:
    with progress("waiting") as status:  # pytest's stderr is no terminal
        status.update("still waiting")
        status.stop()
