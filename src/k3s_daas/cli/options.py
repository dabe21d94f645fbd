"""How every CLI option is declared, and the options several commands share (one flag name per
concept: `--home`, `--endpoint`, `--deployment`, `--key`, `--master-url`, `--output`, `--json`).

Each option has a help text, shows its default in `--help`, and reads an environment variable
shown there too: `K3S_DAAS_<OPTION>` for a shared concept, the settings' own name for what the
devnet and the master are configured by (`K3S_DAAS_DEVNET_*`, `K3S_DAAS_NAUTILUS_*`), and
`K3S_DAAS_<COMMAND>_<OPTION>` for an option of one command (so `K3S_DAAS_DEVNET_FAUCET_AMOUNT`
never stakes). A flag on the command line wins over its variable. Kept light: `exec-credential`
imports it on every kubectl call.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

ENV_PREFIX = "K3S_DAAS_"
HOME_ENV = "K3S_DAAS_HOME"
HOME_DEFAULT = "~/.k3s-daas"

#: The concepts several commands share: python parameter name -> its one flag name.
SHARED_FLAGS = {
    "home": "--home",
    "endpoint": "--endpoint",
    "deployment": "--deployment",
    "key": "--key",
    "master_url": "--master-url",
    "output": "--output",
    "as_json": "--json",
}
#: Spellings other tools use for those concepts; no k3s-daas command accepts them.
FORBIDDEN_FLAGS = frozenset({"--chain", "--server", "--url", "--out", "--out-dir", "--devnet-json"})


def env_name(suffix: str) -> str:
    """`K3S_DAAS_` + the suffix, upper case, `-` as `_` (`faucet-port`: `..._FAUCET_PORT`)."""
    return ENV_PREFIX + suffix.strip("-").upper().replace("-", "_")


def option(
    default: Any,
    *flags: str,
    help: str,
    env: str,
    show_default: bool | str = True,
    **kwargs: Any,
) -> Any:
    """A typer Option whose default and environment variable (`K3S_DAAS_` + env) show in --help;
    `show_default` as text for a default computed at run time (`<home>/devnet/devnet.json`)."""
    return typer.Option(
        default,
        *flags,
        help=help,
        envvar=env_name(env),
        show_envvar=True,
        show_default=show_default,
        **kwargs,
    )


def _set_home(value: Path | None) -> Path | None:
    """`--home DIR` is `K3S_DAAS_HOME=DIR` for all the command reads and writes (and the
    processes it starts), so every default under the home follows it."""
    if value is not None:
        value = value.expanduser()
        os.environ[HOME_ENV] = str(value)
    return value


HomeOpt: Any = option(
    None,
    "--home",
    env="HOME",
    show_default=HOME_DEFAULT,
    help="Working directory: devnet data, keys, master and worker state, kubeconfig.",
    callback=_set_home,
)
DeploymentOpt: Any = option(
    None,
    "--deployment",
    env="DEPLOYMENT",
    show_default="<home>/devnet/devnet.json",
    help="Deployment file naming the package and the chain (devnet.json, or one written by "
    "`k3s-daas chain import-publish`).",
)
EndpointOpt: Any = option(
    None,
    "--endpoint",
    env="ENDPOINT",
    show_default="the deployment's",
    help="Chain gRPC endpoint (host:port or https://host:port); repeat for failover.",
)
KeyOpt: Any = option(
    None,
    "--key",
    env="KEY",
    show_default="<home>/keys/default.key",
    help="Signer key file (create one with `k3s-daas keys new`).",
)
JsonOpt: Any = option(False, "--json", env="JSON", help="Print JSON (stable keys) instead of text.")


def output_option(command: str, what: str, *, default: str = "", required: bool = False) -> Any:
    """`--output/-o`: the file or directory `command` writes (`what`); `default` says where it
    goes when not given (a path under the home, or standard output)."""
    return option(
        ... if required else None,
        "--output",
        "-o",
        env=f"{command}_OUTPUT",
        show_default=default or False,
        help=what,
    )
