"""Structured proto `Transaction` (what SimulateTransaction receives) -> pysui BCS TransactionData.

ExecuteTransaction arrives as signed BCS, SimulateTransaction as Input/Command/Argument messages;
the executor takes one internal form (pysui's `bcs.TransactionData`), so this module turns the
second into the first. Object inputs missing a version/digest are resolved from the ledger;
a missing gas payment is chosen from the sender's coins (do_gas_selection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysui.sui.sui_bcs import bcs as sbcs
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.devnet.errors import BadRequest
from k3s_daas.devnet.ids import REFERENCE_GAS_PRICE
from k3s_daas.devnet.ledger import ObjectRow
from k3s_daas.devnet.objects import SharedOwner, coin_balance
from k3s_daas.seal.sui import normalize_address, normalize_type

MAX_INPUTS = 2048
MAX_COMMANDS = 1024
#: Budget used to simulate when the client sent none (50 SUI, Sui's max is 50 SUI too).
SIMULATION_BUDGET = 50_000_000_000

ObjectLookup = Callable[[str], ObjectRow | None]


def parse_address(text: str | None, what: str) -> str:
    """A request's address or object id field, normalised; BadRequest naming `what` if not."""
    if not text:
        raise BadRequest(f"{what} is required")
    try:
        return normalize_address(text)
    except ValueError as exc:
        raise BadRequest(f"{what}: {exc}") from None


def _argument(arg: v2.Argument | None) -> sbcs.Argument:
    kinds = v2.ArgumentArgumentKind
    if arg is None or arg.kind is None:
        raise BadRequest("argument without a kind")
    if arg.kind == kinds.GAS:
        return sbcs.Argument("GasCoin")
    if arg.kind == kinds.INPUT and arg.input is not None:
        return sbcs.Argument("Input", arg.input)
    if arg.kind == kinds.RESULT and arg.result is not None:
        if arg.subresult is not None:
            return sbcs.Argument("NestedResult", (arg.result, arg.subresult))
        return sbcs.Argument("Result", arg.result)
    raise BadRequest(f"malformed argument (kind {arg.kind})")


def _object_ref(object_id: str, version: int, digest: str) -> sbcs.ObjectReference:
    return sbcs.ObjectReference(
        sbcs.Address.from_str(object_id), version, sbcs.Digest.from_str(digest)
    )


def _input(inp: v2.Input, lookup: ObjectLookup) -> sbcs.CallArg:
    kinds = v2.InputInputKind
    if inp.kind == kinds.PURE or (inp.kind is None and inp.pure is not None):
        return sbcs.CallArg("Pure", list(inp.pure or b""))
    if inp.kind not in (kinds.IMMUTABLE_OR_OWNED, kinds.SHARED, kinds.RECEIVING, None):
        raise BadRequest(f"unsupported input kind {inp.kind}")
    object_id = parse_address(inp.object_id, "input object_id")
    row = lookup(object_id)
    shared = inp.kind == kinds.SHARED or (
        inp.kind is None and row is not None and isinstance(row.obj.owner, SharedOwner)
    )
    if shared:
        version = inp.version
        if version is None:
            if row is None or not isinstance(row.obj.owner, SharedOwner):
                raise BadRequest(f"shared input {object_id} not found or not shared")
            version = row.obj.owner.initial_shared_version
        mutable = bool(inp.mutable) or inp.mutability == v2.InputMutability.MUTABLE
        ref = sbcs.SharedObjectReference(sbcs.Address.from_str(object_id), version, mutable)
        return sbcs.CallArg("Object", sbcs.ObjectArg("SharedObject", ref))
    version, digest = inp.version, inp.digest
    if version is None or not digest:
        if row is None:
            raise BadRequest(f"input object {object_id} not found")
        version, digest = row.obj.version, row.digest
    variant = "Receiving" if inp.kind == kinds.RECEIVING else "ImmOrOwnedObject"
    return sbcs.CallArg("Object", sbcs.ObjectArg(variant, _object_ref(object_id, version, digest)))


def _type_tag(text: str) -> Any:
    try:
        return sbcs.TypeTag.type_tag_from(normalize_type(text))
    except Exception as exc:
        raise BadRequest(f"bad type argument {text[:100]!r}: {exc}") from None


def _command(cmd: v2.Command) -> sbcs.Command:
    if cmd.move_call is not None:
        call = cmd.move_call
        if not call.module or not call.function:
            raise BadRequest("move_call needs module and function")
        return sbcs.Command(
            "MoveCall",
            sbcs.ProgrammableMoveCall(
                sbcs.Address.from_str(parse_address(call.package, "move_call package")),
                call.module,
                call.function,
                [_type_tag(t) for t in call.type_arguments],
                [_argument(a) for a in call.arguments],
            ),
        )
    if cmd.split_coins is not None:
        split = cmd.split_coins
        return sbcs.Command(
            "SplitCoin",
            sbcs.SplitCoin(_argument(split.coin), [_argument(a) for a in split.amounts]),
        )
    if cmd.transfer_objects is not None:
        transfer = cmd.transfer_objects
        return sbcs.Command(
            "TransferObjects",
            sbcs.TransferObjects(
                [_argument(a) for a in transfer.objects], _argument(transfer.address)
            ),
        )
    if cmd.merge_coins is not None:
        merge = cmd.merge_coins
        return sbcs.Command(
            "MergeCoins",
            sbcs.MergeCoins(_argument(merge.coin), [_argument(a) for a in merge.coins_to_merge]),
        )
    if cmd.make_move_vector is not None:
        vec = cmd.make_move_vector
        tag = sbcs.OptionalTypeTag(_type_tag(vec.element_type) if vec.element_type else None)
        return sbcs.Command(
            "MakeMoveVec", sbcs.MakeMoveVec(tag, [_argument(a) for a in vec.elements])
        )
    raise BadRequest("unsupported command (publish/upgrade are not served by the devnet)")


def _expiration(exp: v2.TransactionExpiration | None) -> sbcs.TransactionExpiration:
    kinds = v2.TransactionExpirationTransactionExpirationKind
    if exp is None or exp.kind in (None, kinds.NONE, kinds.TRANSACTION_EXPIRATION_KIND_UNKNOWN):
        return sbcs.TransactionExpiration("None")
    if exp.kind == kinds.EPOCH and exp.epoch is not None:
        return sbcs.TransactionExpiration("Epoch", exp.epoch)
    return sbcs.TransactionExpiration("None")


def to_transaction_data(
    tx: v2.Transaction,
    lookup: ObjectLookup,
    gas_coins: Callable[[str, set[str]], list[ObjectRow]],
    gas_price: int = REFERENCE_GAS_PRICE,
) -> sbcs.TransactionData:
    """Internal form of a structured (or BCS) transaction; picks gas when the client left none."""
    if tx.bcs is not None and tx.bcs.value:
        try:
            data: sbcs.TransactionData = sbcs.TransactionData.deserialize(bytes(tx.bcs.value))
            return data
        except Exception as exc:
            raise BadRequest(f"transaction.bcs is not TransactionData: {exc}") from None
    kind = tx.kind
    ptb = kind.programmable_transaction if kind is not None else None
    if ptb is None:
        raise BadRequest("only programmable transactions can be simulated")
    if len(ptb.inputs) > MAX_INPUTS or len(ptb.commands) > MAX_COMMANDS:
        raise BadRequest("too many inputs or commands")
    sender = parse_address(tx.sender, "transaction.sender")
    inputs = [_input(i, lookup) for i in ptb.inputs]
    commands = [_command(c) for c in ptb.commands]
    payment = tx.gas_payment or v2.GasPayment()
    owner = parse_address(payment.owner, "gas owner") if payment.owner else sender
    price = payment.price or gas_price
    refs: list[sbcs.ObjectReference] = []
    for ref in payment.objects:
        object_id = parse_address(ref.object_id, "gas object_id")
        if ref.version is None or not ref.digest:
            row = lookup(object_id)
            if row is None:
                raise BadRequest(f"gas object {object_id} not found")
            refs.append(_object_ref(object_id, row.obj.version, row.digest))
        else:
            refs.append(_object_ref(object_id, ref.version, ref.digest))
    budget = payment.budget
    if not refs:
        in_use = {i.object_id for i in ptb.inputs if i.object_id}
        coins = gas_coins(owner, {parse_address(i, "input object_id") for i in in_use})
        if not coins:
            raise BadRequest(f"{owner} has no SUI coins to pay gas (use the faucet)")
        chosen: list[ObjectRow] = []
        total = 0
        for coin in coins:  # richest first, until the budget is covered
            chosen.append(coin)
            total += coin_balance(coin.obj) or 0
            if total >= (budget or SIMULATION_BUDGET):
                break
        refs = [_object_ref(c.obj.object_id, c.obj.version, c.digest) for c in chosen]
        if budget is None:
            budget = min(total, SIMULATION_BUDGET)
    if budget is None:
        budget = SIMULATION_BUDGET
    return sbcs.TransactionData(
        "V1",
        sbcs.TransactionDataV1(
            sbcs.TransactionKind(
                "ProgrammableTransaction", sbcs.ProgrammableTransaction(inputs, commands)
            ),
            sbcs.Address.from_str(sender),
            sbcs.GasData(refs, sbcs.Address.from_str(owner), price, budget),
            _expiration(tx.expiration),
        ),
    )
