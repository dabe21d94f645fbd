"""The `k3s-daas` command (also `python -m k3s_daas`). kubectl runs `k3s-daas exec-credential` for
every command, so a call the credential cache can answer is answered here, before the CLI and its
~0.3 s of imports load; every other call, and every cache miss, runs the Typer app."""

from __future__ import annotations

import sys


def cached_exec_credential(argv: list[str]) -> str | None:
    """The cached answer to `exec-credential (--token-file F | --worker-state F) [--home H]`
    (`--flag=value` too), or None: anything else goes to the full command, errors included."""
    if argv[:1] != ["exec-credential"]:
        return None
    options: dict[str, str] = {}
    rest = argv[1:]
    while rest:
        flag, eq, value = rest[0].partition("=")
        if not eq:
            if len(rest) < 2:
                return None
            value, rest = rest[1], rest[1:]
        rest = rest[1:]
        if flag not in {"--token-file", "--worker-state", "--home"} or flag in options:
            return None
        options[flag] = value
    from pathlib import Path

    from k3s_daas.kube.credential_cache import default_home, recall

    home = Path(options["--home"]).expanduser() if "--home" in options else default_home()
    if ("--token-file" in options) == ("--worker-state" in options):
        return None
    if "--token-file" in options:
        return recall(home, "token-file", Path(options["--token-file"]))
    return recall(home, "worker-state", Path(options["--worker-state"]))


def main() -> None:
    answer = cached_exec_credential(sys.argv[1:])
    if answer is not None:
        sys.stdout.write(answer)
        return
    from k3s_daas.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
