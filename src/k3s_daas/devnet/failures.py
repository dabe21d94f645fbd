"""A failed transaction's status as Sui's `ExecutionFailureStatus` BCS, from the devnet's
`ExecutionStatus` (a Move abort, or an error named by its Sui kind).

A Move abort is exact: location (package, module, function name) and code. Other errors carry
their Sui variant; payloads the devnet does not track (argument and result indices) are written
as 0. The devnet's argument errors map onto `CommandArgumentError` variants by name (a generic
one as `TypeMismatch`). Variant orders: `sui-types` execution_status.rs (sui-rust-sdk
execution_status.rs agrees).
"""

from __future__ import annotations

from typing import Final

from k3s_daas.chain.certified import ExecutionFailure, bcs
from k3s_daas.chain.certified.execution_status import FAILURES, MOVE_ABORT
from k3s_daas.devnet.ids import PACKAGE_ID
from k3s_daas.seal.sui import SUI_FRAMEWORK

#: Modules whose aborts are located in the framework (0x2) rather than in `k3s_daas`.
FRAMEWORK_MODULES: Final = frozenset(
    {"coin", "balance", "nitro_attestation", "clock", "transfer", "object"}
)
_KINDS: Final = {name: index for index, (name, _) in enumerate(FAILURES)}
_COMMAND_ARGUMENT_ERROR: Final = _KINDS["CommandArgumentError"]
#: `CommandArgumentError` variants the devnet raises under their own names.
_ARGUMENT_ERRORS: Final = {"TypeMismatch": 0, "IndexOutOfBounds": 4, "InvalidValueUsage": 8}
#: Zero payloads for the top-level variants the devnet can produce.
_ZERO_PAYLOADS: Final = {"u16 u16": bcs.u16(0) + bcs.u16(0), "u16": bcs.u16(0), "": b""}


def abort_package(module: str) -> str:
    """The package a Move abort in `module` is located in."""
    return SUI_FRAMEWORK if module in FRAMEWORK_MODULES else PACKAGE_ID


def move_abort(
    module: str, function: str | None, code: int, command: int | None
) -> ExecutionFailure:
    """`MoveAbort(MoveLocation { module: (package, name), function 0, instruction 0,
    function_name }, code)` behind its variant tag, with the failing command."""
    location = (
        bcs.address(abort_package(module))
        + bcs.string(module)
        + bcs.u16(0)
        + bcs.u16(0)
        + bcs.option(function, bcs.string)
    )
    return ExecutionFailure(MOVE_ABORT, location + bcs.u64(code), command)


def failure(error: str | None, command: int | None) -> ExecutionFailure:
    """A non-abort failure from the devnet's `"<Kind>: <text>"` error."""
    kind = (error or "").split(":", 1)[0].strip()
    if kind in _ARGUMENT_ERRORS or kind == "CommandArgumentError" or kind not in _KINDS:
        variant = _ARGUMENT_ERRORS.get(kind, 0)
        payload = bcs.u16(0) + bcs.tag(variant) + (bcs.u16(0) if variant == 4 else b"")
        return ExecutionFailure(_COMMAND_ARGUMENT_ERROR, payload, command)
    index = _KINDS[kind]
    shape = FAILURES[index][1]
    if shape not in _ZERO_PAYLOADS:  # a variant the devnet never raises: its payload is unknown
        return ExecutionFailure(_KINDS["InvariantViolation"], b"", command)
    return ExecutionFailure(index, _ZERO_PAYLOADS[shape], command)


__all__ = ["FRAMEWORK_MODULES", "abort_package", "failure", "move_abort"]
