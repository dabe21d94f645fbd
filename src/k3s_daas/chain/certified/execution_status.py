"""`ExecutionStatus` of transaction effects: success, or a failure whose error is kept as bytes.

A verifier needs the fields after the status, so it must step over any of the ~40
`ExecutionFailureStatus` variants a real network writes; it does not need their meaning. Each
variant's payload shape below follows `sui-types` execution_status.rs (the variant order of
sui-rust-sdk execution_status.rs and @mysten/sui's `bcs/effects` agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from k3s_daas.chain.certified import bcs

# Payload shapes: `u8 u16 u64 address string digest` are BCS primitives, `location` a
# MoveLocation, `location?` an Option of one, `addresses` a vector, `argument` a
# CommandArgumentError, `type_argument` a TypeArgumentError, `upgrade` a PackageUpgradeError.
FAILURES: Final[tuple[tuple[str, str], ...]] = (
    ("InsufficientGas", ""),
    ("InvalidGasObject", ""),
    ("InvariantViolation", ""),
    ("FeatureNotYetSupported", ""),
    ("MoveObjectTooBig", "u64 u64"),
    ("MovePackageTooBig", "u64 u64"),
    ("CircularObjectOwnership", "address"),
    ("InsufficientCoinBalance", ""),
    ("CoinBalanceOverflow", ""),
    ("PublishErrorNonZeroAddress", ""),
    ("SuiMoveVerificationError", ""),
    ("MovePrimitiveRuntimeError", "location?"),
    ("MoveAbort", "location u64"),
    ("VMVerificationOrDeserializationError", ""),
    ("VMInvariantViolation", ""),
    ("FunctionNotFound", ""),
    ("ArityMismatch", ""),
    ("TypeArityMismatch", ""),
    ("NonEntryFunctionInvoked", ""),
    ("CommandArgumentError", "u16 argument"),
    ("TypeArgumentError", "u16 type_argument"),
    ("UnusedValueWithoutDrop", "u16 u16"),
    ("InvalidPublicFunctionReturnType", "u16"),
    ("InvalidTransferObject", ""),
    ("EffectsTooLarge", "u64 u64"),
    ("PublishUpgradeMissingDependency", ""),
    ("PublishUpgradeDependencyDowngrade", ""),
    ("PackageUpgradeError", "upgrade"),
    ("WrittenObjectsTooLarge", "u64 u64"),
    ("CertificateDenied", ""),
    ("SuiMoveVerificationTimedout", ""),
    ("SharedObjectOperationNotAllowed", ""),
    ("InputObjectDeleted", ""),
    ("ExecutionCancelledDueToSharedObjectCongestion", "addresses"),
    ("AddressDeniedForCoin", "address string"),
    ("CoinTypeGlobalPause", "string"),
    ("ExecutionCancelledDueToRandomnessUnavailable", ""),
    ("MoveVectorElemTooBig", "u64 u64"),
    ("MoveRawValueTooBig", "u64 u64"),
    ("InvalidLinkage", ""),
    ("InsufficientFundsForWithdraw", ""),
    ("NonExclusiveWriteInputObjectModified", "address"),
)
#: CommandArgumentError variants with a payload (the other 17 of its 20 have none).
_ARGUMENT_PAYLOADS: Final = {4: "u16", 5: "u16 u16", 6: "u16"}
_ARGUMENT_VARIANTS: Final = 20
#: PackageUpgradeError: 0 UnableToFetchPackage, 1 NotAPackage, 2 IncompatibleUpgrade,
#: 3 DigestDoesNotMatch, 4 UnknownUpgradePolicy, 5 PackageIDDoesNotMatch.
_UPGRADE_PAYLOADS: Final = ("address", "address", "", "bytes", "u8", "address address")
MOVE_ABORT: Final = 12


def _skip(reader: bcs.Reader, shape: str) -> None:
    for part in shape.split():
        if part == "u8":
            reader.u8()
        elif part == "u16":
            reader.u16()
        elif part == "u64":
            reader.u64()
        elif part == "address":
            reader.take(bcs.ADDRESS_LENGTH)
        elif part in ("string", "bytes"):
            reader.byte_vector()
        elif part == "addresses":
            reader.vector(lambda: reader.take(bcs.ADDRESS_LENGTH))
        elif part == "location":  # ModuleId (address, name), function, instruction, name?
            _skip(reader, "address string u16 u16")
            reader.option(reader.byte_vector)
        elif part == "location?":
            reader.option(lambda: _skip(reader, "location"))
        elif part == "argument":
            _skip(reader, _ARGUMENT_PAYLOADS.get(reader.tag(_ARGUMENT_VARIANTS, "argument"), ""))
        elif part == "type_argument":
            reader.tag(2, "TypeArgumentError")
        else:  # "upgrade"
            upgrade = reader.tag(len(_UPGRADE_PAYLOADS), "PackageUpgradeError")
            _skip(reader, _UPGRADE_PAYLOADS[upgrade])


@dataclass(frozen=True)
class ExecutionFailure:
    """A failed transaction's error: its variant, its payload bytes, and the failing command."""

    kind: int
    payload: bytes = b""
    command: int | None = None

    @property
    def name(self) -> str:
        return FAILURES[self.kind][0]

    def encode(self) -> bytes:
        return bcs.tag(self.kind) + self.payload + bcs.option(self.command, bcs.u64)

    @classmethod
    def read(cls, reader: bcs.Reader) -> ExecutionFailure:
        kind = reader.tag(len(FAILURES), "ExecutionFailureStatus")
        start = reader.pos
        _skip(reader, FAILURES[kind][1])
        payload = reader.data[start : reader.pos]
        return cls(kind, payload, reader.option(reader.u64))


def encode_status(failure: ExecutionFailure | None) -> bytes:
    """`ExecutionStatus`: `00` for success, `01 ‖ error ‖ Option<command>` for a failure."""
    return b"\x00" if failure is None else b"\x01" + failure.encode()


def read_status(reader: bcs.Reader) -> ExecutionFailure | None:
    return ExecutionFailure.read(reader) if reader.tag(2, "ExecutionStatus") else None


__all__ = ["FAILURES", "MOVE_ABORT", "ExecutionFailure", "encode_status", "read_status"]
