"""The CLI speaks one language: docs/cli.md lists exactly the commands and options the Typer app
has; every option has help, an environment variable and a shown default; one flag name per
concept, in the app and in the docs' command lines; `--json` wherever a result is printed."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from harness.processes import CLI
from k3s_daas.cli.options import ENV_PREFIX, FORBIDDEN_FLAGS, SHARED_FLAGS
from k3s_daas.cli.reference import META_OPTIONS, options, render, root_command, walk

ROOT = Path(__file__).resolve().parents[2]
CLI_MD = ROOT / "docs" / "cli.md"
#: Commands that print no result to parse: servers in the foreground, and the kubectl plugin
#: (whose output is always JSON).
NO_JSON = {
    "k3s-daas nautilus start",
    "k3s-daas worker start",
    "k3s-daas exec-credential",
    "k3s-daas vsock-proxy",  # a long-running forwarder, like the servers above
}
#: Commands whose options read their settings' own variables (K3S_DAAS_NAUTILUS_*).
SETTINGS_ENV = {"k3s-daas nautilus start"}


@pytest.fixture(scope="module")
def commands() -> dict[str, Any]:
    return dict(walk(root_command()))


def _options(command: Any) -> list[Any]:
    return [o for o in options(command) if o.opts[0] not in META_OPTIONS]


def _documented() -> dict[str, set[str]]:
    """Command path -> the long flags its docs/cli.md section lists."""
    found: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in CLI_MD.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"## (k3s-daas(?: [\w-]+)*)", line)
        if heading:
            current = found.setdefault(heading.group(1), set())
        elif current is not None and line.startswith("| `-"):
            first_cell = line.split("|")[1]
            current |= set(re.findall(r"`(--[\w-]+)`", first_cell))
    return found


def _long_flags(command: Any) -> set[str]:
    flags: set[str] = set()
    for option in _options(command):
        flags |= {n for n in [*option.opts, *option.secondary_opts] if n.startswith("--")}
    return flags


def test_docs_list_every_command_and_option_and_nothing_else(commands: dict[str, Any]) -> None:
    documented = _documented()
    assert set(documented) - set(commands) == set(), "docs/cli.md lists commands that do not exist"
    assert set(commands) - set(documented) == set(), "docs/cli.md misses commands"
    for path, command in commands.items():
        missing = _long_flags(command) - documented[path]
        extra = documented[path] - _long_flags(command)
        assert not missing, f"docs/cli.md misses {path} {sorted(missing)}"
        assert not extra, f"docs/cli.md lists {path} {sorted(extra)}, which it does not have"


def test_docs_are_what_the_generator_writes_now() -> None:
    assert CLI_MD.read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: run `make docs-cli` (python -m k3s_daas.cli.reference)"
    )


def test_every_option_has_help_an_env_var_and_a_shown_default(commands: dict[str, Any]) -> None:
    problems = []
    for path, command in commands.items():
        for option in _options(command):
            name = f"{path} {option.opts[0]}"
            if not (option.help or "").strip():
                problems.append(f"{name}: no help text")
            envvar = option.envvar if isinstance(option.envvar, str) else None
            if not envvar or not envvar.startswith(ENV_PREFIX) or not option.show_envvar:
                problems.append(f"{name}: no K3S_DAAS_* environment variable shown in --help")
            has_value = not option.is_flag and not option.required
            shown = isinstance(option.show_default, str) or (
                option.show_default and option.default is not None
            )
            if has_value and not shown:
                problems.append(f"{name}: no default shown")
    assert problems == []


def test_one_flag_name_per_concept(commands: dict[str, Any]) -> None:
    meanings: dict[str, set[str]] = defaultdict(set)  # env var -> the flags that read it
    for path, command in commands.items():
        for option in _options(command):
            names = {*option.opts, *option.secondary_opts}
            assert not names & FORBIDDEN_FLAGS, f"{path}: {sorted(names & FORBIDDEN_FLAGS)}"
            canonical = SHARED_FLAGS.get(option.name)
            if canonical is not None:
                assert canonical in option.opts, f"{path}: {option.name} must be {canonical}"
                # a shared concept reads one shared variable (what is written: per command)
                if path not in SETTINGS_ENV and option.name != "output":
                    assert option.envvar == ENV_PREFIX + option.name.removeprefix("as_").upper()
            meanings[str(option.envvar)].add(option.opts[0])
    shared = {env: flags for env, flags in meanings.items() if len(flags) > 1}
    assert shared == {}, "one environment variable read by options of different names"


def test_every_command_that_prints_a_result_has_json(commands: dict[str, Any]) -> None:
    missing = [
        p for p, c in commands.items() if p not in NO_JSON and "--json" not in _long_flags(c)
    ]
    assert missing == []


def test_every_command_that_reads_or_writes_state_has_home(commands: dict[str, Any]) -> None:
    stateless = {  # what they read and write is named on their command line
        "k3s-daas kubeconfig",
        "k3s-daas keys show",
        "k3s-daas keys import",
        "k3s-daas token inspect",
        "k3s-daas nautilus k3s-config",
    }
    missing = [
        p for p, c in commands.items() if p not in stateless and "--home" not in _long_flags(c)
    ]
    assert missing == []


def test_readme_and_docs_use_the_flag_names_of_the_cli() -> None:
    """README.md and docs/*.md name no retired spelling (K3s's own `k3s agent --server` aside)."""
    old = "|".join(re.escape(f) for f in sorted(FORBIDDEN_FLAGS, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w-])({old})(?![\w-])")
    offenders = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line.replace("k3s agent --server", "")):
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert offenders == []


def test_help_shows_env_vars_and_defaults() -> None:
    """What the docs say is what `--help` prints (nautilus start was the one without defaults)."""
    shown = subprocess.run(
        [CLI, "nautilus", "start", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout
    assert "K3S_DAAS_NAUTILUS_HEARTBEAT_INTERVAL" in shown
    assert "default: 10.0" in shown
    assert "Seconds between the heartbeats" in shown
    assert "--endpoint" in shown and "--chain " not in shown


def test_shell_completion_is_installable() -> None:
    script = subprocess.run(
        [CLI, "--show-completion", "bash"], capture_output=True, text=True, timeout=60
    )
    assert script.returncode == 0
    assert "_k3s_daas_completion" in script.stdout
    completed = subprocess.run(
        [CLI],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "_K3S_DAAS_COMPLETE": "complete_bash",
            "COMP_WORDS": "k3s-daas token create --ou",
            "COMP_CWORD": "3",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert completed.stdout.split() == ["--output"]
