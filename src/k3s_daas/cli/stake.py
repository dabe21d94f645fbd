"""`k3s-daas stake | unstake | withdraw | stake-show`: lock SUI for a worker node or a kubectl user,
and get it back (after unbonding, or at once for what a slash left).

Also the shared plumbing of the chain commands (`token`, `devnet slash`): which chain (devnet.json
by default, `--endpoint` to override its endpoints), which key, a spinner while the chain works,
and amounts (`seal.amounts`: `1.5SUI`, `100MIST` or MIST) printed both ways.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from k3s_daas.chain import ChainClient, Deployment, K3sDaasPackage, StakeRecordView, SuiKeyPair
from k3s_daas.cli._common import console, fail, handle_errors, progress, run_async
from k3s_daas.cli.options import DeploymentOpt, EndpointOpt, HomeOpt, JsonOpt, KeyOpt, option
from k3s_daas.seal import constants as c
from k3s_daas.seal.amounts import format_amount, parse_amount
from k3s_daas.settings import Settings

T = TypeVar("T")

STAKE_ID_HELP = "StakeRecord object id (printed by `k3s-daas stake`)."
AMOUNT_FORMS = "1.5SUI, 100MIST or a whole number of MIST"
#: Fields printed as `1.5 SUI (1500000000 MIST)` by `print_info` (JSON keeps integers of MIST).
AMOUNT_FIELDS = frozenset({"amount", "balance", "withdrawable", "withdrawn", "stake_amount"})


def load_deployment(path: Path | None, endpoints: list[str] | None) -> Deployment:
    return Deployment.load(path or Settings().devnet_json).with_endpoints(endpoints)


def load_key(path: Path | None) -> SuiKeyPair:
    key_path = path or Settings().keys_dir / "default.key"
    if not key_path.exists():
        fail(f"no key at {key_path}: create one with `k3s-daas keys new`, or pass --key FILE")
    return SuiKeyPair.load(key_path)


def with_package(
    dep: Deployment,
    action: Callable[[K3sDaasPackage], Awaitable[T]],
    doing: str = "asking the chain",
) -> T:
    """Run one async action against the chain with a client that is closed afterwards, with a
    spinner saying what it waits for (`doing`)."""

    async def main() -> T:
        async with ChainClient.from_deployment(dep) as client:
            return await action(K3sDaasPackage(client, dep))

    with progress(f"{doing} ..."):
        return run_async(main())


def print_info(info: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(info))
        return
    width = max(map(len, info), default=0)
    for key, value in info.items():
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        elif key in AMOUNT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            value = format_amount(value)
        elif value is None:
            value = "-"  # JSON says null; a text column says "none" the shell way
        console.print(f"{key:{width}}  {value}", highlight=False)


def withdrawable_from(record: StakeRecordView) -> int | None:
    """The epoch from which `staking::withdraw` pays this stake's balance, None if it never will:
    a slash's remainder at once (0), an unstaked balance after unbonding; an active stake must be
    unstaked first, a withdrawn or fully slashed one has nothing left."""
    if record.balance == 0:
        return None
    if record.status == c.STATUS_SLASHED:
        return 0
    if record.status == c.STATUS_WITHDRAWING:
        return record.unbonding_epoch
    return None


def record_info(record: StakeRecordView) -> dict[str, Any]:
    when = withdrawable_from(record)
    return {
        "stake_id": record.id,
        "staker": record.staker,
        "node_id": record.node_id,
        "stake_type": "node" if record.is_node_stake else "user",
        "amount": record.amount,
        "balance": record.balance,
        "status": record.status_name,
        "staked_epoch": record.staked_epoch,
        "unbonding_epoch": record.unbonding_epoch,
        "withdrawable": 0 if when is None else record.balance,
        "withdrawable_from_epoch": when,
    }


def stake(
    amount: str = option(
        ...,
        "--amount",
        env="STAKE_AMOUNT",
        help=f"How much to lock: {AMOUNT_FORMS} (tiers: 100MIST basic, 1000MIST standard, "
        "10000MIST premium).",
    ),
    node_id: str | None = option(
        None,
        "--node-id",
        env="STAKE_NODE_ID",
        show_default="none: give --user",
        help="Worker node id (DNS label).",
    ),
    user: bool = option(False, "--user", env="STAKE_USER", help="A kubectl user stake (no node)."),
    key: Path | None = KeyOpt,
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Stake SUI for a worker node (--node-id) or a kubectl user (--user)."""
    mist = parse_amount(amount)
    if user == (node_id is not None):
        fail("give exactly one of --node-id NODE or --user")
    dep = load_deployment(deployment, endpoint)
    signer = load_key(key)

    async def action(pkg: K3sDaasPackage) -> StakeRecordView:
        if node_id is not None:
            return await pkg.stake_for_node(signer, mist, node_id)
        return await pkg.stake_for_user(signer, mist)

    doing = f"staking {format_amount(mist)}, waiting for finality"
    print_info(record_info(with_package(dep, action, doing)), as_json)


def unstake(
    stake_id: str = typer.Argument(..., help=STAKE_ID_HELP),
    key: Path | None = KeyOpt,
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Request unstaking: starts the unbonding period and frees the node id."""
    dep = load_deployment(deployment, endpoint)
    signer = load_key(key)
    record = with_package(
        dep, lambda pkg: pkg.request_unstake(signer, stake_id), "unstaking, waiting for finality"
    )
    print_info(record_info(record), as_json)


def withdraw(
    stake_id: str = typer.Argument(..., help=STAKE_ID_HELP),
    key: Path | None = KeyOpt,
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Withdraw a stake's balance: once unbonding is over, or at once what a slash left."""
    dep = load_deployment(deployment, endpoint)
    signer = load_key(key)
    amount = with_package(
        dep, lambda pkg: pkg.withdraw(signer, stake_id), "withdrawing, waiting for finality"
    )
    print_info({"stake_id": stake_id, "withdrawn": amount}, as_json)


def show(
    stake_id: str = typer.Argument(..., help=STAKE_ID_HELP),
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Show a stake: status, balance, and what `withdraw` would pay and from which epoch."""
    dep = load_deployment(deployment, endpoint)

    async def action(pkg: K3sDaasPackage) -> tuple[StakeRecordView, int]:
        return await pkg.get_stake_record(stake_id), await pkg.client.current_epoch()

    record, epoch = with_package(dep, action)
    info = record_info(record)
    when = info["withdrawable_from_epoch"]
    info["withdrawable_now"] = when is not None and epoch >= when
    print_info(info, as_json)


def register(app: typer.Typer) -> None:
    """Add `stake`, `unstake`, `withdraw` and `stake-show` as top-level commands."""
    app.command("stake")(handle_errors(stake))
    app.command("unstake")(handle_errors(unstake))
    app.command("withdraw")(handle_errors(withdraw))
    app.command("stake-show")(handle_errors(show))
