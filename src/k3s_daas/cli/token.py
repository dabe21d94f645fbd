"""`k3s-daas token ...`: inspect locally; create/show/rotate/revoke against the chain."""

from __future__ import annotations

import json

import typer

from k3s_daas.cli._common import console, handle_errors
from k3s_daas.seal.token import parse_token, token_fingerprint

app = typer.Typer(no_args_is_help=True)


@app.command("inspect")
@handle_errors
def inspect(
    token: str = typer.Argument(..., help="A Seal token (seal_...). Its secret is never printed."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Parse a token and print its object id and fingerprint (never the secret)."""
    parsed = parse_token(token.strip())
    info = {
        "object_id": parsed.object_id,
        "fingerprint": token_fingerprint(str(parsed)),
        "commitment": parsed.commitment.hex(),
    }
    if as_json:
        console.print_json(json.dumps(info))
        return
    for key, value in info.items():
        console.print(f"{key:12} {value}", highlight=False)
