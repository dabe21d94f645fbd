"""Programmable transaction blocks (PTBs) as BCS `TransactionData`, built with pysui's BCS types.

We build the BCS ourselves rather than through pysui's high-level builder: it would make four
extra round trips per transaction (GetFunction, SimulateTransaction, ...) and it forces TLS on
every channel, which the plaintext loopback devnet does not speak. Pure arguments are encoded by
their Move type here (pysui's `PureInput.pure` encodes integers with minimal width, which is not
a u64).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pysui.sui.sui_bcs import bcs

from k3s_daas.chain.keys import SuiKeyPair, normalize_address, transaction_digest
from k3s_daas.chain.records import ObjectRef
from k3s_daas.seal.encoding import uleb128

U64_MAX = 2**64 - 1


# -- pure encodings (BCS) -------------------------------------------------------------------------
def encode_u64(value: int) -> bytes:
    if isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise ValueError(f"not a u64: {value!r}")
    return value.to_bytes(8, "little")


def encode_u8(value: int) -> bytes:
    if isinstance(value, bool) or not 0 <= value <= 255:
        raise ValueError(f"not a u8: {value!r}")
    return bytes([value])


def encode_bytes(value: bytes) -> bytes:
    """vector<u8>."""
    return uleb128(len(value)) + bytes(value)


def encode_string(value: str) -> bytes:
    """0x1::string::String (UTF-8 bytes as a vector<u8>)."""
    return encode_bytes(value.encode("utf-8"))


def encode_strings(values: Sequence[str]) -> bytes:
    """vector<String>."""
    return uleb128(len(values)) + b"".join(encode_string(v) for v in values)


def encode_address(value: str) -> bytes:
    return bytes.fromhex(normalize_address(value)[2:])


@dataclass
class ProgrammableTransaction:
    """A PTB under construction: inputs are de-duplicated, commands return `Argument`s."""

    inputs: list[Any] = field(default_factory=list)
    commands: list[Any] = field(default_factory=list)
    _objects: dict[str, int] = field(default_factory=dict)  # object id -> input index

    # -- inputs ----------------------------------------------------------------------------------
    def pure(self, data: bytes) -> Any:
        self.inputs.append(bcs.CallArg("Pure", list(data)))
        return bcs.Argument("Input", len(self.inputs) - 1)

    def u64(self, value: int) -> Any:
        return self.pure(encode_u64(value))

    def u8(self, value: int) -> Any:
        return self.pure(encode_u8(value))

    def bytes_(self, value: bytes) -> Any:
        return self.pure(encode_bytes(value))

    def string(self, value: str) -> Any:
        return self.pure(encode_string(value))

    def strings(self, values: Sequence[str]) -> Any:
        return self.pure(encode_strings(values))

    def address(self, value: str) -> Any:
        return self.pure(encode_address(value))

    def shared(self, object_id: str, initial_shared_version: int, *, mutable: bool) -> Any:
        """A shared object input; used twice, it is one input (mutable if either use is)."""
        object_id = normalize_address(object_id)
        if object_id in self._objects:
            index = self._objects[object_id]
            if mutable:
                ref = self.inputs[index].value.value
                if not ref.Mutable:
                    self.inputs[index] = self._shared_arg(object_id, initial_shared_version, True)
            return bcs.Argument("Input", index)
        self.inputs.append(self._shared_arg(object_id, initial_shared_version, mutable))
        self._objects[object_id] = len(self.inputs) - 1
        return bcs.Argument("Input", len(self.inputs) - 1)

    @staticmethod
    def _shared_arg(object_id: str, version: int, mutable: bool) -> Any:
        ref = bcs.SharedObjectReference(bcs.Address.from_str(object_id), version, mutable)
        return bcs.CallArg("Object", bcs.ObjectArg("SharedObject", ref))

    def owned(self, ref: ObjectRef) -> Any:
        object_id = normalize_address(ref.object_id)
        if object_id in self._objects:
            return bcs.Argument("Input", self._objects[object_id])
        self.inputs.append(bcs.CallArg("Object", bcs.ObjectArg("ImmOrOwnedObject", _bcs_ref(ref))))
        self._objects[object_id] = len(self.inputs) - 1
        return bcs.Argument("Input", len(self.inputs) - 1)

    # -- commands --------------------------------------------------------------------------------
    def move_call(self, package: str, module: str, function: str, arguments: Sequence[Any]) -> Any:
        """Call `package::module::function`; returns `Result(i)` (use `nested` for tuples)."""
        call = bcs.ProgrammableMoveCall(
            bcs.Address.from_str(normalize_address(package)), module, function, [], list(arguments)
        )
        self.commands.append(bcs.Command("MoveCall", call))
        return bcs.Argument("Result", len(self.commands) - 1)

    def split_gas(self, amount: int) -> Any:
        """Split `amount` MIST off the gas coin, as Sui wallets pay: one coin, no extra input."""
        amount_arg = self.u64(amount)
        self.commands.append(
            bcs.Command("SplitCoin", bcs.SplitCoin(bcs.Argument("GasCoin"), [amount_arg]))
        )
        return bcs.Argument("NestedResult", (len(self.commands) - 1, 0))

    def transfer(self, objects: Sequence[Any], recipient: str) -> None:
        address = self.address(recipient)
        self.commands.append(
            bcs.Command("TransferObjects", bcs.TransferObjects(list(objects), address))
        )

    # -- the whole transaction -------------------------------------------------------------------
    def build(
        self, *, sender: str, gas: Sequence[ObjectRef], gas_price: int, gas_budget: int
    ) -> bytes:
        """BCS TransactionData V1 (no expiration), ready to sign."""
        if not gas:
            raise ValueError("at least one gas coin is required")
        data = bcs.TransactionData(
            "V1",
            bcs.TransactionDataV1(
                bcs.TransactionKind(
                    "ProgrammableTransaction",
                    bcs.ProgrammableTransaction(list(self.inputs), list(self.commands)),
                ),
                bcs.Address.from_str(normalize_address(sender)),
                bcs.GasData(
                    [_bcs_ref(g) for g in gas],
                    bcs.Address.from_str(normalize_address(sender)),
                    gas_price,
                    gas_budget,
                ),
                bcs.TransactionExpiration("None"),
            ),
        )
        return bytes(data.serialize())


def _bcs_ref(ref: ObjectRef) -> Any:
    return bcs.ObjectReference(
        bcs.Address.from_str(normalize_address(ref.object_id)),
        ref.version,
        bcs.Digest.from_str(ref.digest),
    )


@dataclass(frozen=True)
class SignedTransaction:
    """BCS bytes, their signature(s) and the digest the chain will know them by."""

    tx_bytes: bytes
    signatures: tuple[bytes, ...]
    digest: str


def sign(tx_bytes: bytes, signer: SuiKeyPair) -> SignedTransaction:
    return SignedTransaction(
        tx_bytes, (signer.sign_transaction(tx_bytes),), transaction_digest(tx_bytes)
    )


def decode(tx_bytes: bytes) -> Any:
    """Read BCS TransactionData back (pysui object), e.g. to check what is about to be signed."""
    return bcs.TransactionData.deserialize(tx_bytes)


__all__ = [
    "ObjectRef",
    "ProgrammableTransaction",
    "SignedTransaction",
    "decode",
    "encode_address",
    "encode_bytes",
    "encode_string",
    "encode_strings",
    "encode_u8",
    "encode_u64",
    "sign",
]
