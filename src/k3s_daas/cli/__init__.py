"""The one `k3s-daas` command. Each area registers its own Typer sub-app from a sibling module."""

from __future__ import annotations

import importlib
import sys

import typer

from k3s_daas import __version__
from k3s_daas.cli._common import console, print_error
from k3s_daas.log import configure_logging
from k3s_daas.settings import Settings

app = typer.Typer(
    name="k3s-daas",
    help="Admit K3s workers and kubectl users by stake on Sui (Seal tokens).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
)

# (module under k3s_daas.cli, command name, help). A module that does not exist yet is skipped,
# so the CLI grows with the product without an `if` per feature.
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("keys", "keys", "Sui keys: create, show, import."),
    ("token", "token", "Seal tokens: inspect, create, show, rotate, revoke."),
    ("devnet", "devnet", "The embedded Sui-compatible devnet."),
    ("chain_admin", "chain", "The package on a network: import a publish, pin the PCRs."),
    ("stake", "", ""),
    ("nautilus", "nautilus", "The Nautilus master (control plane)."),
    ("audit", "audit", "The master's hash-chained audit log."),
    ("worker", "worker", "The staker-host worker agent."),
    ("kube", "", ""),
    ("up", "", ""),
    ("vsock", "", ""),
]


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"k3s-daas {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)


# Top-level commands added by a module's `register(app)`, so that one command imports one module.
TOP_LEVEL = {
    "stake": "stake",
    "unstake": "stake",
    "withdraw": "stake",
    "stake-show": "stake",
    "kubeconfig": "kube",
    "exec-credential": "kube",
    "up": "up",
    "vsock-proxy": "vsock",
}


def _wanted(argv: list[str]) -> str | None:
    """The one module the command line needs (kubectl runs `exec-credential` per command:
    importing the chain stack for it would cost seconds), or None for all of them."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None:
        return None
    if first in TOP_LEVEL:
        return TOP_LEVEL[first]
    return next((m for m, n, _ in SUBCOMMANDS if n == first), None)


_registered: set[str] = set()


def _register(only: str | None = None) -> None:
    """Add the sub-apps (all, or the one `only` names), each once however often it is called."""
    for module_name, name, help_text in SUBCOMMANDS:
        if (only is not None and module_name != only) or module_name in _registered:
            continue
        _registered.add(module_name)
        try:
            module = importlib.import_module(f"k3s_daas.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"k3s_daas.cli.{module_name}":
                continue
            raise
        sub = getattr(module, "app", None)
        register = getattr(module, "register", None)
        if register is not None:  # modules that add top-level commands (stake, up, ...)
            register(app)
        elif sub is not None:
            app.add_typer(sub, name=name, help=help_text)


#: click's usage-error base, which typer re-exports only through its subclasses (vendored from
#: typer 0.22 on, the click package before).
ClickError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def usage_error_line(exc: Exception) -> str:
    """A bad flag or value as one line naming the command's help (click draws a five-line box)."""
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", None) or "k3s-daas"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return f"{message} (see `{where} --help`)"


def main() -> None:
    _register(_wanted(sys.argv[1:]))
    try:
        code = app(standalone_mode=False)
    except ClickError as exc:  # usage errors: unknown option or command, bad or missing value
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
            print_error(usage_error_line(exc))
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    # A command's return value is not an exit code (they return None); an Exit's code is.
    sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)
