"""parse_token only ever returns a SealToken or raises TokenFormatError, whatever it is given."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from k3s_daas.seal import SealToken, TokenFormatError, parse_token

HEX = "0123456789abcdef"
near_tokens = st.builds(
    lambda a, b: "seal_" + a + b,
    st.text(alphabet=HEX + "ABCDEFxyz_-é\x00", min_size=60, max_size=68),
    st.text(alphabet=HEX + "G ", min_size=60, max_size=68),
)
anything = st.one_of(
    st.text(max_size=300),
    near_tokens,
    st.binary(max_size=200),
    st.integers(),
    st.none(),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=600, deadline=None)
@given(anything)
def test_parse_token_total(value: object) -> None:
    try:
        result = parse_token(value)
    except TokenFormatError as exc:
        assert exc.reason == "invalid_format"
        assert str(exc)
    else:
        assert isinstance(result, SealToken)
        assert str(result) == value


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_valid_tokens_round_trip(object_id: bytes, secret: bytes) -> None:
    token = "seal_" + object_id.hex() + secret.hex()
    parsed = parse_token(token)
    assert parsed.object_id == "0x" + object_id.hex()
    assert parsed.secret == secret
