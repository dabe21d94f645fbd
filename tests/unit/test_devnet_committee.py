"""The devnet as a committee-certified chain, on its SQLite ledger (no processes): genesis makes
N validators whose committee is devnet.json's anchor; every checkpoint, across epoch changes
and a key rotation, verifies with `chain.verifier.CheckpointVerifier`; a reopened ledger signs
on with the same keys; transactions, effects and objects are Sui's BCS; tampering fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pysui.sui.sui_bcs import bcs as sbcs

from k3s_daas.chain import Deployment
from k3s_daas.chain.certified import (
    CheckpointSummary,
    IdOperation,
    MoveObject,
    Object,
    OutputKind,
    TransactionEffects,
    digest_to_base58,
    effects_digest,
    summary_digest,
)
from k3s_daas.chain.certified.bcs import Reader
from k3s_daas.chain.certified.execution_status import FAILURES, MOVE_ABORT
from k3s_daas.chain.certified.owner import Owner as SuiOwner
from k3s_daas.chain.errors import FailedCheck, UnverifiedChainData
from k3s_daas.chain.verifier import (
    CheckpointVerifier,
    VerifiedCheckpoint,
    verify_effects,
    verify_events,
    verify_object,
)
from k3s_daas.devnet.datadir import claim
from k3s_daas.devnet.effects import ExecutionStatus, GasCost
from k3s_daas.devnet.effects import TransactionEffects as DevnetEffects
from k3s_daas.devnet.errors import BadRequest, LedgerError
from k3s_daas.devnet.executor import Executor
from k3s_daas.devnet.genesis import GenesisInfo, ensure_genesis, package_ids
from k3s_daas.devnet.ids import PACKAGE_ID
from k3s_daas.devnet.ledger import CheckpointRecord, Ledger
from k3s_daas.devnet.node import DevnetNode
from k3s_daas.devnet.objects import AddressOwner, SharedOwner, StoredObject
from k3s_daas.devnet.system import SYSTEM_ADDRESS
from k3s_daas.devnet.validators import (
    TOTAL_STAKE,
    VALIDATOR_SECRET_FILE,
    ValidatorKeys,
    stakes,
)
from k3s_daas.seal.sui import COIN_SUI_TYPE

RECIPIENT = "0x" + "5e" * 32


class Devnet:
    """A ledger with its validator keys and node, in a data directory."""

    def __init__(self, data: Path, count: int | None = None) -> None:
        self.data = data
        self.keys = ValidatorKeys.load_or_create(data / VALIDATOR_SECRET_FILE)
        self.ledger = Ledger(data / "ledger.sqlite3", self.keys)
        self.info: GenesisInfo = ensure_genesis(data, self.ledger, self.keys, count)
        self.node = DevnetNode(self.ledger, Executor(package_ids()))

    def deployment(self) -> Deployment:
        return self.info.deployment(self.data, 9000, 9123)

    def checkpoints(self, start: int = 0) -> Iterator[CheckpointRecord]:
        tip = self.ledger.latest_checkpoint()
        assert tip is not None
        for seq in range(start, tip.seq + 1):
            cp = self.ledger.checkpoint(seq)
            assert cp is not None
            yield cp


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    node = Devnet(tmp_path / "devnet")
    yield node
    node.ledger.close()


def follow(verifier: CheckpointVerifier, cp: CheckpointRecord) -> VerifiedCheckpoint:
    return verifier.follow(cp.summary, cp.certificate, cp.contents)


def test_genesis_committee_is_the_anchor_and_checkpoint_0_the_chain_id(
    devnet: Devnet, tmp_path: Path
) -> None:
    secret = devnet.data / VALIDATOR_SECRET_FILE
    assert secret.stat().st_mode & 0o777 == 0o600
    committee = devnet.info.committee.committee()
    assert committee.epoch == 0
    assert [m.stake for m in committee.members] == [2500] * 4
    assert len({m.public_key for m in committee.members}) == 4
    path = tmp_path / "devnet.json"
    devnet.deployment().save(path)
    loaded = Deployment.load(path)
    assert loaded.committee is not None
    assert loaded.committee.committee() == committee  # the anchor, read back from the file
    genesis = devnet.ledger.checkpoint(0)
    assert genesis is not None
    assert (
        devnet.info.chain_id == genesis.digest == digest_to_base58(summary_digest(genesis.summary))
    )
    assert CheckpointSummary.decode(genesis.summary).previous_digest is None
    follow(CheckpointVerifier(loaded.committee.committee()), genesis)


@pytest.mark.parametrize("count", [1, 3, 4, 7])
def test_equal_stake_summing_to_10000(tmp_path: Path, count: int) -> None:
    committee = ValidatorKeys.load_or_create(tmp_path / "k").genesis(count).committee()
    assert committee.total_stake == TOTAL_STAKE
    assert sorted(m.stake for m in committee.members) == sorted(stakes(count))
    assert max(stakes(count)) - min(stakes(count)) <= 1
    assert [m.public_key for m in committee.members] == sorted(
        m.public_key for m in committee.members
    )


@pytest.mark.parametrize("count", [0, 101])
def test_a_committee_size_out_of_range_is_refused(tmp_path: Path, count: int) -> None:
    with pytest.raises(LedgerError, match=r"1\.\.100 validators"):
        ValidatorKeys.load_or_create(tmp_path / "k").genesis(count)


def test_a_readable_secret_is_refused(tmp_path: Path) -> None:
    ValidatorKeys.load_or_create(tmp_path / "k")
    (tmp_path / "k").chmod(0o644)
    with pytest.raises(LedgerError, match="chmod 600"):
        ValidatorKeys.load_or_create(tmp_path / "k")


async def test_every_checkpoint_verifies_across_epochs_and_a_key_rotation(devnet: Devnet) -> None:
    for i in range(5):
        await devnet.node.faucet(RECIPIENT, 1_000 + i)
    epoch1, closing0 = await devnet.node.advance_epoch(rotate=2)
    for i in range(3):
        await devnet.node.faucet(RECIPIENT, 2_000 + i)
    epoch2, closing1 = await devnet.node.advance_epoch()
    await devnet.node.faucet(RECIPIENT, 3_000)
    assert (epoch1, epoch2) == (1, 2)
    verifier = CheckpointVerifier(devnet.info.committee.committee())
    verified = [follow(verifier, cp) for cp in devnet.checkpoints()]
    assert len(verified) >= 12
    assert [v.epoch for v in verified] == [0] * 7 + [1] * 4 + [2]
    for closing, epoch in ((closing0, 0), (closing1, 1)):  # the last checkpoint of each epoch
        summary = CheckpointSummary.decode(closing.summary)
        assert (summary.epoch, closing.tx_digests) == (epoch, [])
        assert summary.next_committee() == verifier.committee(epoch + 1)
    for epoch in (0, 1, 2):  # what GetEpoch serves is the committee the chain handed over
        info = devnet.ledger.epoch_info(epoch)
        assert info is not None
        verifier.check_committee(info.committee.committee())
    zero, one, two = (verifier.committee(e) for e in (0, 1, 2))
    assert zero is not None and one is not None and two is not None
    changed = {m.public_key for m in one.members} - {m.public_key for m in zero.members}
    assert len(changed) == 1  # validator 2 got a new key for epoch 1 ...
    assert two.members == one.members  # ... and kept it
    assert [v.summary.network_total_transactions for v in verified][-1] == 10
    rolling = CheckpointSummary.decode(closing0.summary).epoch_rolling_gas_cost_summary
    assert rolling.computation_cost == 0  # system transactions pay no gas
    info1 = devnet.ledger.epoch_info(1)
    assert info1 is not None
    assert info1.first_checkpoint == closing0.seq + 1
    with pytest.raises(BadRequest, match="no validator 9"):
        await devnet.node.advance_epoch(rotate=9)


async def test_an_idle_devnet_certifies_empty_heartbeat_checkpoints(devnet: Devnet) -> None:
    """Sui's checkpoint builder makes an empty checkpoint when a commit brings no transaction;
    the devnet's heartbeat is that: certified, linked, empty, later in time, same epoch."""
    await devnet.node.faucet(RECIPIENT, 1_000)
    assert await devnet.node.heartbeat(3600) is None  # a checkpoint was just made: not idle
    before = devnet.ledger.latest_checkpoint()
    beat = await devnet.node.heartbeat(0)
    assert before is not None and beat is not None
    assert (beat.seq, beat.tx_digests, beat.epoch) == (before.seq + 1, [], before.epoch)
    assert beat.previous_digest == before.digest and beat.timestamp_ms >= before.timestamp_ms
    verifier = CheckpointVerifier(devnet.info.committee.committee())
    verified = [follow(verifier, cp) for cp in devnet.checkpoints()]
    summary = verified[-1].summary
    assert summary.end_of_epoch_data is None
    assert summary.network_total_transactions == before.total_transactions
    assert verified[-1].contents is not None and verified[-1].contents.transactions == ()


async def test_a_reopened_ledger_signs_on_with_the_same_keys(tmp_path: Path) -> None:
    first = Devnet(tmp_path / "d")
    await first.node.faucet(RECIPIENT, 1)
    await first.node.advance_epoch(rotate=0)
    verifier = CheckpointVerifier(first.info.committee.committee())
    for cp in first.checkpoints():
        follow(verifier, cp)
    done = verifier.latest
    assert done is not None
    first.ledger.close()
    again = Devnet(tmp_path / "d")  # the same data directory: the secret is read back
    assert again.info == first.info
    await again.node.faucet(RECIPIENT, 2)
    await again.node.advance_epoch()
    await again.node.faucet(RECIPIENT, 3)
    continued = [follow(verifier, cp) for cp in again.checkpoints(done.sequence_number + 1)]
    assert [v.epoch for v in continued] == [1, 1, 2]
    again.ledger.close()
    with pytest.raises(LedgerError, match="created with 4 validators, not 5"):
        Devnet(tmp_path / "d", count=5)
    (tmp_path / "d" / VALIDATOR_SECRET_FILE).write_text("11" * 32)
    with pytest.raises(LedgerError, match="does not hold this devnet's validator keys"):
        Devnet(tmp_path / "d")


def test_a_ledger_opened_without_keys_can_be_read_not_written(devnet: Devnet) -> None:
    reader = Ledger(devnet.ledger.path)
    try:
        assert reader.latest_checkpoint() == devnet.ledger.latest_checkpoint()
        with pytest.raises(LedgerError, match="without validator keys"):
            reader.advance_epoch()
    finally:
        reader.close()


async def test_served_bytes_prove_a_grant_and_tampering_fails(devnet: Devnet) -> None:
    coin, record = await devnet.node.faucet(RECIPIENT, 7_000)
    verifier = CheckpointVerifier(devnet.info.committee.committee())
    checkpoints = list(devnet.checkpoints())
    verified = [follow(verifier, cp) for cp in checkpoints]
    effects = verify_effects(verified[record.checkpoint], record.effects_bcs)
    assert digest_to_base58(effects.digest) == record.effects.digest
    assert verify_events(effects, record.events_bcs) is None  # a grant emits nothing
    row = devnet.ledger.object_row(coin.object_id)
    assert row is not None
    obj = verify_object(effects, row.object_bcs)
    assert obj == Object.decode(row.object_bcs)
    assert isinstance(obj.data, MoveObject)
    assert (obj.data.contents, obj.data.has_public_transfer) == (row.bcs, True)
    assert (obj.owner, obj.version) == (SuiOwner.by_address(RECIPIENT), 1)
    assert obj.storage_rebate == coin.storage_rebate() > 0
    assert row.digest == coin.digest()

    last = checkpoints[-1]
    summary = bytearray(last.summary)
    summary[20] ^= 1
    with pytest.raises(UnverifiedChainData, match=f"^{FailedCheck.BAD_SIGNATURE}"):
        CheckpointVerifier(devnet.info.committee.committee()).certify(
            bytes(summary), last.certificate
        )
    contents = bytearray(last.contents)
    contents[-1] ^= 1
    with pytest.raises(UnverifiedChainData, match=f"^{FailedCheck.CONTENTS_MISMATCH}"):
        verifier.certify(last.summary, last.certificate, bytes(contents))
    tampered = bytearray(row.object_bcs)
    tampered[-9] ^= 1  # the storage rebate
    with pytest.raises(UnverifiedChainData, match=f"^{FailedCheck.OBJECT_MISMATCH}"):
        verify_object(effects, bytes(tampered))
    forged = bytearray(record.effects_bcs)
    forged[-2] ^= 1
    with pytest.raises(UnverifiedChainData, match=f"^{FailedCheck.EFFECTS_MISMATCH}"):
        verify_effects(verified[record.checkpoint], bytes(forged))


async def test_effects_are_sui_effects_v2(devnet: Devnet) -> None:
    coin, record = await devnet.node.faucet(RECIPIENT, 9)
    sui = TransactionEffects.decode(record.effects_bcs)
    assert sui == record.effects.sui_effects()
    assert effects_digest(record.effects_bcs) == sui.digest()
    assert digest_to_base58(sui.transaction_digest) == record.digest
    assert (sui.executed_epoch, sui.lamport_version, sui.failure) == (0, 1, None)
    (change,) = sui.changed_objects
    assert (change.object_id, change.input_state, change.id_operation) == (
        coin.object_id,
        None,
        IdOperation.CREATED,
    )
    assert change.output_state.kind == OutputKind.OBJECT_WRITE
    assert change.output_state.digest is not None
    assert digest_to_base58(change.output_state.digest) == coin.digest()
    stored = devnet.ledger.transaction(record.digest)
    assert stored is not None
    assert stored.effects_bcs == record.effects_bcs  # what the checkpoint committed to is served
    assert DevnetEffects.from_json(record.effects.to_json()).bcs() == record.effects_bcs


def test_effects_record_inputs_dependencies_and_read_only_shared_objects() -> None:
    writer = "4boA7kqTaQNWx2d16dfShy7EbAMCRUt1nwh9tfHamKxN"
    clock = StoredObject("0x" + "06".rjust(64, "0"), 1, SharedOwner(1),
                         "0x2::clock::Clock", {"id": "0x6", "timestamp_ms": "0"}, writer)  # fmt: skip
    gas_in = StoredObject("0x" + "77" * 32, 3, AddressOwner(RECIPIENT), COIN_SUI_TYPE,
                          {"id": "0x" + "77" * 32, "balance": {"value": "50"}}, writer)  # fmt: skip
    gas_out = gas_in.copy()
    gas_out.version, gas_out.previous_transaction = (
        4,
        "2gZB3kTMT7SjfMXmSiophJgbX45DquukZdkugy9pykJ9",
    )
    abort = ExecutionStatus(False, "E_X", "staking", "stake_for_node", 3, 1)
    effects = DevnetEffects.summarize(
        transaction_digest=gas_out.previous_transaction, status=abort, epoch=5,
        gas_used=GasCost(10, 0, 0), gas_object=gas_in.object_id, lamport_version=4,
        inputs={clock.object_id: clock, gas_in.object_id: gas_in}, created=[], mutated=[gas_out],
        deleted=[], events=[],
    )  # fmt: skip
    sui = TransactionEffects.decode(effects.bcs())
    assert [digest_to_base58(d) for d in sui.dependencies] == [writer]  # who wrote the inputs
    (read,) = sui.unchanged_shared_objects
    assert (read.object_id, read.version) == (clock.object_id, 1)
    assert read.digest is not None
    assert digest_to_base58(read.digest) == clock.digest()
    assert sui.gas_object_index == 0
    assert sui.failure is not None
    assert (sui.failure.kind, sui.failure.command) == (MOVE_ABORT, 1)
    location = Reader(sui.failure.payload)
    assert location.address() == PACKAGE_ID
    assert location.string() == "staking"
    assert (location.u16(), location.u16()) == (0, 0)
    assert location.option(location.string) == "stake_for_node"
    assert location.u64() == 3


@pytest.mark.parametrize(
    ("error", "kind", "argument"),
    [
        ("InsufficientGas: gas budget below the total cost", "InsufficientGas", None),
        ("UnusedValueWithoutDrop: a Coin was not used", "UnusedValueWithoutDrop", None),
        ("InvalidTransferObject: no store", "InvalidTransferObject", None),
        ("TypeMismatch: expected a Coin", "CommandArgumentError", 0),
        ("IndexOutOfBounds: input index out of range", "CommandArgumentError", 4),
        ("InvalidValueUsage: moved earlier", "CommandArgumentError", 8),
        ("CommandArgumentError: bad ULEB128", "CommandArgumentError", 0),
    ],
)
def test_execution_errors_are_sui_failure_variants(
    error: str, kind: str, argument: int | None
) -> None:
    status = ExecutionStatus(False, error, command_index=2)
    failure = status.sui_failure()
    assert failure is not None
    assert (FAILURES[failure.kind][0], failure.command) == (kind, 2)
    if argument is not None:
        assert failure.payload[2] == argument  # u16 argument index, then the variant


async def test_system_transactions_are_transaction_data(devnet: Devnet) -> None:
    _coin, grant = await devnet.node.faucet(RECIPIENT, 123)
    data = sbcs.TransactionData.deserialize(grant.bcs).value  # a faucet's PTB, as pysui reads it
    assert data.Sender.to_address_str() == SYSTEM_ADDRESS
    ptb = data.TransactionKind.value
    assert [c.enum_name for c in ptb.Command] == ["SplitCoin", "TransferObjects"]
    assert bytes(ptb.Inputs[0].value) == (123).to_bytes(8, "little")
    assert (data.GasData.Price, data.GasData.Budget) == (1, 0)
    first = devnet.ledger.checkpoint(0)
    assert first is not None
    genesis = devnet.ledger.transaction(first.tx_digests[0])
    assert genesis is not None
    reader = Reader(genesis.bcs)
    assert (reader.uleb(), reader.uleb()) == (0, 2)  # TransactionData::V1, TransactionKind::Genesis
    count = reader.length()
    objects = [
        (reader.uleb(), reader.uleb(), MoveObject.read(reader), SuiOwner.read(reader))
        for _ in range(count)
    ]
    assert {o.object_id for _, _, o, _ in objects} >= {
        devnet.info.pool_id,
        devnet.info.admin_cap_id,
        devnet.info.enclave_config_id,
    }
    # Sui's system envelope: sender 0x0, gas [(0x0, 0, 0…)], owner 0x0, price 1, budget 0
    assert reader.take(32) == bytes(32)
    assert reader.length() == 1
    assert (reader.take(32), reader.u64(), reader.digest()) == (bytes(32), 0, bytes(32))
    assert (reader.take(32), reader.u64(), reader.u64(), reader.uleb()) == (bytes(32), 1, 0, 0)
    reader.finish("genesis transaction")
    for raw_tag, data_tag, obj, owner in objects:  # RawObject, Data::Move, as created at version 1
        row = devnet.ledger.object_row(obj.object_id, 1)
        assert row is not None
        assert (raw_tag, data_tag, obj.version, obj.contents) == (0, 0, 1, row.bcs)
        assert Object.decode(row.object_bcs).owner == owner
        assert row.obj.previous_transaction == genesis.digest


def test_a_claimed_data_dir_gets_its_validators_with_the_ledger(tmp_path: Path) -> None:
    data = tmp_path / "devnet"
    held = claim(data, validators=3)  # genesis in a staging directory, renamed into place
    try:
        secret = data / VALIDATOR_SECRET_FILE
        assert secret.stat().st_mode & 0o777 == 0o600
        keys = ValidatorKeys.load(secret)
        ledger = Ledger(data / "ledger.sqlite3")
        try:
            genesis = ledger.epoch_info(0)
            assert genesis is not None
            assert len(genesis.committee.validators) == 3
            assert keys.holds(genesis.committee)
        finally:
            ledger.close()
        held.served = True
    finally:
        held.release()
    secret.unlink()
    with pytest.raises(LedgerError, match="is missing"):
        ValidatorKeys.load(secret)
