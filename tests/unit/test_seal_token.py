"""The Seal token string: strict parsing, fingerprints, commitments."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k3s_daas.seal import (
    SealToken,
    TokenFormatError,
    commitment_matches,
    format_token,
    new_secret,
    normalize_object_id,
    parse_token,
    secret_commitment,
    token_fingerprint,
)
from k3s_daas.seal.token import TOKEN_LENGTH

OBJECT_ID = "0x" + "1f" * 32
SECRET = bytes(range(32))
TOKEN = "seal_" + "1f" * 32 + SECRET.hex()


def test_round_trip() -> None:
    assert format_token(OBJECT_ID, SECRET) == TOKEN
    parsed = parse_token(TOKEN)
    assert parsed == SealToken(object_id=OBJECT_ID, secret=SECRET)
    assert str(parsed) == TOKEN
    assert len(TOKEN) == TOKEN_LENGTH == 133


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_a_parsed_token_is_the_token_built_from_its_parts(object_id: bytes, secret: bytes) -> None:
    """`parse_token` skips formatting the text back (the heartbeat path parses one per request):
    what it returns is equal to, prints as and fingerprints as the token built from the parts."""
    built = SealToken(object_id="0x" + object_id.hex(), secret=secret)
    text = str(built)
    parsed = parse_token(text)
    assert parsed == built
    assert str(parsed) == text
    assert parsed.fingerprint == built.fingerprint == token_fingerprint(text)
    assert (parsed.object_id, parsed.secret) == (built.object_id, built.secret)


def test_repr_hides_secret() -> None:
    parsed = parse_token(TOKEN)
    assert SECRET.hex() not in repr(parsed)
    assert "redacted" in repr(parsed)


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("", "133 characters"),
        ("seal_", "133 characters"),
        (TOKEN + "0", "133 characters"),
        (TOKEN[:-1], "133 characters"),
        ("mock_" + TOKEN[5:], "must start with 'seal_'"),
        ("SEAL_" + TOKEN[5:], "must start with 'seal_'"),
        (TOKEN[:-1] + "G", "hex"),
        (TOKEN.upper().replace("SEAL_", "seal_"), "lower-case hex"),
        ("x" * 10_000, "133 characters"),
        ("seal_" + "é" * 128, "hex"),
    ],
)
def test_malformed_tokens_raise_token_format_error(token: str, fragment: str) -> None:
    with pytest.raises(TokenFormatError) as info:
        parse_token(token)
    assert fragment in str(info.value)
    assert info.value.reason == "invalid_format"


@pytest.mark.parametrize("value", [None, 5, b"seal_", ["seal_"]])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(TokenFormatError):
        parse_token(value)


def test_fingerprint_is_sha256_of_token() -> None:
    assert token_fingerprint(TOKEN) == hashlib.sha256(TOKEN.encode()).hexdigest()
    assert token_fingerprint(TOKEN) != token_fingerprint(TOKEN[:-1] + "0")


def test_commitment_checks() -> None:
    commitment = secret_commitment(SECRET)
    assert commitment == hashlib.sha256(SECRET).digest()
    assert commitment_matches(SECRET, commitment)
    assert not commitment_matches(SECRET[:-1] + b"\x00", commitment)
    assert not commitment_matches(SECRET, commitment[:-1])  # wrong length never matches
    assert not commitment_matches(SECRET, b"")


def test_new_secret_is_random_32_bytes() -> None:
    secrets_drawn = {new_secret() for _ in range(50)}
    assert len(secrets_drawn) == 50
    assert all(len(s) == 32 for s in secrets_drawn)


def test_format_rejects_bad_secret_length() -> None:
    with pytest.raises(TokenFormatError):
        format_token(OBJECT_ID, b"short")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("0x2", "0x" + "0" * 63 + "2"), ("ABC", "0x" + "0" * 61 + "abc"), (OBJECT_ID, OBJECT_ID)],
)
def test_normalize_object_id(given: str, expected: str) -> None:
    assert normalize_object_id(given) == expected


@pytest.mark.parametrize("bad", ["", "0x", "0xzz", "1" * 65, "0x" + "1" * 65])
def test_normalize_object_id_rejects(bad: str) -> None:
    with pytest.raises(TokenFormatError):
        normalize_object_id(bad)
