"""docs/cli.md, written from the Typer app itself so it cannot drift from `--help`: every command
with its arguments and its options' environment variables, defaults and descriptions.

`python -m k3s_daas.cli.reference > docs/cli.md` (or `make docs-cli`) rewrites it;
tests/unit/test_cli_docs.py fails when it is stale.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from typing import Any

import typer

#: Options of the root command that only steer the CLI itself (no environment variable).
PIPE = "\\|"  # a `|` inside a table cell
META_OPTIONS = frozenset({"--help", "--version", "--install-completion", "--show-completion"})

INTRO = """\
# Command-line reference

Every `k3s-daas` command and option, generated from the CLI itself
(`python -m k3s_daas.cli.reference > docs/cli.md`, or `make docs-cli`);
tests/unit/test_cli_docs.py fails when this page and `--help` disagree.

One flag name per concept: `--home` (every command that reads or writes state), `--endpoint`
(chain gRPC endpoints), `--deployment` (the deployment file), `--key` (the signer's key),
`--master-url` (a master's URL), `--output`/`-o` (a file or directory written) and `--json`
(a result as JSON with stable keys, on every command that prints one).

Every option also reads an environment variable, shown in `--help`; a flag given on the command
line wins over it. Shared concepts read `K3S_DAAS_<OPTION>` (`K3S_DAAS_HOME`,
`K3S_DAAS_ENDPOINT`, ...); the devnet's and the master's options read the settings' names
(`K3S_DAAS_DEVNET_*`, `K3S_DAAS_NAUTILUS_*`); an option of one command reads
`K3S_DAAS_<COMMAND>_<OPTION>`, e.g. `K3S_DAAS_TOKEN_CREATE_OUTPUT`. A list option takes
its values separated by spaces (`K3S_DAAS_ENDPOINT="h1:443 h2:443"`), except the master's
settings, which take a JSON list.

Shell completion: `k3s-daas --install-completion` (bash, zsh, fish, PowerShell), or
`k3s-daas --show-completion` to print the script.
"""


def root_command() -> Any:
    """The click command behind `k3s-daas`, with every sub-app registered."""
    from k3s_daas.cli import _register, app

    _register()
    return typer.main.get_command(app)


def walk(command: Any, path: tuple[str, ...] = ("k3s-daas",)) -> Iterator[tuple[str, Any]]:
    """(`k3s-daas group command`, command) for every runnable command, in the order of --help."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield " ".join(path), command
        return
    for name, sub in subcommands.items():
        if not getattr(sub, "hidden", False):
            yield from walk(sub, (*path, name))


def options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


def arguments(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "argument"]


def flag_names(option: Any) -> list[str]:
    """`--output`, `-o` (long names first), with the `--no-` side of a boolean pair."""
    names = sorted(option.opts, key=lambda n: (not n.startswith("--"), n))
    return names + list(option.secondary_opts)


def default_text(option: Any) -> str:
    """What --help shows as the default ("" when it shows none)."""
    if option.required:
        return "required"
    if isinstance(option.show_default, str):
        return option.show_default
    if option.is_flag and option.secondary_opts:
        return str(option.opts[0] if option.default else option.secondary_opts[0])
    if option.is_flag:
        return "off"
    if not option.show_default or option.default is None:
        return ""
    if isinstance(option.default, list | tuple):
        return " ".join(str(v) for v in option.default)
    return str(option.default)


def _prose(text: str) -> str:
    """Markdown for help text: `<home>` outside code spans escaped (not an HTML tag)."""
    parts = text.split("`")
    return "`".join(p if i % 2 else p.replace("<", "\\<") for i, p in enumerate(parts))


def _cell(text: str) -> str:
    return _prose(" ".join(text.split())).replace("|", PIPE)


def _doc(command: Any) -> str:
    return _prose(inspect.cleandoc(command.help or ""))


def _summary(command: Any) -> str:
    return _doc(command).split("\n\n")[0].replace("\n", " ")


def _usage(path: str, command: Any) -> str:
    parts = [path, "[OPTIONS]"]
    for arg in arguments(command):
        name = (arg.metavar or arg.name).upper()
        parts.append(name if arg.required else f"[{name}]")
    return " ".join(parts)


def _option_rows(command: Any) -> list[str]:
    rows = ["| Option | Environment variable | Default | Description |", "|---|---|---|---|"]
    for option in options(command):
        if option.opts[0] in META_OPTIONS:
            continue
        names = ", ".join(f"`{n}`" for n in flag_names(option))
        env = f"`{option.envvar}`" if option.envvar else ""
        default = default_text(option)
        shown = "*required*" if option.required else f"`{default}`" if default else ""
        cells = [names, env, shown.replace("|", PIPE), _cell(option.help or "")]
        rows.append(f"| {' | '.join(cells)} |")
    return rows


def render() -> str:
    """The whole of docs/cli.md."""
    root = root_command()
    commands = list(walk(root))
    out = [INTRO, "## Commands", ""]
    out += [f"- [`{path}`](#{path.replace(' ', '-')}): {_summary(cmd)}" for path, cmd in commands]
    out += ["", "Global options (before the command): `--version`, `--install-completion`,"]
    out += ["`--show-completion`, `--help` (also on every command).", ""]
    for path, command in commands:
        out += [f"## {path}", "", _doc(command), ""]
        out += [f"Usage: `{_usage(path, command)}`", ""]
        if arguments(command):
            out += ["| Argument | Description |", "|---|---|"]
            out += [
                f"| `{(a.metavar or a.name).upper()}` | {_cell(a.help or '')} |"
                for a in arguments(command)
            ]
            out.append("")
        out += [*_option_rows(command), ""]
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m k3s_daas.cli.reference`
    sys.stdout.write(render())
