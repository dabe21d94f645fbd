"""`k3s-daas up`: the whole system on the embedded defaults in one command (DESIGN §11).

Until every part it starts exists, it reports which parts of the product are installed.
"""

from __future__ import annotations

import importlib.util

import typer
from rich.table import Table

from k3s_daas import __version__
from k3s_daas.cli._common import console

PARTS = [
    ("k3s_daas.seal", "Seal token domain"),
    ("k3s_daas.chain.keys", "Sui keys and signatures"),
    ("k3s_daas.devnet.server", "embedded devnet (gRPC v2)"),
    ("k3s_daas.chain.client", "chain client"),
    ("k3s_daas.nautilus.app", "Nautilus master"),
    ("k3s_daas.worker.agent", "worker agent"),
    ("k3s_daas.kube.api", "Kubernetes API for kubectl"),
]


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def up() -> None:
    """Start devnet, master and workers (reports what is installed until all parts exist)."""
    table = Table(title=f"k3s-daas {__version__}: parts")
    table.add_column("part")
    table.add_column("module")
    table.add_column("status")
    for module, label in PARTS:
        ok = _present(module)
        table.add_row(label, module, "[green]ready[/]" if ok else "[yellow]not yet built[/]")
    console.print(table)
    console.print("Try: k3s-daas keys new -o my.key && k3s-daas --help")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
