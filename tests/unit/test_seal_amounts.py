"""Amounts as users write them: `1.5SUI`, `100MIST` and plain MIST, one parser for every
command and the worker config; bad input is one line saying how to write it."""

from __future__ import annotations

import pytest

from k3s_daas.seal.amounts import (
    MAX_MIST,
    AmountError,
    format_amount,
    format_sui,
    parse_amount,
    short_amount,
)


@pytest.mark.parametrize(
    ("text", "mist"),
    [
        ("1.5SUI", 1_500_000_000),
        ("1.5 SUI", 1_500_000_000),
        ("1.5sui", 1_500_000_000),
        ("2SUI", 2_000_000_000),
        ("0.000000001SUI", 1),
        ("100MIST", 100),
        ("100 mist", 100),
        ("100", 100),
        (" 1_000 ", 1_000),
        ("18446744073709551615", MAX_MIST),
        (250, 250),
    ],
)
def test_parses_sui_mist_and_plain_integers(text: str | int, mist: int) -> None:
    assert parse_amount(text) == mist


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1.5", "a plain number is MIST and must be whole; for SUI write 1.5SUI"),
        ("1.5MIST", "MIST is the smallest unit"),
        ("-1SUI", "must not have a sign"),
        ("+1SUI", "must not have a sign"),
        ("1e3SUI", "must not use an exponent"),
        ("1e3", "must not use an exponent"),
        ("1.0000000001SUI", "more than 9 decimals"),
        ("10ETH", "unknown unit 'ETH'"),
        ("12abc", "unknown unit"),
        ("", "is empty"),
        ("SUI", "is not an amount"),
        ("1.SUI", "is not an amount"),
        ("0", "must be more than 0"),
        ("0SUI", "must be more than 0"),
        ("18446744073709551616", "exceeds 18446744073709551615 MIST"),
        ("18446744074SUI", "exceeds"),
        (-5, "must not be negative"),
        (True, "must be a number"),
    ],
)
def test_bad_amounts_are_one_line_errors(text: str | int, fragment: str) -> None:
    with pytest.raises(AmountError) as err:
        parse_amount(text)
    message = err.value.message
    assert fragment in message
    assert "\n" not in message
    assert err.value.reason == "invalid_amount"
    assert isinstance(err.value, ValueError)  # pydantic validators turn it into a field error


def test_long_input_is_not_echoed_whole_and_zero_can_be_allowed() -> None:
    with pytest.raises(AmountError) as err:
        parse_amount("x" * 500)
    assert len(err.value.message) < 150
    assert parse_amount("0", allow_zero=True) == 0
    with pytest.raises(AmountError, match=r"^stake "):
        parse_amount("1.5", "stake")


def test_printed_both_ways_exactly() -> None:
    assert format_sui(1_500_000_000) == "1.5 SUI"
    assert format_sui(10 * 10**9) == "10 SUI"
    assert format_sui(100) == "0.0000001 SUI"
    assert format_sui(0) == "0 SUI"
    assert format_amount(1_500_000_000) == "1.5 SUI (1500000000 MIST)"
    assert format_amount(1) == "0.000000001 SUI (1 MIST)"
    assert short_amount(10_000) == "10000 MIST"
    assert short_amount(2_500_000_000) == "2.5 SUI"
    for mist in (1, 100, 999_999, 1_500_000_000, MAX_MIST):  # what is printed parses back
        assert parse_amount(format_sui(mist).replace(" ", "")) == mist
