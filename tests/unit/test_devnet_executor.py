"""The devnet executor and native package: every abort path by code, and the validator checks.

Transactions are real BCS (pysui's types) signed with real keys; the ledger is an in-memory
`LedgerView` (the SQLite one is exercised by tests/integration/test_devnet_*).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pysui.sui.sui_bcs import bcs

from k3s_daas.attestation import (
    AttestationDocument,
    create_dev_ca,
    issue_enclave_leaf,
    sign_document,
)
from k3s_daas.chain.keys import SuiKeyPair, transaction_digest, uleb128
from k3s_daas.devnet.executor import Executor
from k3s_daas.devnet.ids import CLOCK, PACKAGE_ID, REFERENCE_GAS_PRICE
from k3s_daas.devnet.objects import (
    AddressOwner,
    Effects,
    InvalidTransaction,
    SharedOwner,
    StoredObject,
)
from k3s_daas.devnet.package import PackageIds, coin_object, coin_value, genesis_objects
from k3s_daas.seal import constants as c

PCRS = {0: b"\x01" * 48, 1: b"\x02" * 48, 2: b"\x03" * 48}
BUDGET = 50_000_000


@dataclass
class Memory:
    """An in-memory LedgerView that applies effects like the SQLite ledger does."""

    objects: dict[str, StoredObject] = field(default_factory=dict)
    tables: dict[tuple[str, str], str] = field(default_factory=dict)
    current_epoch: int = 0

    def get_object(self, object_id: str) -> StoredObject | None:
        obj = self.objects.get(object_id)
        return None if obj is None else obj.copy()

    def epoch(self) -> int:
        return self.current_epoch

    def timestamp_ms(self) -> int:
        return int(datetime.now(UTC).timestamp() * 1000)

    def reference_gas_price(self) -> int:
        return REFERENCE_GAS_PRICE

    def table_get(self, table_id: str, key: str) -> str | None:
        return self.tables.get((table_id, key))

    def apply(self, effects: Effects) -> None:
        for obj in [*effects.created, *effects.mutated]:
            self.objects[obj.object_id] = obj.copy()
        for object_id in effects.deleted:
            self.objects.pop(object_id, None)
        for change in effects.table_changes:
            if change.value is None:
                self.tables.pop((change.table_id, change.key), None)
            else:
                self.tables[(change.table_id, change.key)] = change.value


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def vec(data: bytes) -> bytes:
    return uleb128(len(data)) + data


def strings(items: list[str]) -> bytes:
    return uleb128(len(items)) + b"".join(vec(s.encode()) for s in items)


class Chain:
    """Builds, signs and runs transactions against `Memory` with the executor."""

    def __init__(self, root: Any) -> None:
        self.ledger = Memory()
        self.admin = SuiKeyPair.generate()
        self.executor = Executor(PackageIds(PACKAGE_ID, CLOCK), root)
        for obj in genesis_objects(PackageIds(PACKAGE_ID, CLOCK), self.admin.address, PCRS):
            self.ledger.objects[obj.object_id] = obj
        self.ids = {o.type.rsplit("::", 1)[-1]: o.object_id for o in self.ledger.objects.values()}
        self.counter = 0

    def fund(self, key: SuiKeyPair, amount: int = 10**12) -> str:
        self.counter += 1
        object_id = "0x" + hashlib.sha256(f"coin{self.counter}".encode()).hexdigest()
        self.ledger.objects[object_id] = coin_object(object_id, key.address, amount, 1, "genesis")
        return object_id

    def gas(self, key: SuiKeyPair) -> StoredObject:
        coins = [
            o for o in self.ledger.objects.values()
            if o.owner == AddressOwner(key.address) and o.type.endswith("::sui::SUI>")
        ]  # fmt: skip
        return max(coins, key=coin_value)

    def obj_arg(self, object_id: str, mutable: bool = True) -> bcs.CallArg:
        obj = self.ledger.objects[object_id]
        if isinstance(obj.owner, SharedOwner):
            ref = bcs.SharedObjectReference(
                bcs.Address.from_str(object_id), obj.owner.initial_shared_version, mutable
            )
            return bcs.CallArg("Object", bcs.ObjectArg("SharedObject", ref))
        ref = bcs.ObjectReference(
            bcs.Address.from_str(object_id), obj.version, bcs.Digest.from_str(obj.digest())
        )
        return bcs.CallArg("Object", bcs.ObjectArg("ImmOrOwnedObject", ref))

    def build(
        self, key: SuiKeyPair, module: str, function: str, args: list[Any], *,
        split: int | None = None, package: str = PACKAGE_ID, budget: int = BUDGET,
        gas: StoredObject | None = None, prefix: list[tuple[str, str, str, list[Any]]] = (),  # type: ignore[assignment]
    ) -> bytes:  # fmt: skip
        """One MoveCall; `split` first splits a coin off gas and passes it where an arg is "COIN";
        "RESULT0" passes the first command's result; bytes are pure, str ids are objects."""
        inputs: list[bcs.CallArg] = []
        commands: list[bcs.Command] = []

        def add(value: Any) -> bcs.Argument:
            if value == "COIN":
                return bcs.Argument("NestedResult", (0, 0))
            if value == "RESULT0":
                return bcs.Argument("Result", len(commands) - 1)
            if isinstance(value, tuple):  # (object id, mutable)
                inputs.append(self.obj_arg(value[0], value[1]))
            elif isinstance(value, bytes):
                inputs.append(bcs.CallArg("Pure", list(value)))
            else:
                inputs.append(self.obj_arg(value))
            return bcs.Argument("Input", len(inputs) - 1)

        if split is not None:
            commands.append(
                bcs.Command("SplitCoin", bcs.SplitCoin(bcs.Argument("GasCoin"), [add(u64(split))]))
            )
        for pkg, mod, fn, pargs in prefix:
            call_args = [add(a) for a in pargs]
            commands.append(bcs.Command("MoveCall", bcs.ProgrammableMoveCall(
                bcs.Address.from_str(pkg), mod, fn, [], call_args)))  # fmt: skip
        call_args = [add(a) for a in args]
        commands.append(
            bcs.Command(
                "MoveCall",
                bcs.ProgrammableMoveCall(
                    bcs.Address.from_str(package), module, function, [], call_args
                ),
            )
        )
        coin = gas or self.gas(key)
        data = bcs.TransactionData(
            "V1",
            bcs.TransactionDataV1(
                bcs.TransactionKind(
                    "ProgrammableTransaction", bcs.ProgrammableTransaction(inputs, commands)
                ),
                bcs.Address.from_str(key.address),
                bcs.GasData(
                    [
                        bcs.ObjectReference(
                            bcs.Address.from_str(coin.object_id),
                            coin.version,
                            bcs.Digest.from_str(coin.digest()),
                        )
                    ],
                    bcs.Address.from_str(key.address),
                    REFERENCE_GAS_PRICE,
                    budget,
                ),
                bcs.TransactionExpiration("None"),
            ),
        )
        return bytes(data.serialize())

    def run(
        self, key: SuiKeyPair, *args: Any, signer: SuiKeyPair | None = None, **kw: Any
    ) -> Effects:
        tx = self.build(key, *args, **kw)
        effects = self.executor.execute(tx, [(signer or key).sign_transaction(tx)], self.ledger)
        self.ledger.apply(effects)
        return effects

    def ok(self, key: SuiKeyPair, *args: Any, **kw: Any) -> Effects:
        effects = self.run(key, *args, **kw)
        assert effects.status.success, effects.status.error
        return effects

    def created(self, effects: Effects, suffix: str) -> str:
        return next(o.object_id for o in effects.created if o.type.endswith(suffix))

    # -- shortcuts --
    def stake(self, key: SuiKeyPair, amount: int, node: str) -> str:
        e = self.ok(
            key,
            "staking",
            "stake_for_node",
            [self.ids["StakingPool"], "COIN", vec(node.encode())],
            split=amount,
        )
        return self.created(e, "::StakeRecord")

    def stake_user(self, key: SuiKeyPair, amount: int) -> str:
        e = self.ok(
            key, "staking", "stake_for_user", [self.ids["StakingPool"], "COIN"], split=amount
        )
        return self.created(e, "::StakeRecord")

    def mint(self, key: SuiKeyPair, record: str) -> Effects:
        return self.run(key, "k8s_gateway", "create_worker_seal_token",
                        [(self.ids["StakingPool"], False), (self.ids["EnclaveConfig"], False), (record, False), vec(b"\x07" * 32)])  # fmt: skip

    def register(
        self, key: SuiKeyPair, document: bytes, tier: int = 0, endpoint: bytes = b"https://m"
    ) -> Effects:
        return self.run(
            key, "nautilus", "register_enclave",
            [self.ids["EnclaveConfig"], "RESULT0", vec(endpoint), bytes([tier])],
            prefix=[("0x2", "nitro_attestation", "load_nitro_attestation", [vec(document), (CLOCK, False)])],
        )  # fmt: skip


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return create_dev_ca(tmp_path_factory.mktemp("ca"))


def document(ca: Any, *, pcrs: dict[int, bytes] = PCRS, key: bytes | None = b"\x09" * 32) -> bytes:
    leaf = issue_enclave_leaf(ca)
    doc = AttestationDocument(
        module_id="test", timestamp_ms=int(datetime.now(UTC).timestamp() * 1000),
        pcrs={**{i: bytes(48) for i in range(16)}, **pcrs}, certificate=leaf.certificate_der,
        cabundle=leaf.cabundle, public_key=key,
    )  # fmt: skip
    return sign_document(doc, leaf.key)


@pytest.fixture
def chain(ca: Any) -> Chain:
    return Chain(ca.root)


@pytest.fixture
def alice(chain: Chain) -> SuiKeyPair:
    key = SuiKeyPair.generate()
    chain.fund(key)
    return key


@pytest.fixture
def bob(chain: Chain) -> SuiKeyPair:
    key = SuiKeyPair.generate()
    chain.fund(key)
    return key


@pytest.fixture
def enclave(chain: Chain, ca: Any) -> str:
    operator = SuiKeyPair.generate()
    chain.fund(operator)
    effects = chain.register(operator, document(ca))
    assert effects.status.success, effects.status.error
    return chain.created(effects, "::Enclave")


def assert_abort(effects: Effects, module: str, code: int) -> None:
    assert not effects.status.success
    assert (effects.status.abort_module, effects.status.abort_code) == (module, code), (
        effects.status
    )


# ---- happy paths --------------------------------------------------------------------------


def test_full_flow_stake_mint_rotate_revoke_unstake_withdraw(
    chain: Chain, alice: SuiKeyPair, enclave: str
) -> None:
    record = chain.stake(alice, 1_000, "worker-1")
    minted = chain.mint(alice, record)
    assert minted.status.success
    token_id = chain.created(minted, "::SealToken")
    token = chain.ledger.objects[token_id]
    assert token.owner == AddressOwner(alice.address)
    assert token.fields["permissions"] == [
        "pods:read",
        "services:read",
        "nodes:write",
        "pods:write",
    ]
    assert token.fields["tier"] == c.TIER_STANDARD
    assert token.fields["enclave"] == enclave
    assert token.fields["expires_at"] == str(c.TOKEN_LIFETIME_EPOCHS)
    assert [e.event_type.rsplit("::", 1)[1] for e in minted.events] == ["SealTokenCreated"]
    chain.ledger.current_epoch = 5
    rotated = chain.ok(alice, "k8s_gateway", "rotate_seal_token",
                       [token_id, (chain.ids["StakingPool"], False), (record, False), vec(b"\x08" * 32)])  # fmt: skip
    assert chain.ledger.objects[token_id].fields["expires_at"] == str(5 + c.TOKEN_LIFETIME_EPOCHS)
    assert rotated.events[0].fields["token_id"] == token_id
    chain.ok(alice, "k8s_gateway", "revoke_seal_token", [token_id])
    assert token_id not in chain.ledger.objects
    chain.ok(alice, "staking", "request_unstake", [chain.ids["StakingPool"], record])
    assert (
        chain.ledger.table_get(
            chain.ledger.objects[chain.ids["StakingPool"]].fields["node_stakes"]["id"], "worker-1"
        )
        is None
    )
    chain.ledger.current_epoch = 5 + c.UNBONDING_EPOCHS
    withdrawn = chain.ok(alice, "staking", "withdraw", [chain.ids["StakingPool"], record])
    payout = [o for o in withdrawn.created if o.type.endswith("::sui::SUI>")]
    assert [coin_value(o) for o in payout] == [1_000]  # the whole stake comes back as a coin
    assert payout[0].owner == AddressOwner(alice.address)
    assert chain.ledger.objects[record].fields["status"] == c.STATUS_WITHDRAWN


def test_one_call_stake_and_mint(chain: Chain, alice: SuiKeyPair, enclave: str) -> None:
    effects = chain.ok(alice, "k8s_gateway", "stake_and_create_worker_seal_token",
                       [chain.ids["StakingPool"], (chain.ids["EnclaveConfig"], False), "COIN", vec(b"node-1"), vec(b"\x01" * 32)],
                       split=10_000)  # fmt: skip
    names = [e.event_type.rsplit("::", 1)[1] for e in effects.events]
    assert names == ["StakeCreated", "SealTokenCreated"]
    token = chain.ledger.objects[chain.created(effects, "::SealToken")]
    assert "*:*" in token.fields["permissions"]


def test_user_token_is_requested_intersect_allowed(
    chain: Chain, bob: SuiKeyPair, enclave: str
) -> None:
    record = chain.stake_user(bob, 1_000)
    effects = chain.ok(bob, "k8s_gateway", "create_user_seal_token",
                       [(chain.ids["StakingPool"], False), (chain.ids["EnclaveConfig"], False), (record, False),
                        vec(b"\x01" * 32), strings(["*:*", "pods:write", "pods:read", "pods:write"])])  # fmt: skip
    token = chain.ledger.objects[chain.created(effects, "::SealToken")]
    assert token.fields["permissions"] == ["pods:write", "pods:read"]
    assert token.fields["node_id"] == ""


def test_slash_frees_node_and_keeps_remainder(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair
) -> None:
    record = chain.stake(alice, 1_000, "worker-1")
    chain.fund(chain.admin)
    effects = chain.ok(
        chain.admin,
        "staking",
        "slash",
        [(chain.ids["AdminCap"], False), chain.ids["StakingPool"], record, u64(400)],
    )
    assert effects.events[0].fields == {
        "stake_id": record,
        "staker": alice.address,
        "node_id": "worker-1",
        "amount": "400",
        "remaining": "600",
    }
    assert chain.ledger.objects[record].fields["status"] == c.STATUS_SLASHED
    chain.stake(bob, 100, "worker-1")  # the node id is free again


def test_failed_transaction_changes_only_gas(chain: Chain, alice: SuiKeyPair) -> None:
    before = {k: v.copy() for k, v in chain.ledger.objects.items()}
    effects = chain.run(
        alice,
        "staking",
        "stake_for_node",
        [chain.ids["StakingPool"], "COIN", vec(b"worker-1")],
        split=99,
    )
    assert_abort(effects, "staking", c.E_INSUFFICIENT_STAKE)
    assert effects.status.command_index == 1
    changed = {
        k
        for k, v in chain.ledger.objects.items()
        if k not in before or v.fields != before[k].fields
    }
    gas = chain.gas(alice).object_id
    assert changed == {gas}
    assert coin_value(chain.ledger.objects[gas]) < coin_value(before[gas])
    assert effects.events == []


# ---- abort paths, by code -----------------------------------------------------------------


def test_staking_aborts(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair) -> None:
    pool = chain.ids["StakingPool"]
    assert_abort(
        chain.run(alice, "staking", "stake_for_user", [pool, "COIN"], split=99),
        "staking",
        c.E_INSUFFICIENT_STAKE,
    )
    for bad in (b"", b"Worker", b"-x", b"x-", b"a" * 64, b"w_1"):
        assert_abort(
            chain.run(alice, "staking", "stake_for_node", [pool, "COIN", vec(bad)], split=100),
            "staking",
            c.E_INVALID_NODE_ID,
        )
    record = chain.stake(alice, 100, "worker-1")
    assert_abort(
        chain.run(bob, "staking", "stake_for_node", [pool, "COIN", vec(b"worker-1")], split=100),
        "staking",
        c.E_NODE_ALREADY_STAKED,
    )
    assert_abort(
        chain.run(bob, "staking", "request_unstake", [pool, record]), "staking", c.E_NOT_STAKER
    )
    assert_abort(
        chain.run(alice, "staking", "withdraw", [pool, record]), "staking", c.E_NOT_WITHDRAWING
    )
    chain.ok(alice, "staking", "request_unstake", [pool, record])
    assert_abort(
        chain.run(alice, "staking", "request_unstake", [pool, record]), "staking", c.E_NOT_ACTIVE
    )
    assert_abort(chain.run(bob, "staking", "withdraw", [pool, record]), "staking", c.E_NOT_STAKER)
    assert_abort(
        chain.run(alice, "staking", "withdraw", [pool, record]), "staking", c.E_UNBONDING_NOT_OVER
    )
    chain.fund(chain.admin)
    cap = (chain.ids["AdminCap"], False)
    other = chain.stake(bob, 100, "worker-2")
    assert_abort(
        chain.run(chain.admin, "staking", "slash", [cap, pool, other, u64(101)]),
        "staking",
        c.E_SLASH_TOO_LARGE,
    )
    chain.ok(chain.admin, "staking", "slash", [cap, pool, other, u64(0)])
    assert_abort(
        chain.run(chain.admin, "staking", "slash", [cap, pool, other, u64(0)]),
        "staking",
        c.E_NOT_ACTIVE,
    )
    assert_abort(
        chain.run(
            chain.admin, "staking", "set_thresholds", [cap, pool, u64(100), u64(50), u64(1000)]
        ),
        "staking",
        c.E_INVALID_THRESHOLDS,
    )
    assert_abort(
        chain.run(chain.admin, "staking", "set_thresholds", [cap, pool, u64(0), u64(0), u64(0)]),
        "staking",
        c.E_INVALID_THRESHOLDS,
    )


def test_gateway_aborts(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair, ca: Any) -> None:
    pool, config = (chain.ids["StakingPool"], False), (chain.ids["EnclaveConfig"], False)
    record = chain.stake(alice, 150, "worker-1")
    assert_abort(chain.mint(alice, record), "k8s_gateway", c.E_NO_ENCLAVE)
    operator = SuiKeyPair.generate()
    chain.fund(operator)
    assert chain.register(operator, document(ca)).status.success
    assert_abort(chain.mint(bob, record), "k8s_gateway", c.E_NOT_STAKER)
    short = chain.run(
        alice,
        "k8s_gateway",
        "create_worker_seal_token",
        [pool, config, (record, False), vec(b"\x01" * 31)],
    )
    assert_abort(short, "k8s_gateway", c.E_INVALID_TOKEN_HASH)
    user_record = chain.stake_user(bob, 100)
    assert_abort(chain.mint(bob, user_record), "k8s_gateway", c.E_NOT_NODE_STAKE)
    node_user = chain.run(
        alice,
        "k8s_gateway",
        "create_user_seal_token",
        [pool, config, (record, False), vec(b"\x01" * 32), strings(["pods:read"])],
    )
    assert_abort(node_user, "k8s_gateway", c.E_NOT_USER_STAKE)
    nothing = chain.run(
        bob,
        "k8s_gateway",
        "create_user_seal_token",
        [pool, config, (user_record, False), vec(b"\x01" * 32), strings(["*:*"])],
    )
    assert_abort(nothing, "k8s_gateway", c.E_NO_PERMISSIONS)
    token = chain.created(chain.mint(alice, record), "::SealToken")
    other_record = chain.stake(alice, 100, "worker-2")
    assert_abort(
        chain.run(
            alice,
            "k8s_gateway",
            "rotate_seal_token",
            [token, (pool[0], False), (other_record, False), vec(b"\x02" * 32)],
        ),
        "k8s_gateway",
        c.E_WRONG_STAKE_RECORD,
    )
    assert_abort(
        chain.run(
            alice,
            "k8s_gateway",
            "rotate_seal_token",
            [token, (pool[0], False), (record, False), vec(b"\x02")],
        ),
        "k8s_gateway",
        c.E_INVALID_TOKEN_HASH,
    )
    chain.fund(chain.admin)
    cap = (chain.ids["AdminCap"], False)
    chain.ok(
        chain.admin, "staking", "set_thresholds", [cap, pool[0], u64(200), u64(1000), u64(10000)]
    )
    assert_abort(chain.mint(alice, record), "k8s_gateway", c.E_INSUFFICIENT_STAKE)
    chain.ok(chain.admin, "staking", "slash", [cap, pool[0], record, u64(0)])
    assert_abort(chain.mint(alice, record), "k8s_gateway", c.E_NOT_ACTIVE)
    assert_abort(
        chain.run(
            alice,
            "k8s_gateway",
            "rotate_seal_token",
            [token, (pool[0], False), (record, False), vec(b"\x02" * 32)],
        ),
        "k8s_gateway",
        c.E_NOT_ACTIVE,
    )


def test_sealtoken_is_not_transferable_or_revocable_by_others(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair, enclave: str
) -> None:
    token = chain.created(chain.mint(alice, chain.stake(alice, 100, "worker-1")), "::SealToken")
    with pytest.raises(InvalidTransaction) as info:  # bob cannot even use alice's owned object
        chain.run(bob, "k8s_gateway", "revoke_seal_token", [token])
    assert info.value.reason == "not_owner"


def test_nautilus_aborts(chain: Chain, ca: Any, tmp_path: Path) -> None:
    operator, other = SuiKeyPair.generate(), SuiKeyPair.generate()
    chain.fund(operator)
    chain.fund(other)
    assert_abort(
        chain.register(operator, document(ca, pcrs={0: b"\x09" * 48})), "nautilus", c.E_PCR_MISMATCH
    )
    assert_abort(chain.register(operator, document(ca), tier=3), "nautilus", c.E_INVALID_TIER)
    assert_abort(
        chain.register(operator, document(ca, key=b"\x01" * 16)), "nautilus", c.E_INVALID_PUBLIC_KEY
    )
    assert_abort(
        chain.register(operator, document(ca, key=None)), "nautilus", c.E_INVALID_ATTESTATION
    )
    assert_abort(
        chain.register(operator, document(ca), endpoint=b""), "nautilus", c.E_INVALID_ENDPOINT
    )
    foreign = create_dev_ca(tmp_path / "foreign")
    assert_abort(chain.register(operator, document(foreign)), "nitro_attestation", 2)
    enclave = chain.created(chain.register(operator, document(ca)), "::Enclave")
    update = chain.run(other, "nautilus", "update_enclave", [enclave, (chain.ids["EnclaveConfig"], False), "RESULT0", vec(b"https://x")],
                       prefix=[("0x2", "nitro_attestation", "load_nitro_attestation", [vec(document(ca)), (CLOCK, False)])])  # fmt: skip
    assert_abort(update, "nautilus", c.E_NOT_OPERATOR)
    chain.fund(chain.admin)
    short = chain.run(
        chain.admin,
        "nautilus",
        "update_pcrs",
        [
            (chain.ids["AdminCap"], False),
            chain.ids["EnclaveConfig"],
            vec(b"\x01"),
            vec(bytes(48)),
            vec(bytes(48)),
        ],
    )
    assert_abort(short, "nautilus", c.E_INVALID_PCR_LENGTH)


# ---- what a validator rejects before running anything -----------------------------------------


def test_bad_signature_and_signer_not_sender(
    chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair
) -> None:
    tx = chain.build(
        alice, "staking", "stake_for_user", [chain.ids["StakingPool"], "COIN"], split=100
    )
    with pytest.raises(InvalidTransaction) as info:
        chain.executor.execute(tx, [bob.sign_transaction(tx)], chain.ledger)
    assert info.value.reason == "signer_not_sender"
    bad = bytearray(alice.sign_transaction(tx))
    bad[5] ^= 1
    with pytest.raises(InvalidTransaction) as info:
        chain.executor.execute(tx, [bytes(bad)], chain.ledger)
    assert info.value.reason == "bad_signature"
    with pytest.raises(InvalidTransaction) as info:
        chain.executor.execute(
            b"\x00garbage", [alice.sign_transaction(b"\x00garbage")], chain.ledger
        )
    assert info.value.reason == "bad_bcs"


def test_stale_gas_version_and_double_spend(chain: Chain, alice: SuiKeyPair) -> None:
    gas = chain.gas(alice)
    first = chain.build(
        alice, "staking", "stake_for_user", [chain.ids["StakingPool"], "COIN"], split=100, gas=gas
    )
    second = chain.build(
        alice, "staking", "stake_for_user", [chain.ids["StakingPool"], "COIN"], split=200, gas=gas
    )
    chain.ledger.apply(chain.executor.execute(first, [alice.sign_transaction(first)], chain.ledger))
    with pytest.raises(InvalidTransaction) as info:  # same gas coin version: exactly one wins
        chain.executor.execute(second, [alice.sign_transaction(second)], chain.ledger)
    assert info.value.reason == "stale_object"


def test_gas_checks(chain: Chain, alice: SuiKeyPair, bob: SuiKeyPair) -> None:
    args = ("staking", "stake_for_user", [chain.ids["StakingPool"], "COIN"])
    with pytest.raises(InvalidTransaction) as info:  # someone else's coin as gas
        chain.run(alice, *args, split=100, gas=chain.gas(bob))
    assert info.value.reason == "not_owner"
    poor = SuiKeyPair.generate()
    chain.fund(poor, 1_000)
    with pytest.raises(InvalidTransaction) as info:
        chain.run(poor, *args, split=100)
    assert info.value.reason == "insufficient_gas"
    low = chain.run(alice, *args, split=100, budget=10)
    assert not low.status.success
    assert "InsufficientGas" in (low.status.error or "")


def test_digest_is_the_transaction_digest(chain: Chain, alice: SuiKeyPair) -> None:
    tx = chain.build(
        alice, "staking", "stake_for_user", [chain.ids["StakingPool"], "COIN"], split=100
    )
    effects = chain.executor.execute(tx, [alice.sign_transaction(tx)], chain.ledger)
    assert effects.digest == transaction_digest(tx)
