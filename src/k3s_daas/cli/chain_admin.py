"""`k3s-daas devnet slash NODE_ID [--amount]`: the admin slashes a node's stake (AdminCap holder).

Mounted on the `devnet` sub-app through `register_devnet` (the devnet CLI is another module's);
it signs with the admin key devnet.json points to, so it is a devnet convenience. On a real
network the same call is `K3sDaasPackage.slash` with the AdminCap owner's key.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from k3s_daas.chain import DeploymentError, K3sDaasPackage, StakeRecordView, SuiKeyPair
from k3s_daas.cli._common import fail, handle_errors
from k3s_daas.cli.stake import (
    DeploymentOpt,
    EndpointOpt,
    JsonOpt,
    load_deployment,
    parse_amount,
    print_info,
    record_info,
    with_package,
)

_OBJECT_ID = re.compile(r"0x[0-9a-fA-F]{64}")


def slash(
    node_id: str = typer.Argument(..., help="Node id whose live stake to slash (or a stake id)."),
    amount: str = typer.Option("0", "--amount", help="MIST to slash; 0 = everything."),
    admin_key: Path | None = typer.Option(
        None, "--admin-key", help="AdminCap owner's key (default: devnet.json admin_key_path)."
    ),
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Slash a node's stake: the master revokes its tokens and evicts the node."""
    mist = parse_amount(amount, allow_zero=True)
    dep = load_deployment(deployment, endpoint)
    key_path = admin_key or (Path(dep.admin_key_path) if dep.admin_key_path else None)
    if key_path is None:
        raise DeploymentError("no admin key: pass --admin-key", reason="not_admin")
    admin = SuiKeyPair.load(key_path)

    async def action(pkg: K3sDaasPackage) -> StakeRecordView:
        if _OBJECT_ID.fullmatch(node_id):
            record = await pkg.get_stake_record(node_id)
        else:
            found = await pkg.find_stake_for_node(node_id)
            if found is None:
                fail(f"node {node_id!r} has no live stake")
            record = found
        await pkg.slash(admin, record.id, mist)
        return await pkg.get_stake_record(record.id)

    print_info(record_info(with_package(dep, action)), as_json)


def register_devnet(devnet_app: typer.Typer) -> None:
    """Add `slash` to the `devnet` sub-app (the lead wires this in cli/devnet.py)."""
    devnet_app.command("slash")(handle_errors(slash))


def _standalone() -> None:  # pragma: no cover - `python -m k3s_daas.cli.chain_admin slash ...`
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    register_devnet(app)
    app.command("noop", hidden=True)(lambda: None)
    app()


if __name__ == "__main__":  # pragma: no cover
    _standalone()
