"""The subset of the Sui framework (0x2) the devnet runs natively: coins, transfer, clock, and
`nitro_attestation::load_nitro_attestation` (verifying against the devnet's pinned root).

These are the functions pysui's builder and our own PTBs call (`coin::split`/`join`/`value`/
`zero`/`destroy_zero`, `pay::split`/`split_and_transfer`/`divide_and_keep`/`join`,
`transfer::public_transfer`, `clock::timestamp_ms`), with Sui's abort codes where they can abort.
Only SUI coins exist on the devnet, so every coin function's `T0` must be `0x2::sui::SUI`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from k3s_daas.attestation import AttestationError, verify_document
from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.package import FunctionSignature, NativeFunction, signature_of
from k3s_daas.devnet.package.runtime import (
    CLOCK_TYPE,
    DOCUMENT_TYPE,
    AttestationFields,
    MoveAbort,
    Runtime,
    coin_value,
    parse_params,
    set_coin_value,
)
from k3s_daas.seal.sui import COIN_SUI_TYPE, SUI_FRAMEWORK

COIN_T = f"{SUI_FRAMEWORK}::coin::Coin<T0>"
# Sui framework abort codes (sui::balance, sui::coin, sui::nitro_attestation).
BALANCE_ENONZERO = 0
BALANCE_ENOTENOUGH = 2
COIN_EINVALIDARG = 1
COIN_ENOTENOUGH = 2
NITRO_EPARSE = 1
NITRO_EVERIFY = 2


def _new_coin(rt: Runtime, value: int, owner: str | None = None) -> StoredObject:
    return rt.new_object(
        COIN_SUI_TYPE, {"id": "", "balance": {"value": str(value)}}, shared=False, owner=owner
    )


def _take(coin: StoredObject, amount: int) -> None:
    """`balance::split`: abort ENotEnough when the coin holds less than `amount`."""
    value = coin_value(coin)
    if amount > value:
        raise MoveAbort("balance", "split", BALANCE_ENOTENOUGH, SUI_FRAMEWORK)
    set_coin_value(coin, value - amount)


def coin_value_of(_rt: Runtime, coin: StoredObject) -> list[Any]:
    """`coin::value`."""
    return [coin_value(coin)]


def coin_split(rt: Runtime, coin: StoredObject, amount: int) -> list[Any]:
    """`coin::split`: a new coin of `amount` taken from `coin` (returned, must be placed)."""
    _take(coin, amount)
    return [_new_coin(rt, amount)]


def coin_join(rt: Runtime, coin: StoredObject, other: StoredObject) -> list[Any]:
    """`coin::join`: `other` is destroyed into `coin`."""
    set_coin_value(coin, coin_value(coin) + coin_value(other))
    rt.delete(other)
    return []


def coin_zero(rt: Runtime) -> list[Any]:
    """`coin::zero`."""
    return [_new_coin(rt, 0)]


def coin_destroy_zero(rt: Runtime, coin: StoredObject) -> list[Any]:
    """`coin::destroy_zero`: abort ENonZero unless the coin is empty."""
    if coin_value(coin) != 0:
        raise MoveAbort("balance", "destroy_zero", BALANCE_ENONZERO, SUI_FRAMEWORK)
    rt.delete(coin)
    return []


def pay_split(rt: Runtime, coin: StoredObject, amount: int) -> list[Any]:
    """`pay::split`: split off `amount` and send it to the sender."""
    _take(coin, amount)
    _new_coin(rt, amount, owner=rt.sender)
    return []


def pay_split_and_transfer(
    rt: Runtime, coin: StoredObject, amount: int, recipient: str
) -> list[Any]:
    """`pay::split_and_transfer`."""
    _take(coin, amount)
    _new_coin(rt, amount, owner=recipient)
    return []


def pay_divide_and_keep(rt: Runtime, coin: StoredObject, n: int) -> list[Any]:
    """`pay::divide_and_keep` (pysui's split_coin_equal): n-1 equal coins to the sender."""
    value = coin_value(coin)
    if n == 0:
        raise MoveAbort("coin", "divide_into_n", COIN_EINVALIDARG, SUI_FRAMEWORK)
    if n > value:
        raise MoveAbort("coin", "divide_into_n", COIN_ENOTENOUGH, SUI_FRAMEWORK)
    share = value // n
    for _ in range(n - 1):
        _take(coin, share)
        _new_coin(rt, share, owner=rt.sender)
    return []


def public_transfer(rt: Runtime, obj: StoredObject, recipient: str) -> list[Any]:
    """`transfer::public_transfer<T: key + store>`."""
    rt.transfer(obj, recipient)
    return []


def clock_timestamp_ms(_rt: Runtime, clock: StoredObject) -> list[Any]:
    """`clock::timestamp_ms`."""
    return [int(clock.fields["timestamp_ms"])]


def attestation_verifier(root: x509.Certificate) -> Callable[[bytes, int], AttestationFields]:
    """What `load_nitro_attestation` checks on the devnet: chain to the devnet's pinned root,
    ES384 signature, certificate validity at the Clock's time. A document that fails comes back
    unverified, and `register_enclave`/`update_enclave` abort with E_INVALID_ATTESTATION; PCRs
    are compared by those functions."""

    def verify(document: bytes, now_ms: int) -> AttestationFields:
        try:
            doc = verify_document(
                document,
                root=root,
                expected_pcrs=None,
                expected_nonce=None,
                max_age=None,
                now=datetime.fromtimestamp(now_ms / 1000, tz=UTC),
            )
        except AttestationError:
            return AttestationFields({}, None, 0, verified=False)
        return AttestationFields(dict(doc.pcrs), doc.public_key, doc.timestamp_ms)

    return verify


def load_nitro_attestation(rt: Runtime, document: bytes, _clock: StoredObject) -> list[Any]:
    """Verify the document (chain to the pinned root, ES384, validity at the Clock's time)."""
    return [rt.verify_attestation(document)]


_COIN_FNS: list[tuple[str, str, str, tuple[str, ...], Callable[..., list[Any]], str | None]] = [
    ("coin", "value", "ref:coin", ("u64",), coin_value_of, None),
    ("coin", "split", "mut:coin pure:u64", (COIN_T,), coin_split, "mutable"),
    ("coin", "join", "mut:coin val:coin", (), coin_join, None),
    ("coin", "zero", "", (COIN_T,), coin_zero, "mutable"),
    ("coin", "destroy_zero", "val:coin", (), coin_destroy_zero, None),
    ("pay", "split", "mut:coin pure:u64", (), pay_split, "mutable"),
    ("pay", "split_and_transfer", "mut:coin pure:u64 pure:address", (), pay_split_and_transfer,
     "mutable"),
    ("pay", "divide_and_keep", "mut:coin pure:u64", (), pay_divide_and_keep, "mutable"),
    ("pay", "join", "mut:coin val:coin", (), coin_join, None),
    ("transfer", "public_transfer", "val:T0 pure:address", (), public_transfer, None),
]  # fmt: skip


def framework_functions() -> dict[tuple[str, str], NativeFunction]:
    """(module, function) -> NativeFunction for the 0x2 functions the devnet serves."""
    aliases = {"coin": COIN_T, "clock": CLOCK_TYPE}
    table = {
        (module, name): NativeFunction(
            SUI_FRAMEWORK, module, name, parse_params(spec, aliases), returns, impl, ctx, 1
        )
        for module, name, spec, returns, impl, ctx in _COIN_FNS
    }
    table[("clock", "timestamp_ms")] = NativeFunction(
        SUI_FRAMEWORK, "clock", "timestamp_ms", parse_params("ref:clock", aliases), ("u64",),
        clock_timestamp_ms, None,
    )  # fmt: skip
    table[("nitro_attestation", "load_nitro_attestation")] = NativeFunction(
        SUI_FRAMEWORK, "nitro_attestation", "load_nitro_attestation",
        parse_params("pure:vector<u8> ref:clock", aliases), (DOCUMENT_TYPE,),
        load_nitro_attestation, None, 0, True,
    )  # fmt: skip
    return table


FRAMEWORK = framework_functions()
#: GetFunction table for 0x2: (module, function) -> signature (same shape as package.FUNCTIONS).
FRAMEWORK_SIGNATURES: dict[tuple[str, str], FunctionSignature] = {
    key: signature_of(fn) for key, fn in FRAMEWORK.items()
}
