"""The shared primitives (seal.encoding, seal.sui): one implementation each, pinned here."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from k3s_daas.seal.encoding import (
    MAX_JSON_DEPTH,
    b64decode,
    b64encode,
    canonical_json,
    check_json_depth,
    first_error,
    parse_json,
    read_uleb128,
    uleb128,
)
from k3s_daas.seal.sui import (
    COIN_SUI_TYPE,
    derive_dynamic_field_id,
    derive_object_id,
    is_address,
    normalize_address,
    normalize_type,
    parse_struct_tag,
)


def test_canonical_json_is_sorted_compact_ascii() -> None:
    assert canonical_json({"b": 1, "a": "é", "c": [1, {"z": 0, "y": 1}]}) == (
        b'{"a":"\\u00e9","b":1,"c":[1,{"y":1,"z":0}]}'
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_canonical_json_is_json_dumps_with_its_options(value: Any) -> None:
    """The encoder made once (CPython's C encoder) writes what `json.dumps` writes with the same
    options, for any JSON value: signatures and audit hashes made before it still verify."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False).encode("ascii")  # fmt: skip
    assert canonical_json(value) == expected


def test_canonical_json_refuses_what_json_cannot_hold() -> None:
    for bad in (float("inf"), [float("-inf")], {"x": float("nan")}):
        with pytest.raises(ValueError, match="not JSON compliant"):
            canonical_json(bad)
    with pytest.raises(TypeError, match="not JSON serializable"):
        canonical_json({"x": object()})
    with pytest.raises(TypeError):
        canonical_json({(1, 2): 3})  # keys are strings (numbers and None are written as such)
    assert canonical_json({2: None, 1: 2.5}) == b'{"1":2.5,"2":null}'


def nested(depth: int) -> bytes:
    """`depth` levels, objects and arrays in turn."""
    body = b"1"
    for level in range(depth):
        body = b'{"a":' + body + b"}" if level % 2 else b"[" + body + b"]"
    return body


def test_json_nesting_is_bounded_before_parsing() -> None:
    assert parse_json(nested(MAX_JSON_DEPTH)) is not None
    assert parse_json(rb'{"a": "[[[[{{{{\"]]", "b": [1, {"c": []}]}') == {
        "a": '[[[[{{{{"]]',
        "b": [1, {"c": []}],
    }
    for deep in (nested(MAX_JSON_DEPTH + 1), b"[" * 1000 + b"]" * 1000, b"[" * 200_000):
        with pytest.raises(ValueError, match="nested deeper than 32 levels"):
            parse_json(deep)
    for unbalanced in (b"[[1]", b"[1]]", b"][", b'{"a": [}'):
        with pytest.raises(ValueError):
            parse_json(unbalanced)
    check_json_depth(b"[[[]]]", max_depth=3)
    with pytest.raises(ValueError):
        check_json_depth(b"[[[[]]]]", max_depth=3)
    check_json_depth(b'["' + b"\\" * 5000 + b'"]')  # escapes end a string where JSON does
    check_json_depth(b'"unterminated [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[')


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (2**32 - 1, b"\xff\xff\xff\xff\x0f"),
    ],
)
def test_uleb128_round_trip(value: int, encoded: bytes) -> None:
    assert uleb128(value) == encoded
    assert read_uleb128(b"\xaa" + encoded + b"\x01", 1) == (value, 1 + len(encoded))


@pytest.mark.parametrize("bad", [b"", b"\x80", b"\x80\x80\x80\x80\x80\x01"])
def test_read_uleb128_refuses_truncated_or_overlong(bad: bytes) -> None:
    with pytest.raises(ValueError):
        read_uleb128(bad)


def test_base64_is_strict() -> None:
    assert b64decode(b64encode(b"\x00\xff")) == b"\x00\xff"
    with pytest.raises(ValueError):
        b64decode("not*base64")


def test_first_error_names_the_field_not_the_value() -> None:
    class Body(BaseModel):
        amount: int

    with pytest.raises(ValidationError) as info:
        Body.model_validate({"amount": "secret-looking-value"})
    line = first_error(info.value)
    assert line.startswith("amount: ")
    assert "secret-looking-value" not in line


def test_addresses_and_types_normalise_like_sui() -> None:
    assert normalize_address("0x2") == "0x" + "0" * 63 + "2"
    assert normalize_address("0xABC") == "0x" + "0" * 61 + "abc"
    assert normalize_address("ab" * 32) == "0x" + "ab" * 32  # the prefix is optional
    for bad in ["", "0x", "0xg", "0x" + "1" * 65, "0x1\n", " 0x1", "0x1 ", "0x٣", "0x0x1",
                "0x\uff11", "0x-1"]:  # fmt: skip
        assert not is_address(bad)
    assert normalize_type(" 0x2::coin::Coin<0x2::sui::SUI> ") == COIN_SUI_TYPE


def test_derived_ids_are_deterministic_and_distinct() -> None:
    digest = "11111111111111111111111111111111"
    first, second = derive_object_id(digest, 0), derive_object_id(digest, 1)
    assert first != second and is_address(first) and first == derive_object_id(digest, 0)
    parent = "0x5"
    assert derive_dynamic_field_id(parent, b"a") != derive_dynamic_field_id(parent, b"b")


def test_struct_tags_parse_fully_and_match_as_on_sui() -> None:
    coin = parse_struct_tag("0x2::coin::Coin<0x2::sui::SUI>")
    assert str(coin) == COIN_SUI_TYPE
    assert coin.base == COIN_SUI_TYPE.split("<")[0]
    nested = parse_struct_tag("0x1::m::T<u8, vector<0x2::a::B<u64>>, address>")
    assert nested.type_params == (
        "u8",
        f"vector<{normalize_address('0x2')}::a::B<u64>>",
        "address",
    )
    bare = parse_struct_tag("0x2::coin::Coin")
    assert bare.matches(coin)  # no type params: every instantiation
    assert coin.matches(parse_struct_tag(f" {COIN_SUI_TYPE} "))
    assert not coin.matches(parse_struct_tag("0x2::coin::Coin<0x2::sui::NOPE>"))
    assert not parse_struct_tag("0x2::coin::CoinX").matches(coin)  # never a prefix match


@pytest.mark.parametrize(
    "text",
    ["", "0x2", "0x2::coin", "0x2::coin::", "coin::Coin", "0x2::coin::Coin<", "0x2::coin::Coin<>",
     "0x2::coin::Coin x", "0xZZ::a::B", "0x2::_::B", "0x2::1a::B", "0x2::a::B<vector<u8>",
     "0x" + "1" * 65 + "::a::B", "0x2::a::B<" * 20 + ">" * 20, "x" * 2000],
)  # fmt: skip
def test_anything_but_a_struct_tag_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_struct_tag(text)
