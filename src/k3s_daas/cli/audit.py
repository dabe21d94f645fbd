"""`k3s-daas audit verify | tail`: check and read the master's hash-chained audit log offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from k3s_daas.cli._common import console, handle_errors, run_async
from k3s_daas.cli.options import HomeOpt, JsonOpt, option

if TYPE_CHECKING:
    from k3s_daas.nautilus.audit import AuditEntry
    from k3s_daas.nautilus.store import Store

app = typer.Typer(no_args_is_help=True, help="The master's hash-chained audit log.")

StoreOpt: Any = option(
    None,
    "--store",
    env="NAUTILUS_STORE_URL",
    show_default="the master's: sqlite:///<home>/nautilus/store.db",
    help="Store URL: sqlite:///path | etcd://h:p,...",
)
DataKeyOpt: Any = option(
    None,
    "--data-key-file",
    env="NAUTILUS_DATA_KEY_FILE",
    show_default="<home>/nautilus/data.key",
    help="The 32-byte data key file (0600) that seals the store.",
)


def _open(store_url: str | None, data_key_file: Path | None) -> Store:
    """The store named on the command line, sealed with the data key when there is one."""
    from k3s_daas.nautilus.enclave import _read_key_file
    from k3s_daas.nautilus.settings import NautilusSettings
    from k3s_daas.nautilus.store import open_store

    settings = NautilusSettings()
    key_path = data_key_file
    if key_path is None and settings.data_key_path.exists():
        key_path = settings.data_key_path
    data_key = _read_key_file(key_path) if key_path is not None else None
    return open_store(store_url or settings.store, data_key=data_key)


@app.command("verify")
@handle_errors
def verify_command(
    store: str | None = StoreOpt,
    data_key_file: Path | None = DataKeyOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Walk the chain; exit 1 and name the first bad entry if anything was changed or removed."""
    from k3s_daas.nautilus.audit import VerifyResult, verify

    async def run() -> VerifyResult:
        opened = _open(store, data_key_file)
        try:
            return await verify(opened)
        finally:
            await opened.close()

    result = run_async(run())
    if as_json:
        info = {
            "ok": result.ok,
            "entries_checked": result.entries_checked,
            "first_bad_seq": result.first_bad_seq,
            "problem": result.problem,
        }
        console.print(json.dumps(info), highlight=False, markup=False, soft_wrap=True)
    elif result.ok:
        console.print(f"audit log intact: {result.entries_checked} entries", highlight=False)
    else:
        where = "" if result.first_bad_seq is None else f" entry {result.first_bad_seq}"
        line = f"audit log broken at{where or ' head'}: {result.problem}"
        console.print(line, highlight=False, markup=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command("tail")
@handle_errors
def tail_command(
    store: str | None = StoreOpt,
    data_key_file: Path | None = DataKeyOpt,
    count: int = option(
        20, "--count", "-n", env="AUDIT_TAIL_COUNT", min=1, max=100_000, help="How many entries."
    ),
    as_json: bool = option(False, "--json", env="JSON", help="One JSON object per line."),
    home: Path | None = HomeOpt,
) -> None:
    """Show the last entries, oldest first (run `verify` to check them)."""
    from k3s_daas.nautilus.audit import tail

    async def run() -> list[AuditEntry]:
        opened = _open(store, data_key_file)
        try:
            return await tail(opened, count)
        finally:
            await opened.close()

    entries = run_async(run())
    if as_json:
        for entry in entries:
            console.print(json.dumps(entry.model_dump()), highlight=False, markup=False)
        return
    table = Table("seq", "time", "actor", "action", "subject", "decision", "reason", "token")
    for e in entries:
        token = (e.token_fingerprint or "")[:16]
        table.add_row(
            str(e.seq), e.time, e.actor, e.action, e.subject, e.decision, e.reason or "", token
        )
    console.print(table)
