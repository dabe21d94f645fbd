"""PTB building: BCS that pysui reads back byte-exact, pure encodings by Move type, input
de-duplication, and signatures/digests that agree with chain/keys.py."""

from __future__ import annotations

import base58
import pytest
from pysui.sui.sui_bcs import bcs

from k3s_daas.chain import SuiKeyPair, transaction_digest, verify_transaction_signature
from k3s_daas.chain.transactions import (
    ObjectRef,
    ProgrammableTransaction,
    decode,
    encode_string,
    encode_strings,
    encode_u8,
    encode_u64,
    sign,
)

PKG = "0x" + "ab" * 32
POOL = "0x" + "01" * 32
CONFIG = "0x" + "02" * 32
GAS = ObjectRef("0x" + "03" * 32, 7, base58.b58encode(b"\x05" * 32).decode())


def stake_and_mint(ptb: ProgrammableTransaction) -> None:
    pool = ptb.shared(POOL, 3, mutable=True)
    config = ptb.shared(CONFIG, 4, mutable=False)
    coin = ptb.split_gas(12_345)
    ptb.move_call(
        PKG,
        "k8s_gateway",
        "stake_and_create_worker_seal_token",
        [pool, config, coin, ptb.string("node-1"), ptb.bytes_(b"\x11" * 32)],
    )


def test_bcs_round_trip_and_structure() -> None:
    key = SuiKeyPair.generate()
    ptb = ProgrammableTransaction()
    stake_and_mint(ptb)
    raw = ptb.build(sender=key.address, gas=[GAS], gas_price=1000, gas_budget=50_000_000)
    data = decode(raw)
    assert data.serialize() == raw  # byte-exact through pysui's own types
    v1 = data.value
    assert v1.Sender.to_address_str().endswith(key.address[2:])
    assert (v1.GasData.Price, v1.GasData.Budget) == (1000, 50_000_000)
    assert v1.GasData.Payment[0].SequenceNumber == 7
    ptx = v1.TransactionKind.value
    kinds = [c.enum_name for c in ptx.Command]
    assert kinds == ["SplitCoin", "MoveCall"]
    split = ptx.Command[0].value
    assert split.FromCoin.enum_name == "GasCoin"
    amount_input = ptx.Inputs[split.Amount[0].value]
    assert bytes(amount_input.value) == (12_345).to_bytes(8, "little")  # a real u64, not minimal
    call = ptx.Command[1].value
    assert (call.Module, call.Function) == ("k8s_gateway", "stake_and_create_worker_seal_token")
    assert call.Arguments[2].enum_name == "NestedResult"
    pool_input = ptx.Inputs[0].value
    assert pool_input.enum_name == "SharedObject"
    assert (pool_input.value.SequenceNumber, pool_input.value.Mutable) == (3, True)
    assert ptx.Inputs[1].value.value.Mutable is False


def test_shared_inputs_are_deduplicated_and_upgraded_to_mutable() -> None:
    ptb = ProgrammableTransaction()
    first = ptb.shared(POOL, 3, mutable=False)
    second = ptb.shared(POOL.replace("0x01", "0x01"), 3, mutable=True)
    assert first.value == second.value == 0
    assert len(ptb.inputs) == 1
    assert ptb.inputs[0].value.value.Mutable is True
    owned = ptb.owned(GAS)
    assert ptb.owned(GAS).value == owned.value
    assert len(ptb.inputs) == 2


def test_signature_and_digest_agree_with_keys() -> None:
    key = SuiKeyPair.generate()
    ptb = ProgrammableTransaction()
    stake_and_mint(ptb)
    raw = ptb.build(sender=key.address, gas=[GAS], gas_price=1000, gas_budget=1)
    signed = sign(raw, key)
    assert signed.digest == transaction_digest(raw)
    assert verify_transaction_signature(raw, signed.signatures[0]) == key.address


def test_pure_encodings() -> None:
    assert encode_u64(1) == b"\x01" + b"\x00" * 7
    assert encode_u8(255) == b"\xff"
    assert encode_string("é") == b"\x02\xc3\xa9"
    assert encode_strings(["a", "bc"]) == b"\x02\x01a\x02bc"
    for bad in (-1, 2**64, True):
        with pytest.raises(ValueError):
            encode_u64(bad)
    with pytest.raises(ValueError):
        encode_u8(256)
    with pytest.raises(ValueError):
        ProgrammableTransaction().build(sender="0x1", gas=[], gas_price=1, gas_budget=1)


def test_move_vector_and_transfer_commands_decode() -> None:
    ptb = ProgrammableTransaction()
    coin = ptb.split_gas(5)
    ptb.transfer([coin], "0x2")
    raw = ptb.build(sender="0x1", gas=[GAS], gas_price=1, gas_budget=1)
    ptx = bcs.TransactionData.deserialize(raw).value.TransactionKind.value
    assert [c.enum_name for c in ptx.Command] == ["SplitCoin", "TransferObjects"]
    assert bytes(ptx.Inputs[1].value) == bytes(31) + b"\x02"
