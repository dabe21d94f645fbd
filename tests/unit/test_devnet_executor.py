"""The devnet executor: what a validator rejects before running anything (signatures, sender,
gas, versions, input kinds), PTB commands (coins, transfers, results, vectors, framework
calls), atomic failure, version rules and gas accounting. Package semantics:
test_devnet_package.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from pysui.sui.sui_bcs import bcs

from k3s_daas.attestation import DevCA
from k3s_daas.chain import SuiKeyPair, transaction_digest
from k3s_daas.devnet.errors import ExecutionFailure, InvalidTransaction
from k3s_daas.devnet.executor import COMPUTATION_UNITS_PER_COMMAND, decode_pure, storage_cost
from k3s_daas.devnet.ids import CLOCK, REFERENCE_GAS_PRICE
from k3s_daas.devnet.objects import AddressOwner, ImmutableOwner, SharedOwner
from k3s_daas.devnet.package import coin_value
from k3s_daas.seal import constants as c
from k3s_daas.seal.sui import derive_object_id
from tests.unit.test_devnet_executor_support import (
    BUDGET,
    GAS,
    Chain,
    Ptb,
    addr,
    alice,
    assert_abort,
    assert_failure,
    bob,
    ca,
    chain,
    document,
    enclave,
    nested,
    operator,
    strings,
    u64,
    vec,
)

__all__ = ["alice", "bob", "ca", "chain", "enclave", "operator"]  # fixtures used here
SUI = "0x2::sui::SUI"


def rejected(chain: Chain, key: SuiKeyPair, tx: bytes, reason: str, signer: Any = None) -> None:
    before = {k: v.copy() for k, v in chain.ledger.objects.items()}
    with pytest.raises(InvalidTransaction) as info:
        chain.execute(key, tx, signer)
    assert info.value.reason == reason, info.value
    assert chain.ledger.objects == before


def split_to(chain: Chain, recipient: str, amounts: list[int]) -> Ptb:
    ptb = Ptb(chain)
    ptb.split(GAS, amounts)
    ptb.transfer([nested(0, i) for i in range(len(amounts))], recipient)
    return ptb


# ---- rejected before execution -------------------------------------------------------------------


def test_signatures(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair) -> None:
    tx = chain.tx_bytes(alice, split_to(chain, bob.address, [5]))
    rejected(chain, alice, tx, "signer_not_sender", signer=bob)
    bad = bytearray(alice.sign_transaction(tx))
    bad[5] ^= 1
    with pytest.raises(InvalidTransaction) as info:
        chain.executor.execute(tx, [bytes(bad)], chain.ledger)
    assert info.value.reason == "bad_signature"
    with pytest.raises(InvalidTransaction) as info:
        chain.executor.execute(tx, [], chain.ledger)
    assert info.value.reason == "bad_signature"
    with pytest.raises(InvalidTransaction) as info:  # a second, foreign signature
        chain.executor.execute(
            tx, [alice.sign_transaction(tx), bob.sign_transaction(tx)], chain.ledger
        )
    assert info.value.reason == "signer_not_sender"
    garbage = b"\x00garbage"
    with pytest.raises(InvalidTransaction) as info:
        chain.executor.execute(garbage, [alice.sign_transaction(garbage)], chain.ledger)
    assert info.value.reason == "bad_bcs"


def test_stale_versions_exactly_one_spend_wins(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair
) -> None:
    gas = chain.coins(alice)[:1]
    first = chain.tx_bytes(alice, split_to(chain, bob.address, [1]), gas=gas)
    second = chain.tx_bytes(alice, split_to(chain, bob.address, [2]), gas=gas)
    assert chain.execute(alice, first).effects.status.success
    rejected(chain, alice, second, "stale_object")
    cap = chain.obj(chain.cap)  # an owned input (not gas): as on Sui, an older version or a
    # wrong digest is stale, a version the object has not reached yet is "not found"
    for ref, reason in (
        (chain.ref(cap, cap.version - 1), "stale_object"),
        (bcs.ObjectReference(bcs.Address.from_str(cap.object_id), cap.version,
                             bcs.Digest.from_str(chain.obj(chain.pool).digest())), "stale_object"),
        (chain.ref(cap, cap.version + 1), "object_not_found"),
    ):  # fmt: skip
        ptb = Ptb(chain)
        ptb.inputs.append(bcs.CallArg("Object", bcs.ObjectArg("ImmOrOwnedObject", ref)))
        ptb.call("staking", "set_thresholds", [bcs.Argument("Input", 0), ptb.obj(chain.pool),
                 ptb.pure(u64(1)), ptb.pure(u64(2)), ptb.pure(u64(3))])  # fmt: skip
        rejected(chain, chain.admin, chain.tx_bytes(chain.admin, ptb), reason)


def test_stale_reference_carries_suis_text(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair
) -> None:
    """The message is Sui's UserInputError text: clients match "is not available for
    consumption" to rebuild, and versions are hex as Sui's SequenceNumber prints them."""
    gas = chain.coins(alice)[:1]
    coin = gas[0]
    chain.execute(alice, chain.tx_bytes(alice, split_to(chain, bob.address, [1]), gas=gas))
    with pytest.raises(InvalidTransaction) as info:
        chain.execute(alice, chain.tx_bytes(alice, split_to(chain, bob.address, [2]), gas=gas))
    current = chain.obj(coin.object_id).version
    assert info.value.message == (
        f"Object ID {coin.object_id} Version {coin.version:#x} Digest {coin.digest()} "
        f"is not available for consumption, current version: {current:#x}"
    )


def test_gas_checks(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair) -> None:
    ptb = split_to(chain, bob.address, [1])
    rejected(chain, alice, chain.tx_bytes(alice, ptb, gas=chain.coins(bob)[:1]), "not_owner")
    poor = SuiKeyPair.generate()
    chain.fund(poor, 1_000)
    rejected(
        chain, poor, chain.tx_bytes(poor, split_to(chain, bob.address, [1])), "insufficient_gas"
    )
    rejected(
        chain, alice, chain.tx_bytes(alice, ptb, price=REFERENCE_GAS_PRICE - 1), "insufficient_gas"
    )
    rejected(chain, alice, chain.tx_bytes(alice, ptb, gas=[chain.obj(chain.pool)]), "bad_argument")
    low = chain.send(alice, split_to(chain, bob.address, [1]), budget=10)
    assert_failure(low, "InsufficientGas")
    assert low.effects.gas_used.computation == 10  # the whole (tiny) budget is charged


def test_input_kinds(chain: Chain, alice: SuiKeyPair) -> None:
    ptb = Ptb(chain)
    ptb.inputs.append(
        bcs.CallArg("UnresolvedObject", bcs.UnresolvedObjectArg(chain.pool, False, False, 0, ""))
    )
    ptb.call("staking", "min_stake", [bcs.Argument("Input", 0)])
    with pytest.raises(InvalidTransaction) as info:
        chain.send(alice, ptb)
    assert info.value.reason in ("bad_argument", "bad_bcs")
    clock = Ptb(chain)
    clock.call("clock", "timestamp_ms", [clock.obj(CLOCK, True)], package="0x2")
    rejected(chain, alice, chain.tx_bytes(alice, clock), "bad_argument")
    twice = Ptb(chain)
    twice.call("staking", "min_stake", [twice.obj(chain.pool, False)])
    twice.call("staking", "min_stake", [twice.obj(chain.pool, False)])
    rejected(chain, alice, chain.tx_bytes(alice, twice), "bad_argument")
    missing = Ptb(chain)
    missing.inputs.append(bcs.CallArg("Object", bcs.ObjectArg("SharedObject", bcs.SharedObjectReference(
        bcs.Address.from_str("0x" + "ab" * 32), 1, False))))  # fmt: skip
    missing.call("staking", "min_stake", [bcs.Argument("Input", 0)])
    rejected(chain, alice, chain.tx_bytes(alice, missing), "object_not_found")


def test_publish_is_unsupported(chain: Chain, alice: SuiKeyPair) -> None:
    ptb = Ptb(chain)
    ptb.commands.append(bcs.Command("Publish", bcs.Publish([[1, 2, 3]], [])))
    rejected(chain, alice, chain.tx_bytes(alice, ptb), "unsupported_command")


# ---- coins ---------------------------------------------------------------------------------------


def test_split_transfer_and_gas_accounting(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair
) -> None:
    gas = chain.coins(alice)[0]
    start = coin_value(gas)
    effects = chain.ok(alice, split_to(chain, bob.address, [7, 8]))
    received = sorted(coin_value(o) for o in effects.created)
    assert received == [7, 8] and all(o.owner == AddressOwner(bob.address) for o in effects.created)
    assert [o.object_id for o in effects.created] == [
        derive_object_id(effects.digest, i) for i in range(2)
    ]
    cost = effects.effects.gas_used
    assert cost.computation == REFERENCE_GAS_PRICE * COMPUTATION_UNITS_PER_COMMAND * 2
    assert cost.storage == sum(storage_cost(o) for o in [*effects.created, *effects.mutated])
    assert cost.rebate == storage_cost(gas)
    assert coin_value(chain.obj(gas.object_id)) == start - 15 - cost.net
    assert effects.effects.lamport_version == gas.version + 1 == chain.obj(gas.object_id).version


def test_merge_and_several_gas_coins(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair) -> None:
    extra = [chain.obj(chain.fund(alice, 1_000_000_000)) for _ in range(2)]
    total = chain.balance(alice)
    effects = chain.ok(
        alice, split_to(chain, bob.address, [1]), gas=[*chain.coins(alice)[:1], *extra]
    )
    assert sorted(effects.deleted) == sorted(o.object_id for o in extra)
    assert chain.balance(alice) == total - 1 - effects.effects.gas_used.net
    two = chain.fund(alice, 500)
    ptb = Ptb(chain)
    ptb.merge(ptb.obj(two), [GAS])  # the gas coin cannot be merged away
    assert_failure(chain.send(alice, ptb), "CommandArgumentError")
    ptb = Ptb(chain)
    ptb.merge(GAS, [ptb.obj(two)])
    merged = chain.ok(alice, ptb)
    assert two in merged.deleted and two not in chain.ledger.objects


def test_coin_rules(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair) -> None:
    unused = Ptb(chain)
    unused.split(GAS, [5])
    assert_failure(chain.send(alice, unused), "UnusedValueWithoutDrop")
    gas = chain.coins(alice)[0]
    too_much = split_to(
        chain, bob.address, [coin_value(gas) - BUDGET + 1]
    )  # the budget is set aside
    assert_failure(chain.send(alice, too_much), "InsufficientCoinBalance")
    gas = chain.coins(alice)[0]
    everything = Ptb(chain)
    everything.transfer([GAS], bob.address)  # the whole gas coin, after gas is charged
    moved = chain.ok(alice, everything)
    assert chain.obj(gas.object_id).owner == AddressOwner(bob.address)
    assert coin_value(chain.obj(gas.object_id)) == coin_value(gas) - moved.effects.gas_used.net


def test_framework_coin_functions(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair) -> None:
    ptb = Ptb(chain)
    coin = ptb.call("coin", "split", [GAS, ptb.pure(u64(40))], package="0x2", type_args=[SUI])
    part = ptb.call("coin", "split", [coin, ptb.pure(u64(15))], package="0x2", type_args=[SUI])
    ptb.call("coin", "value", [part], package="0x2", type_args=[SUI])
    ptb.call("coin", "join", [coin, part], package="0x2", type_args=[SUI])
    zero = ptb.call("coin", "zero", [], package="0x2", type_args=[SUI])
    ptb.call("coin", "destroy_zero", [zero], package="0x2", type_args=[SUI])
    ptb.call("transfer", "public_transfer", [coin, ptb.pure(addr(bob.address))], package="0x2",
             type_args=[f"0x2::coin::Coin<{SUI}>"])  # fmt: skip
    effects = chain.ok(alice, ptb)
    assert [coin_value(o) for o in effects.created] == [40]
    assert effects.created[0].owner == AddressOwner(bob.address)
    equal = Ptb(chain)
    equal.call("pay", "divide_and_keep", [equal.obj(chain.fund(alice, 90)), equal.pure(u64(3))],
               package="0x2", type_args=[SUI])  # fmt: skip
    assert sorted(coin_value(o) for o in chain.ok(alice, equal).created) == [30, 30]
    nonzero = Ptb(chain)
    nonzero.call("coin", "destroy_zero", [nonzero.split(GAS, [1])], package="0x2", type_args=[SUI])
    assert_abort(chain.send(alice, nonzero), "balance", 0)
    wrong = Ptb(chain)
    wrong.call("coin", "value", [GAS], package="0x2", type_args=["0x2::sui::NOT"])
    assert_failure(chain.send(alice, wrong), "TypeMismatch")
    unknown = Ptb(chain)
    unknown.call("coin", "mint", [GAS], package="0x2", type_args=[SUI])
    assert_failure(chain.send(alice, unknown), "FunctionNotFound")


def test_transfer_needs_store(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair, enclave: str
) -> None:
    token = chain.created(chain.mint(alice, chain.stake(alice, 100, "w")), "::SealToken")
    ptb = Ptb(chain)
    ptb.transfer([ptb.obj(token)], bob.address)
    assert_failure(chain.send(alice, ptb), "InvalidTransferObject")
    shared = Ptb(chain)
    shared.transfer([shared.obj(chain.pool)], bob.address)
    assert_failure(chain.send(alice, shared), "InvalidTransferObject")
    cap = Ptb(chain)
    cap.transfer([cap.obj(chain.cap)], bob.address)  # AdminCap has `store`
    chain.ok(chain.admin, cap)
    assert chain.obj(chain.cap).owner == AddressOwner(bob.address)


# ---- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "data"),
    [("u64", b"\x01" * 7), ("u8", b""), ("bool", b"\x02"), ("address", b"\x00" * 31),
     ("string", b"\x05ab"), ("string", b"\x02\xff\xfe"), ("vector<u8>", b"\x01ab"),
     ("vector<string>", b"\x01\x01a\x00"), ("u64", b"\x01" * 9)],
)  # fmt: skip
def test_bad_pure_arguments_fail_cleanly(kind: str, data: bytes) -> None:
    with pytest.raises(ExecutionFailure):
        decode_pure(kind, data)


def test_pure_argument_errors_are_failed_effects(chain: Chain, alice: SuiKeyPair) -> None:
    ptb = Ptb(chain)
    coin = ptb.split(GAS, [100])
    ptb.call("staking", "stake_for_node", [ptb.obj(chain.pool), coin, ptb.pure(vec(b"\xff\xfe"))])
    effects = chain.send(alice, ptb)
    assert_failure(effects, "CommandArgumentError")
    assert effects.effects.status.command_index == 1 and "UTF-8" in (
        effects.effects.status.error or ""
    )
    short = Ptb(chain)
    short.call("staking", "set_thresholds", [short.obj(chain.cap), short.obj(chain.pool),
               short.pure(b"\x01"), short.pure(u64(2)), short.pure(u64(3))])  # fmt: skip
    assert_failure(chain.send(chain.admin, short), "CommandArgumentError")
    arity = Ptb(chain)
    arity.call("staking", "min_stake", [arity.obj(chain.pool, False), arity.pure(u64(1))])
    assert_failure(chain.send(alice, arity), "ArityMismatch")
    wrong = Ptb(chain)
    wrong.call("staking", "min_stake", [wrong.obj(chain.config, False)])
    assert_failure(chain.send(alice, wrong), "TypeMismatch")


def test_immutable_shared_input_cannot_be_mutated(chain: Chain, alice: SuiKeyPair) -> None:
    ptb = Ptb(chain)
    coin = ptb.split(GAS, [100])
    ptb.call("staking", "stake_for_user", [ptb.obj(chain.pool, False), coin])
    effects = chain.send(alice, ptb)
    assert_failure(effects, "CommandArgumentError")
    assert "not mutable" in (effects.effects.status.error or "")


def test_make_move_vec_of_strings(chain: Chain, bob: SuiKeyPair, enclave: str) -> None:
    record = chain.stake(bob, 1_000)
    ptb = chain.mint_ptb(record, requested=[])
    ptb.inputs.pop()  # replace the pure vector by MakeMoveVec<String>
    call = ptb.commands.pop().value
    items = [ptb.pure(vec(b"pods:read")), ptb.pure(vec(b"*:*"))]
    perms = ptb.make_vec("0x1::string::String", items)
    ptb.call("k8s_gateway", "create_user_seal_token", [*call.Arguments[:4], perms])
    effects = chain.ok(bob, ptb)
    assert chain.obj(chain.created(effects, "::SealToken")).fields["permissions"] == ["pods:read"]
    assert strings(["a"]) == b"\x01\x01a"


def test_document_is_moved_once(chain: Chain, ca: DevCA, operator: SuiKeyPair) -> None:
    ptb = Ptb(chain)
    doc = ptb.call("nitro_attestation", "load_nitro_attestation",
                   [ptb.pure(vec(document(ca))), ptb.obj(CLOCK, False)], package="0x2")  # fmt: skip
    for _ in range(2):
        ptb.call("nautilus", "register_enclave",
                 [ptb.obj(chain.config) if not ptb.commands[1:] else bcs.Argument("Input", 2), doc,
                  ptb.pure(vec(b"https://m")), ptb.pure(b"\x00")])  # fmt: skip
    effects = chain.send(operator, ptb)
    assert_failure(effects, "TypeMismatch")
    assert effects.effects.status.command_index == 2


def test_results_flow_between_commands(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair) -> None:
    ptb = Ptb(chain)
    value = ptb.call("staking", "min_stake", [ptb.obj(chain.pool, False)])  # u64 result
    ptb.split(GAS, [])  # no-op split keeps indexes honest
    coin = ptb._add(bcs.Command("SplitCoin", bcs.SplitCoin(GAS, [value])))
    ptb.transfer([coin], bob.address)
    effects = chain.ok(alice, ptb)
    assert [coin_value(o) for o in effects.created] == [c.MIN_STAKE]


# ---- atomicity and versions --------------------------------------------------------------------


def test_failed_transaction_changes_only_gas(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair
) -> None:
    before = {k: v.copy() for k, v in chain.ledger.objects.items()}
    tables = dict(chain.ledger.tables)
    ptb = Ptb(chain)  # a transfer that succeeds, then a stake that aborts
    ptb.transfer([ptb.split(GAS, [5])], bob.address)
    coin = ptb.split(GAS, [99])
    ptb.call("staking", "stake_for_node", [ptb.obj(chain.pool), coin, ptb.pure(vec(b"worker-1"))])
    effects = chain.send(alice, ptb)
    assert_abort(effects, "staking", c.E_INSUFFICIENT_STAKE)
    assert (
        effects.effects.status.command_index == 3
        and effects.effects.status.abort_function == "stake_for_node"
    )
    assert effects.effects.status.abort_package == chain.executor.package_id
    assert effects.events == [] and effects.created == [] and effects.table_changes == []
    gas = chain.coins(alice)[0].object_id
    assert [o.object_id for o in effects.mutated] == [gas]
    changed = {k for k, v in chain.ledger.objects.items() if k not in before or v != before[k]}
    assert changed == {gas} and chain.ledger.tables == tables
    charged = REFERENCE_GAS_PRICE * COMPUTATION_UNITS_PER_COMMAND * 4
    assert effects.effects.gas_used.computation == charged
    assert coin_value(chain.obj(gas)) == coin_value(before[gas]) - charged
    assert chain.obj(gas).version == before[gas].version + 1


def test_versions_are_lamport(chain: Chain, alice: SuiKeyPair, enclave: str) -> None:
    record = chain.stake(alice, 100, "w")
    pool_before = chain.obj(chain.pool).version
    config_before = chain.obj(chain.config)
    effects = chain.mint(alice, record)
    lamport = effects.effects.lamport_version
    assert lamport == max(pool_before, config_before.version, chain.obj(record).version) + 1
    assert all(o.version == lamport for o in [*effects.created, *effects.mutated])
    assert chain.obj(chain.pool).version == pool_before  # passed immutably: not written
    assert chain.obj(chain.config) == config_before
    staked = chain.ok(alice, chain.stake_ptb(100, "v"))
    new_record = chain.obj(chain.created(staked, "::StakeRecord"))
    assert isinstance(new_record.owner, SharedOwner)
    assert new_record.owner.initial_shared_version == staked.effects.lamport_version
    assert chain.obj(chain.pool).version == staked.effects.lamport_version


def test_immutable_owned_objects_are_read_only(chain: Chain, alice: SuiKeyPair) -> None:
    frozen = chain.obj(chain.fund(alice, 10))
    frozen.owner = ImmutableOwner()
    ptb = Ptb(chain)
    ptb.call("coin", "value", [ptb.obj(frozen.object_id)], package="0x2", type_args=[SUI])
    effects = chain.ok(alice, ptb)
    assert frozen.object_id not in [o.object_id for o in effects.mutated]
    ptb = Ptb(chain)
    ptb.transfer([ptb.obj(frozen.object_id)], alice.address)
    assert_failure(chain.send(alice, ptb), "InvalidTransferObject")


# ---- simulate and digests ------------------------------------------------------------------------


def test_simulate_checks_no_signature_and_writes_nothing(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair
) -> None:
    tx = chain.tx_bytes(alice, split_to(chain, bob.address, [5]))
    before = {k: v.copy() for k, v in chain.ledger.objects.items()}
    effects = chain.executor.simulate(bcs.TransactionData.deserialize(tx), chain.ledger)
    assert effects.effects.status.success and effects.digest == transaction_digest(tx)
    assert chain.ledger.objects == before
    executed = chain.execute(alice, tx)
    assert executed.digest == transaction_digest(tx) == effects.digest
    assert [coin_value(o) for o in executed.created] == [5]


def test_clock_is_the_ledger_time(chain: Chain, alice: SuiKeyPair) -> None:
    chain.ledger.now_ms = 1_234_567
    ptb = Ptb(chain)
    stamp = ptb.call("clock", "timestamp_ms", [ptb.obj(CLOCK, False)], package="0x2")
    ptb.transfer([ptb._add(bcs.Command("SplitCoin", bcs.SplitCoin(GAS, [stamp])))], alice.address)
    effects = chain.ok(alice, ptb)
    assert [coin_value(o) for o in effects.created] == [1_234_567]
    assert CLOCK not in [o.object_id for o in effects.mutated]
