"""PTB commands: SplitCoins, MergeCoins, TransferObjects, MakeMoveVec and MoveCall (dispatched to
the native `k3s_daas` package or the 0x2 framework subset), each on a transaction's working set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k3s_daas.devnet.errors import ExecutionFailure, InvalidTransaction
from k3s_daas.devnet.executor.arguments import (
    PURE_KIND_OF_TYPE,
    Arg,
    ObjRef,
    Value,
    bind,
    coin_of,
    instantiate,
    pure_of,
    resolve,
    type_tag_str,
)
from k3s_daas.devnet.executor.working_set import WorkingSet
from k3s_daas.devnet.framework import FRAMEWORK
from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.package import NativeFunction
from k3s_daas.devnet.package.runtime import MoveAbort, coin_value, set_coin_value
from k3s_daas.seal.sui import COIN_SUI_TYPE, SUI_FRAMEWORK, SUI_TYPE, normalize_address


class Commands:
    """Runs one command at a time; `natives` is the package's function table."""

    def __init__(self, package_id: str, natives: dict[tuple[str, str], NativeFunction]) -> None:
        self.package_id = package_id
        self.natives = natives

    def run(
        self, tx: WorkingSet, command: Any, inputs: list[Arg], results: list[list[Arg]], gas_id: str
    ) -> list[Arg]:
        """Execute `command`; returns its results (what later commands may reference)."""
        kind, value = command.enum_name, command.value

        def arg(a: Any) -> Arg:
            return resolve(a, inputs, results, gas_id)

        if kind == "SplitCoin":
            return self._split(tx, value, arg)
        if kind == "MergeCoins":
            target = coin_of(tx, arg(value.ToCoin))
            for source_arg in value.FromCoins:
                source = coin_of(tx, arg(source_arg), by_value=True)
                if source.object_id == target.object_id:
                    raise ExecutionFailure("cannot merge a coin into itself")
                set_coin_value(target, coin_value(target) + coin_value(source))
                tx.delete(source)
            return []
        if kind == "TransferObjects":
            self._transfer(tx, value, arg, gas_id)
            return []
        if kind == "MakeMoveVec":
            return [self._make_move_vec(value, arg)]
        if kind == "MoveCall":
            return self._move_call(tx, value, arg)
        raise InvalidTransaction(f"unsupported command {kind}", reason="unsupported_command")

    @staticmethod
    def _split(tx: WorkingSet, value: Any, arg: Callable[[Any], Arg]) -> list[Arg]:
        source = coin_of(tx, arg(value.FromCoin))
        out: list[Arg] = []
        for amount_arg in value.Amount:
            amount = pure_of(arg(amount_arg), "u64")
            if amount > coin_value(source):
                raise ExecutionFailure(
                    f"coin holds {coin_value(source)} MIST, cannot split {amount}",
                    "InsufficientCoinBalance",
                )
            set_coin_value(source, coin_value(source) - amount)
            coin = tx.new_object(
                COIN_SUI_TYPE, {"id": "", "balance": {"value": str(amount)}}, shared=False
            )
            out.append(ObjRef(coin.object_id, True, True))
        return out

    @staticmethod
    def _transfer(tx: WorkingSet, value: Any, arg: Callable[[Any], Arg], gas_id: str) -> None:
        recipient = pure_of(arg(value.Address), "address")
        for obj_arg in value.Objects:
            ref = arg(obj_arg)
            is_gas = isinstance(ref, ObjRef) and ref.object_id == gas_id
            if not isinstance(ref, ObjRef) or not (ref.by_value or is_gas):
                raise ExecutionFailure(
                    "only owned objects and fresh values can be transferred",
                    "InvalidTransferObject",
                )
            tx.transfer(tx.get(ref.object_id), recipient)
            if is_gas:  # the gas coin stays usable for charging
                tx.moved.discard(gas_id)

    @staticmethod
    def _make_move_vec(value: Any, arg: Callable[[Any], Arg]) -> Arg:
        if value.TypeTag.value is None:
            raise ExecutionFailure("MakeMoveVec of objects is not supported on the devnet")
        element = PURE_KIND_OF_TYPE.get(type_tag_str(value.TypeTag.value))
        if element is None or element.startswith(("vector", "option")):
            raise ExecutionFailure("MakeMoveVec supports u8, u64, address, bool and String")
        items = [pure_of(arg(a), element) for a in value.Vector]
        if element == "u8":
            return Value(bytes(items), "vector<u8>")
        return Value(items, f"vector<{element}>")

    def _function(self, call: Any) -> tuple[NativeFunction, list[str]]:
        package = normalize_address(call.Package.to_address_str())
        key = (str(call.Module), str(call.Function))
        if package == self.package_id:
            fn = self.natives.get(key)
        elif package == SUI_FRAMEWORK:
            fn = FRAMEWORK.get(key)
        else:
            fn = None
        if fn is None:
            raise ExecutionFailure(
                f"function {package}::{key[0]}::{key[1]} not found", "FunctionNotFound"
            )
        type_args = [type_tag_str(t) for t in call.Type_Arguments]
        if len(type_args) != fn.type_params:
            raise ExecutionFailure(
                f"{key[0]}::{key[1]} takes {fn.type_params} type arguments", "TypeArityMismatch"
            )
        if fn.package == SUI_FRAMEWORK and key[0] in ("coin", "pay") and type_args != [SUI_TYPE]:
            raise ExecutionFailure("only Coin<0x2::sui::SUI> exists on the devnet", "TypeMismatch")
        return fn, type_args

    def _move_call(self, tx: WorkingSet, call: Any, arg: Callable[[Any], Arg]) -> list[Arg]:
        fn, type_args = self._function(call)
        if len(call.Arguments) != len(fn.params):
            raise ExecutionFailure(
                f"{fn.module}::{fn.name} takes {len(fn.params)} arguments, "
                f"got {len(call.Arguments)}",
                "ArityMismatch",
            )
        args = [arg(a) for a in call.Arguments]
        values = [
            bind(tx, instantiate(p, type_args), a) for p, a in zip(fn.params, args, strict=True)
        ]
        tx.command_module = (fn.package, fn.module)
        try:
            returned = fn.impl(tx, *values)
        except MoveAbort as abort:
            # The status names the module where the abort fired (as Sui does) and the public
            # function this command called (Sui would name an internal helper, if any).
            abort.package = abort.package or fn.package
            abort.function = fn.name
            raise
        finally:
            tx.command_module = None
        out: list[Arg] = []
        for value, type_ in zip(returned, fn.returns, strict=True):
            if isinstance(value, StoredObject):
                out.append(ObjRef(value.object_id, True, True))
            else:
                out.append(Value(value, type_))
        return out
