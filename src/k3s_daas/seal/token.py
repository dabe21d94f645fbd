"""The Seal token string: `seal_` + 64 hex (SealToken object id) + 64 hex (32-byte secret).

Only SHA-256(secret) goes on chain, so a token cannot be lifted off the public ledger (the seed's
did exactly that). Raw tokens are never logged or cached: use `token_fingerprint`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from k3s_daas.seal.constants import TOKEN_HASH_LENGTH
from k3s_daas.seal.errors import TokenFormatError
from k3s_daas.seal.sui import normalize_address

PREFIX = "seal_"
TOKEN_LENGTH = len(PREFIX) + 64 + 64  # 133
_TOKEN_RE = re.compile(r"seal_([0-9a-f]{64})([0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class SealToken:
    """A parsed token: the on-chain object id (0x + 64 hex), the 32-byte secret, and the
    token's fingerprint (computed once here: callers pass the parsed token along, not the text)."""

    object_id: str
    secret: bytes
    fingerprint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", token_fingerprint(str(self)))

    @classmethod
    def _of_text(cls, text: str, object_id: str, secret: bytes) -> SealToken:
        """The token `text` that `parse_token` just matched (so it is already `str(token)`, and
        its fingerprint is that of `text`): no formatting it back on every request."""
        token = object.__new__(cls)
        object.__setattr__(token, "object_id", object_id)
        object.__setattr__(token, "secret", secret)
        object.__setattr__(token, "fingerprint", token_fingerprint(text))
        return token

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"SealToken(object_id={self.object_id!r}, secret=<redacted>)"

    def __str__(self) -> str:
        return format_token(self.object_id, self.secret)

    @property
    def commitment(self) -> bytes:
        return secret_commitment(self.secret)


def normalize_object_id(object_id: str) -> str:
    """`0x`-prefixed, 64 lower-case hex digits, as Sui renders object ids and addresses
    (`seal.sui.normalize_address`, failing with TokenFormatError and without echoing input)."""
    if not isinstance(object_id, str) or len(object_id) > 66:
        raise TokenFormatError("object id must be at most 64 hex digits", reason="invalid_format")
    try:
        return normalize_address(object_id)
    except ValueError:
        raise TokenFormatError("object id is not hex", reason="invalid_format") from None


def new_secret() -> bytes:
    """A fresh 32-byte secret from the OS CSPRNG (drawn by the worker, never sent)."""
    return secrets.token_bytes(32)


def format_token(object_id: str, secret: bytes) -> str:
    if len(secret) != 32:
        raise TokenFormatError("secret must be 32 bytes")
    return PREFIX + normalize_object_id(object_id)[2:] + secret.hex()


def parse_token(token: object) -> SealToken:
    """Parse strictly; the length is checked before anything else looks at the input."""
    if not isinstance(token, str):
        raise TokenFormatError("token must be a string")
    if len(token) != TOKEN_LENGTH:
        raise TokenFormatError(f"token must be {TOKEN_LENGTH} characters, got {len(token)}")
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        if not token.startswith(PREFIX):
            raise TokenFormatError("token must start with 'seal_'")
        raise TokenFormatError("token must be 'seal_' followed by 128 lower-case hex digits")
    return SealToken._of_text(token, "0x" + match.group(1), bytes.fromhex(match.group(2)))


def token_fingerprint(token: str) -> str:
    """SHA-256 of the whole token string, hex: the only form a token is logged or cached in."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def short_fingerprint(token: str) -> str:
    """The first 16 hex digits of the fingerprint, for humans."""
    return token_fingerprint(token)[:16]


def secret_commitment(secret: bytes) -> bytes:
    """SHA-256(secret): what the SealToken stores on chain as `token_hash`."""
    return hashlib.sha256(secret).digest()


def commitment_matches(secret: bytes, token_hash: bytes) -> bool:
    """Constant-time check that `secret` opens the on-chain commitment."""
    if len(token_hash) != TOKEN_HASH_LENGTH:
        return False
    return hmac.compare_digest(secret_commitment(secret), token_hash)
