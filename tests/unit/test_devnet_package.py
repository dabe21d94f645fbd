"""The native `k3s_daas` package on the devnet: one scenario per abort code (asserted by module
and code), the happy flows with their exact events, enclave assignment, permissions, and the
GetFunction table held against the Move sources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from k3s_daas.attestation import DevCA, create_dev_ca
from k3s_daas.chain import SuiKeyPair
from k3s_daas.devnet.effects import (
    ExecutedTransaction,
    ExecutionStatus,
    GasCost,
    TransactionEffects,
)
from k3s_daas.devnet.layouts import struct_bcs
from k3s_daas.devnet.objects import AddressOwner, SharedOwner, StoredObject
from k3s_daas.devnet.package import FUNCTIONS, MoveAbort, coin_value, k8s_gateway
from k3s_daas.seal import constants as c
from tests.unit.test_devnet_executor_support import (
    Chain,
    alice,
    assert_abort,
    bob,
    ca,
    chain,
    document,
    enclave,
    operator,
)

__all__ = ["alice", "bob", "ca", "chain", "enclave", "operator"]  # fixtures used here
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "sources"


def names(effects: ExecutedTransaction) -> list[str]:
    return [e.event_type.rsplit("::", 1)[1] for e in effects.events]


# ---- one scenario per abort code ---------------------------------------------------------------


@dataclass
class World:
    chain: Chain
    ca: DevCA
    alice: SuiKeyPair
    bob: SuiKeyPair
    operator: SuiKeyPair
    tmp: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def with_enclave(self, tier: int = 0) -> str:
        effects = self.chain.register(self.operator, document(self.ca), tier=tier)
        assert effects.effects.status.success, effects.effects.status
        return self.chain.created(effects, "::Enclave")


def _node(w: World, amount: int = 1_000, node: str = "worker-1") -> str:
    return w.chain.stake(w.alice, amount, node)


def _token(w: World) -> tuple[str, str]:
    w.with_enclave()
    record = _node(w)
    return w.chain.created(w.chain.mint(w.alice, record), "::SealToken"), record


def _not_token_owner(w: World) -> ExecutedTransaction:
    """Unreachable through a PTB (the token is owned by `owner` and has no `store`), so the
    native function is called directly with a runtime whose sender is someone else."""
    token, _ = _token(w)
    rt = _Runtime(sender=w.bob.address)
    with pytest.raises(MoveAbort) as info:
        k8s_gateway.revoke_seal_token(rt, w.chain.obj(token).copy())
    return _abort_effects(info.value)


@dataclass
class _Runtime:
    """Test double of the executor's runtime for the one unreachable abort path."""

    sender: str
    epoch: int = 0
    timestamp_ms: int = 0
    package_id: str = ""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the abort must come before {name}")


def _abort_effects(abort: MoveAbort) -> ExecutedTransaction:
    """A direct native call that aborted, shaped like a failed transaction (no digest)."""
    status = ExecutionStatus(False, str(abort), abort.module, abort.function, abort.code)
    effects = TransactionEffects("", status, 0, GasCost(0, 0), None, 0, (), None, "")
    return ExecutedTransaction("programmable", "", b"", [], effects)


def _withdrawing(w: World) -> str:
    record = _node(w)
    assert w.chain.staking(w.alice, "request_unstake", record).effects.status.success
    return record


def _fully_slashed(w: World) -> str:
    record = _node(w)
    assert w.chain.slash(record, 0).effects.status.success
    return record


SCENARIOS: dict[str, tuple[str, Callable[[World], ExecutedTransaction]]] = {
    "E_INSUFFICIENT_STAKE": ("staking", lambda w: w.chain.send(w.alice, w.chain.stake_ptb(99, "w"))),
    "E_NOT_STAKER": ("staking", lambda w: w.chain.staking(w.bob, "request_unstake", _node(w))),
    "E_NOT_ACTIVE": ("staking", lambda w: w.chain.staking(w.alice, "request_unstake", _withdrawing(w))),
    "E_NOT_WITHDRAWING": ("staking", lambda w: w.chain.staking(w.alice, "withdraw", _node(w))),
    "E_UNBONDING_NOT_OVER": ("staking", lambda w: w.chain.staking(w.alice, "withdraw", _withdrawing(w))),
    "E_INVALID_NODE_ID": ("staking", lambda w: w.chain.send(w.alice, w.chain.stake_ptb(100, "Worker"))),
    "E_NODE_ALREADY_STAKED": ("staking", lambda w: (_node(w), w.chain.send(w.bob, w.chain.stake_ptb(100, "worker-1")))[1]),
    "E_SLASH_TOO_LARGE": ("staking", lambda w: w.chain.slash(_node(w, 500), 501)),
    "E_INVALID_THRESHOLDS": ("staking", lambda w: w.chain.set_thresholds(100, 50, 1000)),
    "E_NOTHING_TO_WITHDRAW": ("staking", lambda w: w.chain.staking(w.alice, "withdraw", _fully_slashed(w))),
    "E_NOT_NODE_STAKE": ("k8s_gateway", lambda w: (w.with_enclave(), w.chain.mint(w.bob, w.chain.stake(w.bob, 100)))[1]),
    "E_NOT_USER_STAKE": ("k8s_gateway", lambda w: (w.with_enclave(), w.chain.mint(w.alice, _node(w), requested=["pods:read"]))[1]),
    "E_INVALID_TOKEN_HASH": ("k8s_gateway", lambda w: (w.with_enclave(), w.chain.mint(w.alice, _node(w), token_hash=b"\x01" * 31))[1]),
    "E_NO_PERMISSIONS": ("k8s_gateway", lambda w: (w.with_enclave(), w.chain.mint(w.bob, w.chain.stake(w.bob, 999), requested=["*:*", "nodes:write"]))[1]),
    "E_NOT_TOKEN_OWNER": ("k8s_gateway", _not_token_owner),
    "E_WRONG_STAKE_RECORD": ("k8s_gateway", lambda w: w.chain.rotate(w.alice, _token(w)[0], _node(w, 100, "worker-2"))),
    "E_NO_ENCLAVE": ("k8s_gateway", lambda w: w.chain.mint(w.alice, _node(w))),
    "E_PCR_MISMATCH": ("nautilus", lambda w: w.chain.register(w.operator, document(w.ca, pcrs={2: b"\x09" * 48}))),
    "E_INVALID_TIER": ("nautilus", lambda w: w.chain.register(w.operator, document(w.ca), tier=3)),
    "E_INVALID_PUBLIC_KEY": ("nautilus", lambda w: w.chain.register(w.operator, document(w.ca, key=b"\x01" * 33))),
    "E_NOT_OPERATOR": ("nautilus", lambda w: w.chain.update_enclave(w.bob, w.with_enclave(), document(w.ca))),
    "E_INVALID_PCR_LENGTH": ("nautilus", lambda w: w.chain.update_pcrs([b"\x01" * 48, b"\x02" * 47, b"\x03" * 48])),
    "E_INVALID_ENDPOINT": ("nautilus", lambda w: w.chain.register(w.operator, document(w.ca), endpoint="")),
    "E_INVALID_ATTESTATION": ("nautilus", lambda w: w.chain.register(w.operator, document(w.ca, key=None))),
}  # fmt: skip


def test_every_abort_code_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(c.ABORT_NAMES.values())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_abort_code(
    name: str, chain: Chain, ca: DevCA, alice: SuiKeyPair, bob: SuiKeyPair,
    operator: SuiKeyPair, tmp_path: Path,
) -> None:  # fmt: skip
    module, scenario = SCENARIOS[name]
    world = World(chain, ca, alice, bob, operator, tmp_path)
    effects = scenario(world)
    assert_abort(effects, module, getattr(c, name))
    assert effects.events == [] and effects.created == []
    if effects.digest:  # a real transaction: only its gas coin changed
        gas = [o.object_id for o in effects.mutated]
        assert len(gas) == 1 and chain.obj(gas[0]).type.endswith("::sui::SUI>")


# ---- more abort paths for the same codes ----------------------------------------------------------


@pytest.mark.parametrize("node", ["", "Worker", "-x", "x-", "a" * 64, "w_1", "wörker", "a.b"])
def test_invalid_node_ids(chain: Chain, alice: SuiKeyPair, node: str) -> None:
    effects = chain.send(alice, chain.stake_ptb(100, node))
    assert_abort(effects, "staking", c.E_INVALID_NODE_ID)
    assert effects.effects.status.abort_function == "stake_for_node"


@pytest.mark.parametrize("node", ["a", "a" * 63, "worker-1", "0-9"])
def test_valid_node_ids(chain: Chain, alice: SuiKeyPair, node: str) -> None:
    assert chain.stake(alice, 100, node)


@pytest.mark.parametrize(("low", "standard", "premium"), [(0, 0, 0), (100, 50, 1000), (10, 20, 15)])
def test_invalid_thresholds(chain: Chain, low: int, standard: int, premium: int) -> None:
    assert_abort(chain.set_thresholds(low, standard, premium), "staking", c.E_INVALID_THRESHOLDS)


def test_gateway_checks_after_slash_and_threshold_change(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair, enclave: str
) -> None:
    record = chain.stake(alice, 150, "worker-1")
    assert_abort(chain.mint(bob, record), "k8s_gateway", c.E_NOT_STAKER)
    token = chain.created(chain.mint(alice, record), "::SealToken")
    assert_abort(chain.rotate(alice, token, record, b"\x02"), "k8s_gateway", c.E_INVALID_TOKEN_HASH)
    assert chain.set_thresholds(200, 1000, 10000).effects.status.success
    assert_abort(chain.mint(alice, record), "k8s_gateway", c.E_INSUFFICIENT_STAKE)
    assert chain.slash(record, 0).effects.status.success
    assert_abort(chain.mint(alice, record), "k8s_gateway", c.E_NOT_ACTIVE)
    assert_abort(chain.rotate(alice, token, record), "k8s_gateway", c.E_NOT_ACTIVE)
    assert_abort(chain.slash(record, 0), "staking", c.E_NOT_ACTIVE)


def test_stake_and_mint_aborts_in_the_staking_module(chain: Chain, alice: SuiKeyPair) -> None:
    effects = chain.send(alice, chain.one_call_ptb(99, "worker-1"))
    assert_abort(effects, "staking", c.E_INSUFFICIENT_STAKE)
    assert effects.effects.status.abort_function == "stake_and_create_worker_seal_token"
    assert_abort(
        chain.send(alice, chain.one_call_ptb(100, "worker-1")), "k8s_gateway", c.E_NO_ENCLAVE
    )


def test_attestation_failures(
    chain: Chain, ca: DevCA, operator: SuiKeyPair, tmp_path: Path
) -> None:
    foreign = create_dev_ca(tmp_path / "foreign")
    assert_abort(chain.register(operator, document(foreign)), "nautilus", c.E_INVALID_ATTESTATION)
    assert_abort(chain.register(operator, b"not a document"), "nautilus", c.E_INVALID_ATTESTATION)
    chain.ledger.now_ms = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp() * 1000)
    expired = chain.register(operator, document(ca))  # the Clock is past the certificates
    assert_abort(expired, "nautilus", c.E_INVALID_ATTESTATION)
    chain.ledger.now_ms = None
    assert_abort(
        chain.register(operator, document(ca), endpoint="x" * 257), "nautilus", c.E_INVALID_ENDPOINT
    )
    assert chain.register(operator, document(ca), endpoint="x" * 256).effects.status.success


def test_pcrs_unset_fail_closed_and_update_pcrs(
    chain: Chain, ca: DevCA, operator: SuiKeyPair
) -> None:
    chain.obj(chain.config).fields.update(pcr0="", pcr1="", pcr2="", version="0")
    assert_abort(chain.register(operator, document(ca, pcrs={})), "nautilus", c.E_PCR_MISMATCH)
    new = [b"\x0a" * 48, b"\x0b" * 48, b"\x0c" * 48]
    effects = chain.update_pcrs(new)
    assert effects.effects.status.success and names(effects) == ["PcrsUpdated"]
    assert effects.events[0].fields == {"version": "1"}
    assert_abort(chain.register(operator, document(ca)), "nautilus", c.E_PCR_MISMATCH)
    registered = chain.register(operator, document(ca, pcrs=dict(enumerate(new))))
    assert registered.effects.status.success
    assert chain.obj(chain.created(registered, "::Enclave")).fields["config_version"] == "1"


# ---- happy flows ----------------------------------------------------------------------------------


def test_full_flow_stake_mint_rotate_revoke_unstake_withdraw(
    chain: Chain, alice: SuiKeyPair, enclave: str
) -> None:
    staked = chain.ok(alice, chain.stake_ptb(1_000, "worker-1"))
    record = chain.created(staked, "::StakeRecord")
    assert isinstance(chain.obj(record).owner, SharedOwner)
    assert staked.events[0].fields == {
        "stake_id": record, "staker": alice.address, "node_id": "worker-1",
        "stake_type": c.STAKE_TYPE_NODE, "amount": "1000",
    }  # fmt: skip
    pool = chain.obj(chain.pool).fields
    assert pool["total_staked"] == "1000" and pool["node_stakes"]["size"] == "1"
    assert chain.ledger.table_get(pool["node_stakes"]["id"], "worker-1") == record

    minted = chain.mint(alice, record)
    token = chain.created(minted, "::SealToken")
    perms = ["pods:read", "services:read", "nodes:write", "pods:write"]
    assert (
        minted.events[0].event_type == f"{chain.executor.package_id}::k8s_gateway::SealTokenCreated"
    )
    assert minted.events[0].fields == {
        "token_id": token, "stake_id": record, "owner": alice.address, "node_id": "worker-1",
        "permissions": perms, "tier": c.TIER_STANDARD, "expires_at": str(c.TOKEN_LIFETIME_EPOCHS),
        "enclave": enclave,
    }  # fmt: skip
    fields = chain.obj(token).fields
    assert chain.obj(token).owner == AddressOwner(alice.address)
    assert (fields["tier"], fields["enclave"], fields["stake_amount"]) == (1, enclave, "1000")

    chain.ledger.current_epoch = 5
    rotated = chain.rotate(alice, token, record)
    assert rotated.events[0].fields == {
        "token_id": token,
        "owner": alice.address,
        "expires_at": str(5 + c.TOKEN_LIFETIME_EPOCHS),
    }
    assert (chain.obj(token).fields["issued_at"], chain.obj(token).fields["token_hash"]) == (
        "5", "CAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAg="
    )  # fmt: skip

    revoked = chain.revoke(alice, token)
    assert revoked.events[0].fields == {"token_id": token, "owner": alice.address}
    assert token in revoked.deleted and token not in chain.ledger.objects

    unstaked = chain.staking(alice, "request_unstake", record)
    assert unstaked.events[0].fields == {
        "stake_id": record, "staker": alice.address, "node_id": "worker-1",
        "unbonding_epoch": str(5 + c.UNBONDING_EPOCHS),
    }  # fmt: skip
    assert chain.ledger.table_get(pool["node_stakes"]["id"], "worker-1") is None
    assert chain.obj(chain.pool).fields["node_stakes"]["size"] == "0"

    chain.ledger.current_epoch = 5 + c.UNBONDING_EPOCHS
    before = chain.balance(alice)
    withdrawn = chain.staking(alice, "withdraw", record)
    payout = [o for o in withdrawn.created if o.type.endswith("::sui::SUI>")]
    assert [coin_value(o) for o in payout] == [1_000]
    assert payout[0].owner == AddressOwner(alice.address)
    assert withdrawn.events[0].fields == {
        "stake_id": record,
        "staker": alice.address,
        "amount": "1000",
    }
    assert chain.balance(alice) == before + 1_000 - withdrawn.effects.gas_used.net
    assert chain.obj(record).fields["status"] == c.STATUS_WITHDRAWN
    assert chain.obj(chain.pool).fields["total_staked"] == "0"


def test_one_call_stake_and_mint(
    chain: Chain, alice: SuiKeyPair, ca: DevCA, operator: SuiKeyPair
) -> None:
    premium_enclave = chain.created(chain.register(operator, document(ca), tier=2), "::Enclave")
    effects = chain.ok(alice, chain.one_call_ptb(10_000, "node-1"))
    assert names(effects) == ["StakeCreated", "SealTokenCreated"]
    token = chain.obj(chain.created(effects, "::SealToken")).fields
    record = chain.created(effects, "::StakeRecord")
    assert token["permissions"][-1] == "*:*" and token["tier"] == c.TIER_PREMIUM
    assert token["enclave"] == premium_enclave and token["stake_record"] == record
    assert (token["stake_amount"], token["node_id"], token["owner"]) == (
        "10000",
        "node-1",
        alice.address,
    )
    assert isinstance(chain.obj(record).owner, SharedOwner)


@pytest.mark.parametrize(("amount", "remaining"), [(400, 600), (0, 0)])
def test_slash_frees_node_id(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair, amount: int, remaining: int
) -> None:
    record = chain.stake(alice, 1_000, "worker-1")
    effects = chain.slash(record, amount)
    assert effects.effects.status.success
    assert effects.events[0].fields == {
        "stake_id": record, "staker": alice.address, "node_id": "worker-1",
        "amount": str(1_000 - remaining), "remaining": str(remaining),
    }  # fmt: skip
    pool = chain.obj(chain.pool).fields
    assert pool["slashed"] == {"value": str(1_000 - remaining)}
    assert pool["total_staked"] == str(remaining)
    assert chain.obj(record).fields["status"] == c.STATUS_SLASHED
    assert chain.obj(record).fields["balance"] == {"value": str(remaining)}
    assert chain.stake(bob, 100, "worker-1")  # the node id is free again


def test_withdrawing_stake_can_be_slashed(chain: Chain, alice: SuiKeyPair) -> None:
    record = chain.stake(alice, 1_000, "worker-1")
    assert chain.staking(alice, "request_unstake", record).effects.status.success
    assert chain.slash(record, 0).effects.status.success
    chain.ledger.current_epoch += c.UNBONDING_EPOCHS  # waiting changes nothing: none is left
    assert_abort(chain.staking(alice, "withdraw", record), "staking", c.E_NOTHING_TO_WITHDRAW)
    assert chain.obj(record).fields["status"] == c.STATUS_SLASHED


@pytest.mark.parametrize("unstake_first", [False, True])
def test_the_remainder_of_a_partial_slash_is_withdrawn_at_once(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair, enclave: str, unstake_first: bool
) -> None:
    record = chain.stake(alice, 1_000, "worker-1")
    token = chain.created(chain.mint(alice, record), "::SealToken")
    if unstake_first:  # slashed during unbonding: the rest is paid before unbonding ends
        assert chain.staking(alice, "request_unstake", record).effects.status.success
    assert chain.slash(record, 400).effects.status.success
    newer = chain.stake(bob, 100, "worker-1")  # the node id was freed by the slash
    assert_abort(chain.staking(bob, "withdraw", record), "staking", c.E_NOT_STAKER)

    before = chain.balance(alice)
    withdrawn = chain.staking(alice, "withdraw", record)  # same epoch: no unbonding wait
    assert withdrawn.effects.status.success
    payout = [o for o in withdrawn.created if o.type.endswith("::sui::SUI>")]
    assert [coin_value(o) for o in payout] == [600]
    assert payout[0].owner == AddressOwner(alice.address)
    assert names(withdrawn) == ["StakeWithdrawn"]
    assert withdrawn.events[0].fields == {
        "stake_id": record, "staker": alice.address, "amount": "600",
    }  # fmt: skip
    assert chain.balance(alice) == before + 600 - withdrawn.effects.gas_used.net
    fields = chain.obj(record).fields
    assert (fields["status"], fields["balance"]) == (c.STATUS_SLASHED, {"value": "0"})
    pool = chain.obj(chain.pool).fields
    assert pool["total_staked"] == "100"  # bob's stake only
    assert pool["slashed"] == {"value": "400"}
    assert chain.ledger.table_get(pool["node_stakes"]["id"], "worker-1") == newer
    assert pool["node_stakes"]["size"] == "1"

    # revoked for good: no token, no rotation, no second slash, no second payout
    assert_abort(chain.mint(alice, record), "k8s_gateway", c.E_NOT_ACTIVE)
    assert_abort(chain.rotate(alice, token, record), "k8s_gateway", c.E_NOT_ACTIVE)
    assert_abort(chain.slash(record, 0), "staking", c.E_NOT_ACTIVE)
    assert_abort(chain.staking(alice, "withdraw", record), "staking", c.E_NOTHING_TO_WITHDRAW)


def test_a_second_withdraw_after_unbonding_is_refused(chain: Chain, alice: SuiKeyPair) -> None:
    record = chain.stake(alice, 500, "worker-1")
    assert chain.staking(alice, "request_unstake", record).effects.status.success
    chain.ledger.current_epoch += c.UNBONDING_EPOCHS
    assert chain.staking(alice, "withdraw", record).effects.status.success
    assert_abort(chain.staking(alice, "withdraw", record), "staking", c.E_NOT_WITHDRAWING)


def test_user_token_is_requested_intersect_allowed(
    chain: Chain, bob: SuiKeyPair, enclave: str
) -> None:
    record = chain.stake(bob, 1_000)
    requested = ["*:*", "pods:write", "pods:read", "pods:write"]
    effects = chain.ok(bob, chain.mint_ptb(record, requested=requested))
    token = chain.created(effects, "::SealToken")
    assert chain.obj(token).fields["permissions"] == ["pods:write", "pods:read"]
    assert chain.obj(token).fields["node_id"] == "" and effects.events[0].fields["node_id"] == ""
    assert chain.set_thresholds(100, 2_000, 10_000).effects.status.success
    assert chain.rotate(
        bob, token, record
    ).effects.status.success  # re-intersected with the new allowance
    assert chain.obj(token).fields["permissions"] == ["pods:read"]


def test_enclave_assignment_by_tier_with_fallback(
    chain: Chain, ca: DevCA, alice: SuiKeyPair, operator: SuiKeyPair
) -> None:
    def register(tier: int) -> str:
        return chain.created(chain.register(operator, document(ca), tier=tier), "::Enclave")

    def assigned(amount: int, node: str) -> str:
        effects = chain.ok(alice, chain.one_call_ptb(amount, node))
        return str(chain.obj(chain.created(effects, "::SealToken")).fields["enclave"])

    basic = register(c.TIER_BASIC)
    assert assigned(10_000, "n1") == basic  # premium falls back to basic
    standard = register(c.TIER_STANDARD)
    assert assigned(10_000, "n2") == standard  # ... to standard first
    assert assigned(100, "n3") == basic  # never upwards
    newer = register(c.TIER_STANDARD)
    assert assigned(1_000, "n4") == newer  # the newest of a tier
    premium = register(c.TIER_PREMIUM)
    assert assigned(10_000, "n5") == premium
    config = chain.obj(chain.config).fields
    assert (config["basic"], config["standard"], config["premium"]) == (
        [basic],
        [standard, newer],
        [premium],
    )


def test_register_and_update_enclave_events(chain: Chain, ca: DevCA, operator: SuiKeyPair) -> None:
    effects = chain.register(operator, document(ca, key=b"\x05" * 32), tier=1, endpoint="https://a")
    enclave = chain.created(effects, "::Enclave")
    key_b64 = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU="
    assert effects.events[0].fields == {
        "enclave_id": enclave, "operator": operator.address, "tier": 1, "endpoint": "https://a",
        "public_key": key_b64,
    }  # fmt: skip
    fields = chain.obj(enclave).fields
    assert int(fields["registered_at_ms"]) > 0 and fields["config_version"] == "1"
    updated = chain.update_enclave(
        operator, enclave, document(ca, key=b"\x06" * 32), endpoint="https://b"
    )
    assert updated.effects.status.success and names(updated) == ["EnclaveUpdated"]
    assert chain.obj(enclave).fields["endpoint"] == "https://b"
    assert updated.events[0].fields["public_key"] == "BgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGBgY="


@pytest.mark.parametrize(
    ("amount", "perms", "tier"),
    [
        (99, [], 0),
        (100, ["pods:read", "services:read"], 0),
        (1_000, ["pods:read", "services:read", "nodes:write", "pods:write"], 1),
        (10_000, ["pods:read", "services:read", "nodes:write", "pods:write", "*:*"], 2),
    ],
)
def test_calculate_permissions_and_tier_for(
    chain: Chain, amount: int, perms: list[str], tier: int
) -> None:
    pool = chain.obj(chain.pool)
    rt = _Runtime(sender="0x0")
    assert k8s_gateway.calculate_permissions(rt, pool, amount) == [perms]
    assert k8s_gateway.tier_for(rt, pool, amount) == [tier]


# ---- layouts and signatures ---------------------------------------------------------------------


def test_bcs_follows_the_struct_layout(chain: Chain, alice: SuiKeyPair) -> None:
    record = chain.obj(chain.stake(alice, 1_000, "w"))
    raw = record.bcs()
    assert raw[:32] == bytes.fromhex(record.object_id[2:])
    assert raw[32:64] == bytes.fromhex(chain.pool[2:]) and raw[64:96] == bytes.fromhex(
        alice.address[2:]
    )
    assert raw[96:98] == b"\x01w" and raw[98] == c.STAKE_TYPE_NODE
    assert raw[99:107] == (1_000).to_bytes(8, "little") == raw[107:115]
    assert len(raw) == 115 + 1 + 8 + 8
    coin = next(o for o in chain.ledger.objects.values() if o.type.endswith("::sui::SUI>"))
    assert coin.bcs() == bytes.fromhex(coin.object_id[2:]) + coin_value(coin).to_bytes(8, "little")
    event = struct_bcs("0x1::nautilus::PcrsUpdated", {"version": "7"})
    assert event == (7).to_bytes(8, "little")


def _move_public_functions() -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for path in CONTRACTS.glob("*.move"):
        text = re.sub(r"#\[test_only\]\s*public fun \w+", "", path.read_text())
        for name, params in re.findall(r"public fun (\w+)\s*(?:<[^>]*>)?\(([^)]*)\)", text, re.S):
            count = len([p for p in params.split(",") if p.strip()])
            found[(path.stem, name)] = count
    return found


def test_functions_table_covers_every_public_move_function() -> None:
    move = _move_public_functions()
    assert len(move) > 40
    for key, count in move.items():
        assert key in FUNCTIONS, key
        assert len(FUNCTIONS[key].parameters) == count, key
    assert set(FUNCTIONS) == set(move)


def test_every_object_type_has_a_layout(chain: Chain) -> None:
    for obj in chain.ledger.objects.values():
        assert not obj.bcs().startswith(b"{"), obj.type
    _ = StoredObject
