"""The admin's commands: `k3s-daas chain import-publish | update-pcrs` (the operator path to a
real network, docs/operations.md) and `k3s-daas devnet slash` (AdminCap holder).

`devnet slash` is mounted on the `devnet` sub-app through `register_devnet` (the devnet CLI is
another module's); it signs with the admin key devnet.json points to, so it is a devnet
convenience. On a real network the same call is `K3sDaasPackage.slash` with the AdminCap
owner's key.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import typer

from k3s_daas.attestation import parse_measurements, parse_pcr_hex, simulated_pcrs
from k3s_daas.chain import (
    ChainClient,
    ChainUnavailable,
    Deployment,
    DeploymentError,
    K3sDaasPackage,
    ObjectNotFound,
    PcrPin,
    StakeRecordView,
    SuiKeyPair,
    parse_publish_output,
    pin_pcrs,
)
from k3s_daas.cli._common import console, fail, handle_errors, run_async
from k3s_daas.cli.options import (
    DeploymentOpt,
    EndpointOpt,
    HomeOpt,
    JsonOpt,
    option,
    output_option,
)
from k3s_daas.cli.stake import (
    load_deployment,
    print_info,
    record_info,
    with_package,
)
from k3s_daas.seal.amounts import parse_amount
from k3s_daas.settings import Settings

_OBJECT_ID = re.compile(r"0x[0-9a-fA-F]{64}")

app = typer.Typer(
    no_args_is_help=True,
    help="The package on a network: import a publish, pin the master image's PCRs.",
)


def _admin_key(path: Path | None, dep: Deployment) -> SuiKeyPair:
    key_path = path or (Path(dep.admin_key_path) if dep.admin_key_path else None)
    if key_path is None:
        raise DeploymentError(
            "no admin key: pass --admin-key (the key that published the package; it owns the "
            "AdminCap)",
            reason="not_admin",
        )
    return SuiKeyPair.load(key_path)


def slash(
    node_id: str = typer.Argument(..., help="Node id whose live stake to slash (or a stake id)."),
    amount: str = option(
        "0",
        "--amount",
        env="DEVNET_SLASH_AMOUNT",
        help="How much to slash (1.5SUI, 100MIST or MIST); 0 = everything.",
    ),
    admin_key: Path | None = option(
        None,
        "--admin-key",
        env="ADMIN_KEY",
        show_default="the deployment's admin_key_path",
        help="AdminCap owner's key (the key that published the package).",
    ),
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Slash a node's stake: the master revokes its tokens and evicts the node."""
    mist = parse_amount(amount, allow_zero=True)
    dep = load_deployment(deployment, endpoint)
    admin = _admin_key(admin_key, dep)

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

    doing = f"slashing {node_id}, waiting for finality"
    print_info(record_info(with_package(dep, action, doing)), as_json)


# -- chain import-publish --------------------------------------------------------------------
def _read_text(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    return path.read_text(encoding="utf-8", errors="replace")


async def _checked_chain_id(dep: Deployment) -> str:
    """The node's chain id, after checking it holds the publish's pool and config (a wrong
    network or a publish not yet executed fails here, not at the first stake)."""
    async with ChainClient.from_deployment(dep) as client:
        try:
            chain_id = str((await client.service_info()).chain_id or "")
        except ChainUnavailable as exc:
            raise ChainUnavailable(f"{exc.message}: or pass --chain-id to skip asking") from exc
        package = K3sDaasPackage(client, dep)
        try:
            await package.get_pool()
            await package.get_enclave_config()
        except ObjectNotFound as exc:
            raise ObjectNotFound(
                f"{exc.message} on {dep.grpc_endpoints[0]}: is that the network of the publish?"
            ) from exc
    if not chain_id:
        raise DeploymentError("the node answered GetServiceInfo without a chain id: --chain-id")
    return chain_id


@app.command("import-publish")
@handle_errors
def import_publish(
    publish_file: Path = typer.Argument(
        ..., help="What `sui client publish --json` printed (a file, or - for stdin)."
    ),
    endpoint: list[str] = option(
        ...,
        "--endpoint",
        env="ENDPOINT",
        help="Full node gRPC endpoint (https://host:443); repeat for failover.",
    ),
    output: Path | None = output_option(
        "CHAIN_IMPORT_PUBLISH", "Deployment file to write.", default="<home>/deployment.json"
    ),
    chain_id: str | None = option(
        None,
        "--chain-id",
        env="CHAIN_IMPORT_PUBLISH_CHAIN_ID",
        show_default="asked from the node, which is then checked",
        help="The network's chain id.",
    ),
    faucet_url: str | None = option(
        None,
        "--faucet-url",
        env="CHAIN_IMPORT_PUBLISH_FAUCET_URL",
        show_default="none",
        help="Faucet (test networks).",
    ),
    attestation_root: Path | None = option(
        None,
        "--attestation-root",
        env="CHAIN_IMPORT_PUBLISH_ATTESTATION_ROOT",
        show_default="AWS Nitro's",
        help="PEM root of enclave attestation documents.",
    ),
    attestation_ca_key: Path | None = option(
        None,
        "--attestation-ca-key",
        env="CHAIN_IMPORT_PUBLISH_ATTESTATION_CA_KEY",
        show_default="none",
        help="Dev CA key for a simulated enclave (devnet only).",
    ),
    force: bool = option(
        False,
        "--force",
        env="CHAIN_IMPORT_PUBLISH_FORCE",
        help="Overwrite an existing deployment file.",
    ),
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Write the deployment file from a publish: package, pool, enclave config, AdminCap."""
    target = output or Settings().home / "deployment.json"
    for given in (attestation_root, attestation_ca_key):
        if given is not None and not given.is_file():
            fail(f"{given} not found")
    if target.exists() and not force:
        fail(f"{target} exists: pass --force to overwrite it, or --output another file")
    source = "standard input" if str(publish_file) == "-" else str(publish_file)
    record = parse_publish_output(_read_text(publish_file), source)
    extra = {
        "faucet_url": faucet_url,
        "attestation_root_path": str(attestation_root.resolve()) if attestation_root else None,
        "attestation_ca_key_path": (
            str(attestation_ca_key.resolve()) if attestation_ca_key else None
        ),
    }
    dep = record.deployment(chain_id or "", endpoint, **extra)
    if chain_id is None:
        dep = dep.model_copy(update={"chain_id": run_async(_checked_chain_id(dep))})
    dep.save(target)
    info: dict[str, Any] = {
        "deployment": str(target),
        "chain_id": dep.chain_id,
        "package_id": dep.package_id,
        "pool_id": dep.pool_id,
        "enclave_config_id": dep.enclave_config_id,
        "admin_cap_id": dep.admin_cap_id,
        "admin": record.admin_address,
        "publish_digest": record.digest,
    }
    print_info(info, as_json)
    if not as_json:
        console.print(
            f"next: k3s-daas chain update-pcrs --deployment {target} --admin-key ADMIN.key "
            "--from-measurements MEASUREMENTS.json",
            highlight=False,
        )


# -- chain update-pcrs -----------------------------------------------------------------------
def _wanted_pcrs(
    dep: Deployment, hexes: list[str | None], measurements: Path | None
) -> tuple[dict[int, bytes], str]:
    """PCR0-2 and where they came from: flags, a nitro-cli file, or (dev) the simulated
    enclave's measurement of the installed code."""
    given = [h is not None for h in hexes]
    if any(given) and measurements is not None:
        fail("give either --pcr0/--pcr1/--pcr2 or --from-measurements, not both")
    if any(given):
        if not all(given):
            fail("give all three of --pcr0, --pcr1 and --pcr2")
        return {i: parse_pcr_hex(str(h), i) for i, h in enumerate(hexes)}, "flags"
    if measurements is not None:
        return parse_measurements(_read_text(measurements), str(measurements)), str(measurements)
    if not dep.attestation_ca_key_path:
        fail(
            "no PCRs given: pass --from-measurements FILE (the JSON of `nitro-cli describe-eif "
            "--eif-path IMAGE.eif`) or --pcr0/--pcr1/--pcr2 (the simulated enclave's "
            "measurement is the default only for a deployment with a dev CA)"
        )
    return simulated_pcrs(), "simulated enclave (installed code)"


def _pcr_option(index: int) -> Any:
    return option(
        None,
        f"--pcr{index}",
        env=f"CHAIN_UPDATE_PCRS_PCR{index}",
        show_default="the simulated enclave's (dev CA deployments only)",
        help=f"PCR{index} (96 hex digits).",
    )


@app.command("update-pcrs")
@handle_errors
def update_pcrs(
    admin_key: Path | None = option(
        None,
        "--admin-key",
        env="ADMIN_KEY",
        show_default="the deployment's admin_key_path",
        help="AdminCap owner's key (the key that published the package).",
    ),
    pcr0: str | None = _pcr_option(0),
    pcr1: str | None = _pcr_option(1),
    pcr2: str | None = _pcr_option(2),
    from_measurements: Path | None = option(
        None,
        "--from-measurements",
        env="CHAIN_UPDATE_PCRS_FROM_MEASUREMENTS",
        show_default="none",
        help="nitro-cli describe-eif / build-enclave JSON output.",
    ),
    deployment: Path | None = DeploymentOpt,
    endpoint: list[str] | None = EndpointOpt,
    as_json: bool = JsonOpt,
    home: Path | None = HomeOpt,
) -> None:
    """Pin the master image's PCR0-2 on chain (AdminCap): masters can then register."""
    dep = load_deployment(deployment, endpoint)
    pcrs, source = _wanted_pcrs(dep, [pcr0, pcr1, pcr2], from_measurements)
    admin = _admin_key(admin_key, dep)

    async def action(pkg: K3sDaasPackage) -> PcrPin:
        return await pin_pcrs(pkg, admin, pcrs)

    pin = with_package(dep, action, "pinning the PCRs, waiting for finality")
    info: dict[str, Any] = {
        "enclave_config": pin.config_id,
        "version": pin.version,
        "sent": pin.changed,
        "source": source,
        **{f"pcr{i}": pin.pcrs[i].hex() for i in (0, 1, 2)},
    }
    print_info(info, as_json)


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
