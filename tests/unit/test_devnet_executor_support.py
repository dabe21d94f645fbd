"""Harness shared by test_devnet_executor.py and test_devnet_package.py (holds no tests).

Transactions are real BCS built with pysui's types and signed with real keys (chain/keys.py);
the ledger is the in-memory `MemoryLedger` (the SQLite one is exercised by
tests/integration/test_devnet_*). Attestation documents are real, signed by a dev CA.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pysui.sui.sui_bcs import bcs

from k3s_daas.attestation import (
    AttestationDocument,
    DevCA,
    create_dev_ca,
    issue_enclave_leaf,
    sign_document,
)
from k3s_daas.chain import SuiKeyPair, transaction_digest
from k3s_daas.devnet.effects import ExecutedTransaction
from k3s_daas.devnet.executor import Executor
from k3s_daas.devnet.ids import CLOCK, PACKAGE_ID, REFERENCE_GAS_PRICE
from k3s_daas.devnet.objects import AddressOwner, SharedOwner, StoredObject
from k3s_daas.devnet.package import PackageIds, coin_object, coin_value, genesis_objects
from k3s_daas.seal.encoding import uleb128

PCRS = {0: b"\x01" * 48, 1: b"\x02" * 48, 2: b"\x03" * 48}
BUDGET = 50_000_000
HASH = b"\x07" * 32
IDS = PackageIds(PACKAGE_ID, CLOCK)
#: The previous transaction of objects the tests put in place directly (a real digest's shape).
GENESIS_TX = transaction_digest(b"test genesis")


def u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def vec(data: bytes) -> bytes:
    return uleb128(len(data)) + data


def strings(items: Sequence[str]) -> bytes:
    return uleb128(len(items)) + b"".join(vec(s.encode()) for s in items)


def addr(address: str) -> bytes:
    return bytes.fromhex(address.removeprefix("0x"))


@dataclass
class MemoryLedger:
    """An in-memory `LedgerView` that applies executed transactions like the SQLite ledger;
    `now_ms` None means the wall clock."""

    objects: dict[str, StoredObject] = field(default_factory=dict)
    tables: dict[tuple[str, str], str] = field(default_factory=dict)
    current_epoch: int = 0
    now_ms: int | None = None
    gas_price: int = 1000

    def get_object(self, object_id: str) -> StoredObject | None:
        obj = self.objects.get(object_id)
        return None if obj is None else obj.copy()

    def epoch(self) -> int:
        return self.current_epoch

    def timestamp_ms(self) -> int:
        if self.now_ms is not None:
            return self.now_ms
        return int(time.time() * 1000)

    def reference_gas_price(self) -> int:
        return self.gas_price

    def table_get(self, table_id: str, key: str) -> str | None:
        return self.tables.get((table_id, key))

    def put(self, obj: StoredObject) -> None:
        """Add an object directly (genesis, faucet)."""
        self.objects[obj.object_id] = obj.copy()

    def apply(self, tx: ExecutedTransaction) -> None:
        """Commit a transaction's writes."""
        for obj in [*tx.created, *tx.mutated]:
            self.objects[obj.object_id] = obj.copy()
        for object_id in tx.deleted:
            self.objects.pop(object_id, None)
        for change in tx.table_changes:
            if change.value is None:
                self.tables.pop((change.table_id, change.key), None)
            else:
                self.tables[(change.table_id, change.key)] = change.value


class Ptb:
    """A programmable transaction under construction (pysui BCS types, nothing resolved)."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.inputs: list[bcs.CallArg] = []
        self.commands: list[bcs.Command] = []

    def pure(self, data: bytes) -> bcs.Argument:
        self.inputs.append(bcs.CallArg("Pure", list(data)))
        return bcs.Argument("Input", len(self.inputs) - 1)

    def obj(self, object_id: str, mutable: bool = True) -> bcs.Argument:
        self.inputs.append(self.chain.obj_arg(object_id, mutable))
        return bcs.Argument("Input", len(self.inputs) - 1)

    def _add(self, command: bcs.Command) -> bcs.Argument:
        self.commands.append(command)
        return bcs.Argument("Result", len(self.commands) - 1)

    def call(
        self, module: str, function: str, args: Sequence[bcs.Argument], *,
        package: str = PACKAGE_ID, type_args: Sequence[str] = (),
    ) -> bcs.Argument:  # fmt: skip
        tags = [bcs.TypeTag.type_tag_from(t) for t in type_args]
        call = bcs.ProgrammableMoveCall(
            bcs.Address.from_str(package), module, function, tags, list(args)
        )
        return self._add(bcs.Command("MoveCall", call))

    def split(self, coin: bcs.Argument, amounts: Sequence[int]) -> bcs.Argument:
        amount_args = [self.pure(u64(a)) for a in amounts]
        return self._add(bcs.Command("SplitCoin", bcs.SplitCoin(coin, amount_args)))

    def merge(self, target: bcs.Argument, sources: Sequence[bcs.Argument]) -> bcs.Argument:
        return self._add(bcs.Command("MergeCoins", bcs.MergeCoins(target, list(sources))))

    def transfer(self, objects: Sequence[bcs.Argument], recipient: str) -> bcs.Argument:
        recipient_arg = self.pure(addr(recipient))
        return self._add(
            bcs.Command("TransferObjects", bcs.TransferObjects(list(objects), recipient_arg))
        )

    def make_vec(self, type_: str | None, items: Sequence[bcs.Argument]) -> bcs.Argument:
        tag = bcs.OptionalTypeTag(bcs.TypeTag.type_tag_from(type_) if type_ else None)
        return self._add(bcs.Command("MakeMoveVec", bcs.MakeMoveVec(tag, list(items))))


def nested(i: int, j: int) -> bcs.Argument:
    return bcs.Argument("NestedResult", (i, j))


GAS = bcs.Argument("GasCoin")


class Chain:
    """Genesis on a MemoryLedger, funded keys, and build/sign/execute helpers."""

    def __init__(self, root: Any) -> None:
        self.ledger = MemoryLedger(gas_price=REFERENCE_GAS_PRICE)
        self.admin = SuiKeyPair.generate()
        self.executor = Executor(IDS, root)
        for obj in genesis_objects(IDS, self.admin.address, PCRS):
            self.ledger.put(obj)
        self.ids = {o.type.rsplit("::", 1)[-1]: o.object_id for o in self.ledger.objects.values()}
        self.pool, self.config, self.cap = (
            self.ids["StakingPool"], self.ids["EnclaveConfig"], self.ids["AdminCap"],
        )  # fmt: skip
        self.counter = 0
        self.fund(self.admin)

    def fund(self, key: SuiKeyPair, amount: int = 10**12) -> str:
        self.counter += 1
        object_id = "0x" + hashlib.sha256(f"coin{self.counter}".encode()).hexdigest()
        self.ledger.put(coin_object(object_id, key.address, amount, 1, GENESIS_TX))
        return object_id

    def coins(self, key: SuiKeyPair) -> list[StoredObject]:
        return sorted(
            (o for o in self.ledger.objects.values()
             if o.owner == AddressOwner(key.address) and o.type.endswith("::sui::SUI>")),
            key=coin_value, reverse=True,
        )  # fmt: skip

    def balance(self, key: SuiKeyPair) -> int:
        return sum(coin_value(c) for c in self.coins(key))

    def obj(self, object_id: str) -> StoredObject:
        return self.ledger.objects[object_id]

    def obj_arg(self, object_id: str, mutable: bool = True) -> bcs.CallArg:
        obj = self.ledger.objects[object_id]
        if isinstance(obj.owner, SharedOwner):
            ref = bcs.SharedObjectReference(
                bcs.Address.from_str(object_id), obj.owner.initial_shared_version, mutable
            )
            return bcs.CallArg("Object", bcs.ObjectArg("SharedObject", ref))
        return bcs.CallArg("Object", bcs.ObjectArg("ImmOrOwnedObject", self.ref(obj)))

    @staticmethod
    def ref(obj: StoredObject, version: int | None = None) -> bcs.ObjectReference:
        return bcs.ObjectReference(
            bcs.Address.from_str(obj.object_id),
            obj.version if version is None else version,
            bcs.Digest.from_str(obj.digest()),
        )

    def tx_bytes(
        self, key: SuiKeyPair, ptb: Ptb, *, gas: Sequence[StoredObject] | None = None,
        budget: int = BUDGET, price: int = REFERENCE_GAS_PRICE, sender: str | None = None,
    ) -> bytes:  # fmt: skip
        coins = list(gas) if gas is not None else self.coins(key)[:1]
        data = bcs.TransactionData(
            "V1",
            bcs.TransactionDataV1(
                bcs.TransactionKind(
                    "ProgrammableTransaction", bcs.ProgrammableTransaction(ptb.inputs, ptb.commands)
                ),
                bcs.Address.from_str(sender or key.address),
                bcs.GasData(
                    [self.ref(c) for c in coins], bcs.Address.from_str(sender or key.address),
                    price, budget,
                ),
                bcs.TransactionExpiration("None"),
            ),
        )  # fmt: skip
        return bytes(data.serialize())

    def execute(
        self, key: SuiKeyPair, tx: bytes, signer: SuiKeyPair | None = None
    ) -> ExecutedTransaction:
        effects = self.executor.execute(tx, [(signer or key).sign_transaction(tx)], self.ledger)
        self.ledger.apply(effects)
        return effects

    def send(self, key: SuiKeyPair, ptb: Ptb, **kw: Any) -> ExecutedTransaction:
        return self.execute(key, self.tx_bytes(key, ptb, **kw))

    def ok(self, key: SuiKeyPair, ptb: Ptb, **kw: Any) -> ExecutedTransaction:
        effects = self.send(key, ptb, **kw)
        assert effects.effects.status.success, effects.effects.status
        return effects

    @staticmethod
    def created(effects: ExecutedTransaction, suffix: str) -> str:
        return next(o.object_id for o in effects.created if o.type.endswith(suffix))

    # -- the package's flows, one PTB each --
    def stake_ptb(self, amount: int, node: str | None) -> Ptb:
        ptb = Ptb(self)
        coin = ptb.split(GAS, [amount])
        if node is None:
            ptb.call("staking", "stake_for_user", [ptb.obj(self.pool), coin])
        else:
            ptb.call(
                "staking",
                "stake_for_node",
                [ptb.obj(self.pool), coin, ptb.pure(vec(node.encode()))],
            )
        return ptb

    def stake(self, key: SuiKeyPair, amount: int, node: str | None = None) -> str:
        return self.created(self.ok(key, self.stake_ptb(amount, node)), "::StakeRecord")

    def mint_ptb(
        self, record: str, token_hash: bytes = HASH, requested: Sequence[str] | None = None
    ) -> Ptb:
        ptb = Ptb(self)
        args = [
            ptb.obj(self.pool, False),
            ptb.obj(self.config, False),
            ptb.obj(record, False),
            ptb.pure(vec(token_hash)),
        ]
        if requested is None:
            ptb.call("k8s_gateway", "create_worker_seal_token", args)
        else:
            ptb.call("k8s_gateway", "create_user_seal_token", [*args, ptb.pure(strings(requested))])
        return ptb

    def mint(self, key: SuiKeyPair, record: str, **kw: Any) -> ExecutedTransaction:
        return self.send(key, self.mint_ptb(record, **kw))

    def one_call_ptb(self, amount: int, node: str, token_hash: bytes = HASH) -> Ptb:
        ptb = Ptb(self)
        coin = ptb.split(GAS, [amount])
        ptb.call(
            "k8s_gateway",
            "stake_and_create_worker_seal_token",
            [
                ptb.obj(self.pool),
                ptb.obj(self.config, False),
                coin,
                ptb.pure(vec(node.encode())),
                ptb.pure(vec(token_hash)),
            ],
        )
        return ptb

    def rotate(
        self, key: SuiKeyPair, token: str, record: str, new_hash: bytes = b"\x08" * 32
    ) -> ExecutedTransaction:
        ptb = Ptb(self)
        ptb.call(
            "k8s_gateway",
            "rotate_seal_token",
            [
                ptb.obj(token),
                ptb.obj(self.pool, False),
                ptb.obj(record, False),
                ptb.pure(vec(new_hash)),
            ],
        )
        return self.send(key, ptb)

    def revoke(self, key: SuiKeyPair, token: str) -> ExecutedTransaction:
        ptb = Ptb(self)
        ptb.call("k8s_gateway", "revoke_seal_token", [ptb.obj(token)])
        return self.send(key, ptb)

    def staking(self, key: SuiKeyPair, function: str, record: str) -> ExecutedTransaction:
        ptb = Ptb(self)
        ptb.call("staking", function, [ptb.obj(self.pool), ptb.obj(record)])
        return self.send(key, ptb)

    def slash(self, record: str, amount: int) -> ExecutedTransaction:
        ptb = Ptb(self)
        ptb.call(
            "staking",
            "slash",
            [ptb.obj(self.cap), ptb.obj(self.pool), ptb.obj(record), ptb.pure(u64(amount))],
        )
        return self.send(self.admin, ptb)

    def set_thresholds(self, low: int, standard: int, premium: int) -> ExecutedTransaction:
        ptb = Ptb(self)
        ptb.call(
            "staking",
            "set_thresholds",
            [
                ptb.obj(self.cap),
                ptb.obj(self.pool),
                ptb.pure(u64(low)),
                ptb.pure(u64(standard)),
                ptb.pure(u64(premium)),
            ],
        )
        return self.send(self.admin, ptb)

    def update_pcrs(self, pcrs: Sequence[bytes]) -> ExecutedTransaction:
        ptb = Ptb(self)
        ptb.call(
            "nautilus",
            "update_pcrs",
            [ptb.obj(self.cap), ptb.obj(self.config), *(ptb.pure(vec(p)) for p in pcrs)],
        )
        return self.send(self.admin, ptb)

    def _document_arg(self, ptb: Ptb, document: bytes) -> bcs.Argument:
        return ptb.call(
            "nitro_attestation",
            "load_nitro_attestation",
            [ptb.pure(vec(document)), ptb.obj(CLOCK, False)],
            package="0x2",
        )

    def register(
        self, key: SuiKeyPair, document: bytes, tier: int = 0, endpoint: str = "https://m"
    ) -> ExecutedTransaction:
        ptb = Ptb(self)
        doc = self._document_arg(ptb, document)
        ptb.call(
            "nautilus",
            "register_enclave",
            [ptb.obj(self.config), doc, ptb.pure(vec(endpoint.encode())), ptb.pure(bytes([tier]))],
        )
        return self.send(key, ptb)

    def update_enclave(
        self, key: SuiKeyPair, enclave: str, document: bytes, endpoint: str = "https://n"
    ) -> ExecutedTransaction:
        ptb = Ptb(self)
        doc = self._document_arg(ptb, document)
        ptb.call(
            "nautilus",
            "update_enclave",
            [ptb.obj(enclave), ptb.obj(self.config, False), doc, ptb.pure(vec(endpoint.encode()))],
        )
        return self.send(key, ptb)


def document(ca: DevCA, *, pcrs: dict[int, bytes] = PCRS, key: bytes | None = b"\x09" * 32,
             at: datetime | None = None) -> bytes:  # fmt: skip
    """A real Nitro-format document signed by a leaf of `ca`."""
    leaf = issue_enclave_leaf(ca)
    moment = at or datetime.now(UTC)
    doc = AttestationDocument(
        module_id="test", timestamp_ms=int(moment.timestamp() * 1000),
        pcrs={**{i: bytes(48) for i in range(16)}, **pcrs}, certificate=leaf.certificate_der,
        cabundle=leaf.cabundle, public_key=key,
    )  # fmt: skip
    return sign_document(doc, leaf.key)


def assert_abort(effects: ExecutedTransaction, module: str, code: int) -> None:
    assert not effects.effects.status.success
    assert (effects.effects.status.abort_module, effects.effects.status.abort_code) == (
        module,
        code,
    ), effects.effects.status


def assert_failure(effects: ExecutedTransaction, kind: str) -> None:
    assert not effects.effects.status.success
    assert effects.effects.status.abort_code is None
    assert (effects.effects.status.error or "").startswith(kind), effects.effects.status


# ---- fixtures (import them into the test modules) -------------------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return create_dev_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def chain(ca: DevCA) -> Chain:
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
def operator(chain: Chain) -> SuiKeyPair:
    key = SuiKeyPair.generate()
    chain.fund(key)
    return key


@pytest.fixture
def enclave(chain: Chain, ca: DevCA, operator: SuiKeyPair) -> str:
    """A registered basic-tier enclave."""
    return chain.created(chain.register(operator, document(ca)), "::Enclave")
