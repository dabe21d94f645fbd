"""The chain client against a real devnet process: the whole token life cycle, events seen once
through the subscription, abort decoding, one gas coin spent twice, 100 concurrent transactions
from 10 senders with no lost update, and read/write failover to a second endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess, attestation_document
from harness.processes import CLI, free_port
from k3s_daas.chain import (
    ChainClient,
    ChainUnavailable,
    EventData,
    K3sDaasPackage,
    MemoryCursorStore,
    MoveAbortError,
    ObjectRef,
    ProgrammableTransaction,
    SuiKeyPair,
    TransactionRejected,
    sign,
    subscribe,
)
from k3s_daas.nautilus.errors import TokenRejected
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.validator import Validator
from k3s_daas.seal import constants as c
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.sui import COIN_SUI_TYPE
from k3s_daas.seal.token import commitment_matches, parse_token

FUND = 50 * 10**9


def register_enclaves(devnet: DevnetProcess) -> dict[Tier, str]:
    """One enclave per tier, so every token can be minted."""

    async def main() -> dict[Tier, str]:
        async with ChainClient.from_deployment(devnet.deployment) as client:
            pkg = K3sDaasPackage(client, devnet.deployment)
            pcrs = (await pkg.get_enclave_config()).pcrs
            out = {}
            for tier in Tier:
                document = attestation_document(devnet, pcrs)
                out[tier] = await pkg.register_enclave(
                    devnet.admin_key, document, f"https://master-{tier.label}", tier
                )
            return out

    return asyncio.run(main())


@pytest.fixture(scope="module")
def enclaves(devnet: DevnetProcess) -> dict[Tier, str]:
    return register_enclaves(devnet)


@pytest.fixture
async def client(devnet: DevnetProcess) -> AsyncIterator[ChainClient]:
    async with ChainClient.from_deployment(devnet.deployment) as c_:
        yield c_


@pytest.fixture
def pkg(client: ChainClient, devnet: DevnetProcess) -> K3sDaasPackage:
    return K3sDaasPackage(client, devnet.deployment)


def funded(devnet: DevnetProcess, coins: int = 1) -> SuiKeyPair:
    key = SuiKeyPair.generate()
    for _ in range(coins):
        devnet.faucet(key.address, FUND)
    return key


async def test_full_flow_and_every_event_once(
    devnet: DevnetProcess, enclaves: dict[Tier, str], client: ChainClient, pkg: K3sDaasPackage
) -> None:
    start = await client.latest_checkpoint() + 1
    seen: list[EventData] = []

    async def consume() -> None:
        async for event in subscribe(
            client,
            cursor=MemoryCursorStore(),
            package_id=devnet.deployment.package_id,
            start=start,
        ):
            seen.append(event)

    consumer = asyncio.create_task(consume())
    alice = funded(devnet)
    # two-call form: stake, then mint
    record = await pkg.stake_for_node(alice, 2_000, "flow-node-a")
    assert (record.node_id, record.amount, record.status_name) == ("flow-node-a", 2_000, "active")
    assert record.staker == alice.address
    minted = await pkg.create_worker_token(alice, record.id)
    assert minted.token not in repr(minted)  # the secret never shows in a repr
    token = parse_token(minted.token)
    assert token.object_id == minted.token_id
    view = await pkg.get_seal_token(minted.token_id)
    assert commitment_matches(token.secret, view.token_hash)
    assert (view.owner, view.node_id, view.stake_record) == (
        alice.address,
        "flow-node-a",
        record.id,
    )
    assert view.tier is Tier.STANDARD
    assert view.enclave == enclaves[Tier.STANDARD]
    assert view.permissions == ("pods:read", "services:read", "nodes:write", "pods:write")
    # one-call form: stake and mint in one transaction
    one = await pkg.stake_and_create_worker_token(alice, 10_000, "flow-node-b")
    assert one.view.tier is Tier.PREMIUM
    assert "*:*" in one.view.permissions
    assert (await pkg.get_stake_record(one.stake_record_id)).node_id == "flow-node-b"
    assert {t.id for t in await pkg.find_tokens(alice.address)} == {minted.token_id, one.token_id}
    found = await pkg.find_stake_for_node("flow-node-a")
    assert found is not None
    assert found.id == record.id
    # rotate: same id, new secret, the old one no longer opens the commitment
    rotated = await pkg.rotate_token(alice, minted.token)
    assert rotated.token_id == minted.token_id
    assert rotated.token != minted.token
    after = await pkg.get_seal_token(minted.token_id)
    assert not commitment_matches(token.secret, after.token_hash)
    assert commitment_matches(parse_token(rotated.token).secret, after.token_hash)
    # revoke deletes the object
    await pkg.revoke_token(alice, rotated.token)
    assert await client.get_object(minted.token_id) is None
    # slash (admin) frees the node id
    balance_before = await client.get_balance(alice.address)
    await pkg.slash(devnet.admin_key, record.id, 500)
    slashed = await pkg.get_stake_record(record.id)
    assert (slashed.status, slashed.balance) == (c.STATUS_SLASHED, 1_500)
    assert await pkg.find_stake_for_node("flow-node-a") is None
    assert await client.get_balance(alice.address) == balance_before  # the admin paid the gas

    async def wait_for_slash() -> None:
        while not any(e.name == "StakeSlashed" for e in seen):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait_for_slash(), 20)
    consumer.cancel()
    mine = [e for e in seen if e.name != "EnclaveRegistered"]
    assert [e.name for e in mine] == [
        "StakeCreated",
        "SealTokenCreated",
        "StakeCreated",
        "SealTokenCreated",
        "SealTokenRotated",
        "SealTokenRevoked",
        "StakeSlashed",
    ]
    assert len({(e.checkpoint, e.tx_digest, e.index) for e in seen}) == len(seen)
    assert mine[-1].fields["amount"] == 500  # decoded from BCS: a u64 is an int
    assert mine[-1].fields["remaining"] == 1500


async def test_abort_decoding_names_the_move_error(
    devnet: DevnetProcess, enclaves: dict[Tier, str], pkg: K3sDaasPackage
) -> None:
    alice, bob = funded(devnet), funded(devnet)
    record = await pkg.stake_for_node(alice, 500, "abort-node")
    with pytest.raises(MoveAbortError) as err:
        await pkg.stake_for_node(bob, 500, "abort-node")
    assert err.value.name == "E_NODE_ALREADY_STAKED"
    assert (err.value.module, err.value.function) == ("staking", "stake_for_node")
    assert err.value.reason == "move_abort"
    with pytest.raises(MoveAbortError) as err:
        await pkg.create_worker_token(bob, record.id)  # not bob's stake
    assert err.value.name == "E_NOT_STAKER"
    with pytest.raises(MoveAbortError) as err:
        await pkg.stake_for_user(bob, 99)
    assert err.value.name == "E_INSUFFICIENT_STAKE"
    with pytest.raises(MoveAbortError) as err:
        await pkg.stake_for_node(bob, 500, "Not_A_DNS_Label")
    assert err.value.name == "E_INVALID_NODE_ID"
    with pytest.raises(MoveAbortError) as err:
        await pkg.withdraw(alice, record.id)
    assert err.value.name == "E_NOT_WITHDRAWING"
    unstaking = await pkg.request_unstake(alice, record.id)
    assert unstaking.status_name == "withdrawing"
    with pytest.raises(MoveAbortError) as err:
        await pkg.withdraw(alice, record.id)
    assert err.value.name == "E_UNBONDING_NOT_OVER"
    for _ in range(c.UNBONDING_EPOCHS):
        devnet.advance_epoch()
    assert await pkg.withdraw(alice, record.id) == 500


async def test_the_remainder_of_a_partial_slash_is_withdrawn_at_once(
    devnet: DevnetProcess, enclaves: dict[Tier, str], client: ChainClient, pkg: K3sDaasPackage
) -> None:
    dep = devnet.deployment

    def validator() -> Validator:  # a fresh one each time: no cached answer
        return Validator(client, dep.package_id, dep.pool_id, Metrics())

    start = await client.latest_checkpoint() + 1
    seen: list[EventData] = []

    async def consume() -> None:
        async for event in subscribe(
            client, cursor=MemoryCursorStore(), package_id=dep.package_id, start=start
        ):
            seen.append(event)

    async def wait_for(name: str, stake_id: str) -> EventData:
        while True:
            for event in seen:
                if event.name == name and event.fields.get("stake_id") == stake_id:
                    return event
            await asyncio.sleep(0.02)

    consumer = asyncio.create_task(consume())
    alice = funded(devnet)
    record = await pkg.stake_for_node(alice, 2_000, "slash-rest-node")
    minted = await pkg.create_worker_token(alice, record.id)
    assert (await validator().validate(minted.token)).node_id == "slash-rest-node"
    total_before = (await pkg.get_pool()).total_staked

    await pkg.slash(devnet.admin_key, record.id, 500)
    slashed_event = await asyncio.wait_for(wait_for("StakeSlashed", record.id), 20)
    assert (slashed_event.fields["amount"], slashed_event.fields["remaining"]) == (500, 1500)
    with pytest.raises(TokenRejected) as refused:
        await validator().validate(minted.token)
    assert refused.value.reason == "stake_slashed"
    with pytest.raises(MoveAbortError) as err:
        await pkg.rotate_token(alice, minted.token)
    assert err.value.name == "E_NOT_ACTIVE"
    assert await pkg.find_stake_for_node("slash-rest-node") is None
    assert (await pkg.get_pool()).total_staked == total_before - 500

    # the rest is the staker's at once: no unbonding after a slash, and nobody else's
    with pytest.raises(MoveAbortError) as err:
        await pkg.withdraw(funded(devnet), record.id)
    assert err.value.name == "E_NOT_STAKER"
    coins_before = {
        c_.object_id for c_ in await client.list_owned_objects(alice.address, COIN_SUI_TYPE)
    }
    assert await pkg.withdraw(alice, record.id) == 1_500
    coins = await client.list_owned_objects(alice.address, COIN_SUI_TYPE)
    assert [c_.balance for c_ in coins if c_.object_id not in coins_before] == [1_500]
    withdrawn_event = await asyncio.wait_for(wait_for("StakeWithdrawn", record.id), 20)
    consumer.cancel()
    assert withdrawn_event.fields["amount"] == 1500
    assert withdrawn_event.fields["staker"] == alice.address

    after = await pkg.get_stake_record(record.id)
    assert (after.status, after.balance, after.amount) == (c.STATUS_SLASHED, 0, 2_000)
    assert (await pkg.get_pool()).total_staked == total_before - 2_000
    with pytest.raises(TokenRejected) as refused:  # revoked for good
        await validator().validate(minted.token)
    assert refused.value.reason == "stake_slashed"
    with pytest.raises(MoveAbortError) as err:
        await pkg.withdraw(alice, record.id)
    assert (err.value.name, err.value.function) == ("E_NOTHING_TO_WITHDRAW", "withdraw")
    with pytest.raises(MoveAbortError) as err:
        await pkg.slash(devnet.admin_key, record.id, 0)
    assert err.value.name == "E_NOT_ACTIVE"


async def test_one_gas_coin_spent_twice_exactly_one_wins(
    devnet: DevnetProcess, client: ChainClient, pkg: K3sDaasPackage
) -> None:
    alice = funded(devnet)
    [coin] = await client.list_owned_objects(alice.address, COIN_SUI_TYPE)
    assert coin.digest is not None
    gas = ObjectRef(coin.object_id, coin.version, coin.digest)
    pool_version = await client.initial_shared_version(devnet.deployment.pool_id)
    signed = []
    for amount in (300, 400):  # two different transactions on the same coin version
        ptb = ProgrammableTransaction()
        pool = ptb.shared(devnet.deployment.pool_id, pool_version, mutable=True)
        ptb.move_call(
            devnet.deployment.package_id, "staking", "stake_for_user", [pool, ptb.split_gas(amount)]
        )
        raw = ptb.build(sender=alice.address, gas=[gas], gas_price=1000, gas_budget=pkg.gas_budget)
        signed.append(sign(raw, alice))
    results = await asyncio.gather(
        *(client.execute(s.tx_bytes, s.signatures) for s in signed), return_exceptions=True
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1
    assert len(losses) == 1
    assert isinstance(losses[0], TransactionRejected)
    # One writer executes at acceptance, so the loser sees the coin's new version: stale
    # (INVALID_ARGUMENT, "is not available for consumption"), never locked (FAILED_PRECONDITION)
    assert losses[0].stale_object
    assert not losses[0].objects_locked
    assert losses[0].status == "INVALID_ARGUMENT"
    assert "is not available for consumption" in losses[0].message


async def test_100_concurrent_transactions_from_10_senders_lose_no_update(
    devnet: DevnetProcess, client: ChainClient, pkg: K3sDaasPackage
) -> None:
    senders = [funded(devnet) for _ in range(10)]
    before = (await pkg.get_pool()).total_staked
    amounts = [100 + i for i in range(100)]

    async def one(i: int) -> str:
        return (await pkg.stake_for_user(senders[i % 10], amounts[i])).id

    ids = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(100))), 120)
    assert len(set(ids)) == 100
    assert (await pkg.get_pool()).total_staked - before == sum(amounts)
    records = await pkg.get_views(type(await pkg.get_stake_record(ids[0])), ids)
    assert sorted(r.amount for r in records if r is not None) == amounts


async def test_failover_to_the_second_endpoint(
    devnet: DevnetProcess, enclaves: dict[Tier, str]
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    async with ChainClient([dead, devnet.grpc_target], timeout=2.0) as client:
        pool = await client.get_object(devnet.deployment.pool_id)
        assert pool is not None
        assert pool.shared
        assert str(client.endpoints[client.preferred_endpoint]) == devnet.grpc_target
        client.transport.preferred = 0  # writes too: refused before sending, so the next is tried
        pkg = K3sDaasPackage(client, devnet.deployment)
        minted = await pkg.stake_and_create_worker_token(funded(devnet), 150, "failover-node")
        assert minted.view.tier is Tier.BASIC
    async with ChainClient([dead], timeout=1.0, retries=1) as only_dead:
        with pytest.raises(ChainUnavailable) as err:
            await only_dead.get_object(devnet.deployment.pool_id)
        assert err.value.reason == "chain_unavailable"
        with pytest.raises(ChainUnavailable):
            await only_dead.execute(b"\x00", [b"\x00" * 97])


# -- the CLI, as a user runs it ------------------------------------------------------------------
def cli(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env={**os.environ, "K3S_DAAS_HOME": str(home), "K3S_DAAS_LOG_JSON": "true"},
    )


def fields(out: str) -> dict[str, str]:
    return {line.split()[0]: [*line.split(maxsplit=1), ""][1] for line in out.splitlines() if line}


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def slash_command() -> list[str]:
    """`devnet slash` once the lead has mounted it; until then the module's own runner."""
    helptext = subprocess.run([CLI, "devnet", "--help"], capture_output=True, text=True).stdout
    if "slash" in helptext:
        return [CLI, "devnet", "slash"]
    return [sys.executable, "-m", "k3s_daas.cli.chain_admin", "slash"]


def test_cli_stake_token_and_slash(
    devnet: DevnetProcess, enclaves: dict[Tier, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    key = funded(devnet)
    key.save(home / "keys" / "default.key")
    dep = ["--deployment", str(devnet.data_dir / "devnet.json")]
    staked = cli("stake", "--amount", "1500MIST", "--node-id", "cli-node", *dep, home=home)
    assert staked.returncode == 0, staked.stderr
    info = fields(staked.stdout)
    assert (info["node_id"], info["amount"], info["status"]) == (
        "cli-node", "0.0000015 SUI (1500 MIST)", "active"
    )  # fmt: skip
    stake_id = info["stake_id"]
    created = cli("token", "create", "--stake-id", stake_id, *dep, home=home)
    assert created.returncode == 0, created.stderr
    token = fields(created.stdout)["token"]
    assert parse_token(token).object_id == fields(created.stdout)["token_id"]
    assert token not in created.stderr  # never in the logs
    shown = cli("token", "show", "-", *dep, home=home, stdin=token)
    assert shown.returncode == 0, shown.stderr
    assert fields(shown.stdout)["secret_matches"] == "True"
    assert fields(shown.stdout)["tier"] == "standard"
    assert token[5:] not in shown.stdout  # the secret half is never printed
    out_file = tmp_path / "rotated.token"
    rotated = cli("token", "rotate", "-", "--output", str(out_file), *dep, home=home, stdin=token)
    assert rotated.returncode == 0, rotated.stderr
    new_token = out_file.read_text().strip()
    assert new_token != token
    assert out_file.stat().st_mode & 0o777 == 0o600
    assert new_token not in rotated.stdout
    listed = cli("token", "list", "--json", *dep, home=home)
    assert listed.returncode == 0, listed.stderr
    assert [t["token_id"] for t in json.loads(listed.stdout)] == [parse_token(token).object_id]
    one_call = cli(
        "token", "create", "--amount", "0.00002SUI", "--node-id", "cli-node-2", "--json", *dep,
        home=home,
    )  # fmt: skip
    assert one_call.returncode == 0, one_call.stderr
    assert json.loads(one_call.stdout)["tier"] == "premium"
    assert json.loads(one_call.stdout)["stake_amount"] == 20_000  # JSON keeps MIST
    revoked = cli("token", "revoke", parse_token(new_token).object_id, *dep, home=home)
    assert revoked.returncode == 0, revoked.stderr
    gone = cli("token", "show", parse_token(new_token).object_id, *dep, home=home)
    one_line_error(gone, "not_found")
    slashed = subprocess.run(
        [*slash_command(), "cli-node", "--amount", "1000", *dep],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "K3S_DAAS_HOME": str(home)},
    )
    assert slashed.returncode == 0, slashed.stderr
    assert (fields(slashed.stdout)["status"], fields(slashed.stdout)["balance"]) == (
        "slashed",
        "0.0000005 SUI (500 MIST)",
    )
    assert (
        fields(slashed.stdout)["withdrawable"],
        fields(slashed.stdout)["withdrawable_from_epoch"],
    ) == ("0.0000005 SUI (500 MIST)", "0")
    shown = cli("stake-show", stake_id, "--json", *dep, home=home)
    assert shown.returncode == 0, shown.stderr
    shown_info = json.loads(shown.stdout)
    assert (shown_info["status"], shown_info["withdrawable"], shown_info["withdrawable_now"]) == (
        "slashed", 500, True,
    )  # fmt: skip
    withdrawn = cli("withdraw", stake_id, "--json", *dep, home=home)
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert json.loads(withdrawn.stdout) == {"stake_id": stake_id, "withdrawn": 500}
    shown = cli("stake-show", stake_id, *dep, home=home)
    assert (fields(shown.stdout)["status"], fields(shown.stdout)["withdrawable"]) == (
        "slashed",
        "0 SUI (0 MIST)",
    )
    assert fields(shown.stdout)["withdrawable_now"] == "False"
    one_line_error(cli("withdraw", stake_id, *dep, home=home), "E_NOTHING_TO_WITHDRAW")
    again = subprocess.run(
        [*slash_command(), "cli-node", *dep],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "K3S_DAAS_HOME": str(home)},
    )
    one_line_error(again, "no live stake")


def test_cli_bad_input_is_one_line_and_exit_1(devnet: DevnetProcess, tmp_path: Path) -> None:
    home = tmp_path / "home"
    SuiKeyPair.generate().save(home / "keys" / "default.key")
    dep = ["--deployment", str(devnet.data_dir / "devnet.json")]
    one_line_error(cli("token", "list", "--owner", "0xZZ", *dep, home=home), "invalid_address")
    one_line_error(
        cli("stake", "--amount", "12abc", "--node-id", "n", *dep, home=home), "unknown unit"
    )
    one_line_error(cli("stake", "--amount", "1.5", "--user", *dep, home=home), "1.5SUI")
    one_line_error(cli("stake", "--amount", "-1SUI", "--user", *dep, home=home), "invalid_amount")
    one_line_error(cli("token", "show", "0x" + "77" * 32, *dep, home=home), "not_found")
    one_line_error(cli("token", "show", "seal_nope", *dep, home=home), "invalid_format")
    one_line_error(cli("token", "list", home=tmp_path / "nothing-here"), "no_deployment")
    poor = cli("stake", "--amount", "500", "--user", *dep, home=home)  # unfunded key
    one_line_error(poor, "insufficient_funds")


def bcs_bytes(field: v2.Bcs | None) -> bytes:
    assert field is not None and field.value is not None
    return bytes(field.value)


async def test_node_stakes_table_is_served_as_dynamic_fields(
    devnet: DevnetProcess, enclaves: dict[Tier, str], client: ChainClient, pkg: K3sDaasPackage
) -> None:
    key = funded(devnet)
    node = f"table-{os.getpid()}"
    record = await pkg.stake_for_node(key, 100, node)
    pool = await pkg.get_pool()
    fields = await client.list_dynamic_fields(pool.node_stakes_table)
    names = {bcs_bytes(f.name)[1:].decode(): bcs_bytes(f.value).hex() for f in fields}
    assert names[node] == record.id[2:]
    found = await pkg.find_stake_for_node(node)
    assert found is not None
    assert found.id == record.id
    assert await pkg.find_stake_for_node("never-staked") is None
