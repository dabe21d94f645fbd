"""`k3s-daas token ...`: inspect locally; create/show/rotate/revoke against the chain."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from k3s_daas.chain import K3sDaasPackage, MintedToken, SealTokenView
from k3s_daas.chain.keys import normalize_address
from k3s_daas.cli._common import console, fail, handle_errors
from k3s_daas.cli.options import (
    DeploymentOpt,
    EndpointOpt,
    HomeOpt,
    JsonOpt,
    KeyOpt,
    option,
    output_option,
)
from k3s_daas.cli.stake import (
    AMOUNT_FORMS,
    load_deployment,
    load_key,
    print_info,
    with_package,
)
from k3s_daas.seal.amounts import format_amount, parse_amount
from k3s_daas.seal.token import commitment_matches, parse_token, token_fingerprint

app = typer.Typer(no_args_is_help=True)
_FROM_STDIN = "-"


@app.command("inspect")
@handle_errors
def inspect(
    token: str = typer.Argument(..., help="A Seal token (seal_...). Its secret is never printed."),
    as_json: bool = JsonOpt,
) -> None:
    """Parse a token and print its object id and fingerprint (never the secret)."""
    parsed = parse_token(token.strip())
    info = {
        "object_id": parsed.object_id,
        "fingerprint": token_fingerprint(str(parsed)),
        "commitment": parsed.commitment.hex(),
    }
    print_info(info, as_json)


# -- against the chain ---------------------------------------------------------------------------
def _token_info(view: SealTokenView) -> dict[str, Any]:
    return {
        "token_id": view.id,
        "owner": view.owner,
        "node_id": view.node_id,
        "stake_record": view.stake_record,
        "stake_amount": view.stake_amount,
        "tier": view.tier.label,
        "permissions": list(view.permissions),
        "issued_at": view.issued_at,
        "expires_at": view.expires_at,
        "enclave": view.enclave,
    }


def _read_token(token: str) -> str:
    """A token from the argument, or from standard input when it is `-` (keeps it out of ps)."""
    text = typer.get_text_stream("stdin").read() if token == _FROM_STDIN else token
    return text.strip()


def _emit_minted(minted: MintedToken, output: Path | None, as_json: bool) -> None:
    """The token string goes to `--output` (mode 0600) or stdout, never to a log."""
    info: dict[str, Any] = {**_token_info(minted.view), "fingerprint": minted.fingerprint}
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(minted.token + "\n")
        os.chmod(output, 0o600)
        info["token_file"] = str(output)
    else:
        info = {"token": minted.token, **info}
    print_info(info, as_json)


@app.command("create")
@handle_errors
def create(
    stake_id: str | None = option(
        None,
        "--stake-id",
        env="TOKEN_CREATE_STAKE_ID",
        show_default="none: give --amount",
        help="Mint on this StakeRecord.",
    ),
    amount: str | None = option(
        None,
        "--amount",
        env="TOKEN_CREATE_AMOUNT",
        show_default="none: give --stake-id",
        help=f"Stake this much ({AMOUNT_FORMS}) and mint in one transaction (with --node-id).",
    ),
    node_id: str | None = option(
        None,
        "--node-id",
        env="TOKEN_CREATE_NODE_ID",
        show_default="none",
        help="Node id for --amount.",
    ),
    user: bool = option(
        False, "--user", env="TOKEN_CREATE_USER", help="A kubectl user token (needs --stake-id)."
    ),
    permissions: list[str] | None = option(
        None,
        "--permission",
        "-p",
        env="TOKEN_CREATE_PERMISSION",
        show_default="pods:read services:read",
        help="Requested permission (user tokens); repeatable.",
    ),
    output: Path | None = output_option(
        "TOKEN_CREATE", "Write the token here (0600).", default="printed"
    ),
    key: Path | None = KeyOpt,
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Mint a Seal token: on a stake (--stake-id), or stake and mint at once (--amount --node-id).

    The secret is drawn here; only its SHA-256 goes on chain.
    """
    if (stake_id is None) == (amount is None):
        fail("give --stake-id STAKE, or --amount AMOUNT (e.g. 1SUI) with --node-id NODE")
    if amount is not None and (node_id is None or user):
        fail("--amount mints a worker token: give --node-id NODE (user tokens need --stake-id)")
    mist = parse_amount(amount) if amount is not None else 0
    dep = load_deployment(deployment, endpoint)
    signer = load_key(key)

    async def action(pkg: K3sDaasPackage) -> MintedToken:
        if stake_id is None:
            return await pkg.stake_and_create_worker_token(signer, mist, str(node_id))
        if user:
            wanted = permissions or ["pods:read", "services:read"]
            return await pkg.create_user_token(signer, stake_id, wanted)
        return await pkg.create_worker_token(signer, stake_id)

    doing = "minting a Seal token, waiting for finality"
    if stake_id is None:
        doing = f"staking {format_amount(mist)} and minting a Seal token, waiting for finality"
    _emit_minted(with_package(dep, action, doing), output, as_json)


@app.command("show")
@handle_errors
def show(
    token: str = typer.Argument(..., help="Token (seal_...), its object id, or - for stdin."),
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Show a token's on-chain state (never its secret) and whether the secret matches."""
    text = _read_token(token)
    object_id = parse_token(text).object_id if text.startswith("seal_") else text
    dep = load_deployment(deployment, endpoint)

    async def action(pkg: K3sDaasPackage) -> tuple[SealTokenView, int]:
        return await pkg.get_seal_token(object_id), await pkg.client.current_epoch()

    view, epoch = with_package(dep, action)
    info = _token_info(view)
    info["expired"] = view.is_expired(epoch)
    if text.startswith("seal_"):
        info["secret_matches"] = commitment_matches(parse_token(text).secret, view.token_hash)
    print_info(info, as_json)


@app.command("rotate")
@handle_errors
def rotate(
    token: str = typer.Argument(..., help="The current token (seal_...), or - for stdin."),
    output: Path | None = output_option(
        "TOKEN_ROTATE", "Write the new token here (0600).", default="printed"
    ),
    key: Path | None = KeyOpt,
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """New secret and expiry for the same token object; the old string stops working."""
    text = _read_token(token)
    parse_token(text)
    dep = load_deployment(deployment, endpoint)
    signer = load_key(key)
    doing = "rotating the token, waiting for finality"
    minted = with_package(dep, lambda pkg: pkg.rotate_token(signer, text), doing)
    _emit_minted(minted, output, as_json)


@app.command("revoke")
@handle_errors
def revoke(
    token: str = typer.Argument(..., help="Token (seal_...), its object id, or - for stdin."),
    key: Path | None = KeyOpt,
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Delete the token object on chain (the master drops it on the SealTokenRevoked event)."""
    text = _read_token(token)
    object_id = parse_token(text).object_id if text.startswith("seal_") else text
    dep = load_deployment(deployment, endpoint)
    signer = load_key(key)
    with_package(
        dep, lambda pkg: pkg.revoke_token(signer, object_id), "revoking, waiting for finality"
    )
    print_info({"token_id": object_id, "revoked": True}, as_json)


@app.command("list")
@handle_errors
def list_(
    owner: str | None = option(
        None,
        "--owner",
        env="TOKEN_LIST_OWNER",
        show_default="the --key's address",
        help="List the tokens of this address.",
    ),
    key: Path | None = KeyOpt,
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """List the Seal tokens an address owns."""
    dep = load_deployment(deployment, endpoint)
    address = normalize_address(owner) if owner else load_key(key).address
    views = with_package(dep, lambda pkg: pkg.find_tokens(address))
    if as_json:
        console.print_json(json.dumps([_token_info(v) for v in views]))
        return
    for view in views:
        perms = ",".join(view.permissions)
        console.print(
            f"{view.id}  {view.node_id or '-':16} {view.tier.label:8} exp {view.expires_at}  "
            f"{perms}",
            highlight=False,
        )
    if not views:
        console.print(f"no tokens owned by {address}", highlight=False)
