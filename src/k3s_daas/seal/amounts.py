"""Amounts of SUI as users write them (`1.5SUI`, `100MIST`, `100`) and as we print them.

One parser for every place an amount is taken (CLI options, worker config, `up`'s stakes), so
`1.5SUI` means the same everywhere and a mistake is one line naming the fix. Amounts are MIST
(u64) inside; a plain number is MIST and must be whole, so `1.5` is refused, never guessed.
"""

from __future__ import annotations

import re
from typing import Final

from k3s_daas.seal.errors import K3sDaasError

MIST_PER_SUI: Final = 1_000_000_000
SUI_DECIMALS: Final = 9
MAX_MIST: Final = 2**64 - 1
EXAMPLES: Final = "write e.g. 1.5SUI, 100MIST or 100 (MIST)"

_AMOUNT = re.compile(r"(?P<number>\d+(?:_\d+)*(?:\.\d+)?)\s*(?P<unit>[a-z]*)", re.IGNORECASE)
_SHOWN = 40  # characters of a bad input echoed back


class AmountError(K3sDaasError, ValueError):
    """An amount that is not a whole number of MIST within u64 (written as SUI or MIST)."""

    reason = "invalid_amount"


def _explain(text: str) -> str:
    """Why `text` is not an amount (it did not match the grammar)."""
    if not text:
        return f"is empty: {EXAMPLES}"
    if text[0] in "+-":
        return f"must not have a sign: {EXAMPLES}"
    if re.fullmatch(r"[\d._]+e[-+]?\d+\s*[a-z]*", text, re.IGNORECASE):
        return f"must not use an exponent: {EXAMPLES}"
    return f"is not an amount: {EXAMPLES}"


def parse_amount(value: str | int, what: str = "amount", *, allow_zero: bool = False) -> int:
    """MIST from `1.5SUI`, `1.5 sui`, `100MIST`, `1_000` or an int; AmountError (one line) else."""
    if isinstance(value, bool):
        raise AmountError(f"{what} must be a number, not {value}")
    if isinstance(value, int):
        mist = value
        shown = str(value)
    else:
        shown = value.strip()
        match = _AMOUNT.fullmatch(shown)
        if match is None:
            raise AmountError(f"{what} {shown[:_SHOWN]!r} {_explain(shown)}")
        mist = _to_mist(match.group("number"), match.group("unit").upper(), what, shown)
    if mist < 0:
        raise AmountError(f"{what} {shown[:_SHOWN]!r} must not be negative")
    if mist > MAX_MIST:
        raise AmountError(f"{what} {shown[:_SHOWN]!r} exceeds {MAX_MIST} MIST (u64)")
    if mist == 0 and not allow_zero:
        raise AmountError(f"{what} must be more than 0: {EXAMPLES}")
    return mist


def _to_mist(number: str, unit: str, what: str, shown: str) -> int:
    whole, _, fraction = number.replace("_", "").partition(".")
    quoted = repr(shown[:_SHOWN])
    if unit == "SUI":
        if len(fraction) > SUI_DECIMALS:
            raise AmountError(
                f"{what} {quoted} has more than {SUI_DECIMALS} decimals (1 MIST = 0.000000001 SUI)"
            )
        return int(whole) * MIST_PER_SUI + int(fraction.ljust(SUI_DECIMALS, "0") or "0")
    if unit not in ("", "MIST"):
        raise AmountError(f"{what} {quoted} has an unknown unit {unit!r}: use SUI or MIST")
    if fraction:
        plain = "a plain number is MIST" if unit == "" else "MIST is the smallest unit"
        raise AmountError(f"{what} {quoted}: {plain} and must be whole; for SUI write {number}SUI")
    return int(whole)


def format_sui(mist: int) -> str:
    """`1.5 SUI`: exact, without trailing zeros."""
    whole, fraction = divmod(mist, MIST_PER_SUI)
    decimals = f"{fraction:0{SUI_DECIMALS}d}".rstrip("0")
    return f"{whole}.{decimals} SUI" if decimals else f"{whole} SUI"


def format_amount(mist: int) -> str:
    """Both ways, as every human-readable output prints an amount: `1.5 SUI (1500000000 MIST)`."""
    return f"{format_sui(mist)} ({mist} MIST)"


def short_amount(mist: int) -> str:
    """The narrow form for tables: MIST below 0.001 SUI (`100 MIST`), else SUI (`1.5 SUI`)."""
    return f"{mist} MIST" if mist < MIST_PER_SUI // 1000 else format_sui(mist)
