"""The kubectl exec credential plugin: read the Seal token from its 0600 file and print an
ExecCredential v1 whose expirationTimestamp makes kubectl ask again when the token expires.

Token files are JSON `{"token": "seal_...", "expires_at": "<RFC 3339>"}` or a bare token line; a
bare token has no known expiry, so it is given one hour (kubectl re-runs the plugin then, and
after any 401). A worker-state file is read for its `token` and `token_expires_at` keys only.
`load` validates a file and records it in the credential cache, which answers the next calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from k3s_daas.kube import credential_cache
from k3s_daas.kube.credential_cache import MAX_FILE, SourceKind, exec_credential_object
from k3s_daas.kube.types import CredentialFileError
from k3s_daas.seal import TokenFormatError, parse_token

BARE_TOKEN_LIFETIME: Final = timedelta(hours=1)


@dataclass(frozen=True)
class Credential:
    """A token and when it stops being valid (UTC). repr never shows the token."""

    token: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"Credential(expires_at={self.expires_at.isoformat()})"


def _read(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE + 1)
    except FileNotFoundError as exc:
        raise CredentialFileError(f"{path}: no such file") from exc
    except OSError as exc:
        raise CredentialFileError(f"{path}: cannot read ({exc.strerror})") from exc
    if len(raw) > MAX_FILE:
        raise CredentialFileError(f"{path}: file too large")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CredentialFileError(f"{path}: not UTF-8 text") from exc


def _parse_time(value: Any, path: Path, key: str) -> datetime:
    if not isinstance(value, str):
        raise CredentialFileError(f"{path}: {key} must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CredentialFileError(f"{path}: {key} is not an RFC 3339 time") from exc
    if moment.tzinfo is None:
        raise CredentialFileError(f"{path}: {key} needs a time zone (e.g. a trailing Z)")
    return moment.astimezone(UTC)


def _checked(value: Any, path: Path) -> str:
    if not isinstance(value, str):
        raise CredentialFileError(f"{path}: no token in the file")
    token = value.strip()
    try:
        parse_token(token)
    except TokenFormatError as exc:
        raise CredentialFileError(f"{path}: the token is not a Seal token") from exc
    return token


def read_token_file(path: Path, now: datetime | None = None) -> Credential:
    """JSON {"token", "expires_at"} or a bare token line."""
    return _token_file(_read(path), path, now)


def _token_file(text: str, path: Path, now: datetime | None) -> Credential:
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CredentialFileError(f"{path}: invalid JSON") from exc
        if not isinstance(data, dict):
            raise CredentialFileError(f"{path}: expected a JSON object")
        token = _checked(data.get("token"), path)
        if data.get("expires_at") is None:
            return Credential(token, (now or datetime.now(UTC)) + BARE_TOKEN_LIFETIME)
        return Credential(token, _parse_time(data.get("expires_at"), path, "expires_at"))
    lines = text.splitlines()
    if len(lines) != 1:
        raise CredentialFileError(f"{path}: expected one token line")
    return Credential(_checked(lines[0], path), (now or datetime.now(UTC)) + BARE_TOKEN_LIFETIME)


def read_worker_state(path: Path, now: datetime | None = None) -> Credential:
    """Only `token` and `token_expires_at` of the worker agent's state file are read."""
    return _worker_state(_read(path), path, now)


def _worker_state(text: str, path: Path, now: datetime | None) -> Credential:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CredentialFileError(f"{path}: invalid JSON") from exc
    if not isinstance(data, dict):
        raise CredentialFileError(f"{path}: expected a JSON object")
    if data.get("token") is None:
        raise CredentialFileError(f"{path}: the worker has no token yet", reason="no_token")
    token = _checked(data.get("token"), path)
    if data.get("token_expires_at") is None:
        return Credential(token, (now or datetime.now(UTC)) + BARE_TOKEN_LIFETIME)
    return Credential(token, _parse_time(data.get("token_expires_at"), path, "token_expires_at"))


def exec_credential(cred: Credential, now: datetime | None = None) -> dict[str, Any]:
    """The ExecCredential v1 object; an already-expired token is an error (fail closed)."""
    if cred.expires_at <= (now or datetime.now(UTC)):
        raise CredentialFileError(
            f"the token expired at {cred.expires_at.strftime(credential_cache.TIMESTAMP)}",
            reason="token_expired",
        )
    return exec_credential_object(cred.token, cred.expires_at.strftime(credential_cache.TIMESTAMP))


def load(kind: SourceKind, path: Path, *, cache_home: Path | None) -> Credential:
    """Read and validate `path`; remember the valid pair under `cache_home` (None: no cache)."""
    text = _read(path)
    cred = (
        _token_file(text, path, None) if kind == "token-file" else _worker_state(text, path, None)
    )
    if cache_home is not None and cred.expires_at > datetime.now(UTC):
        credential_cache.remember(cache_home, kind, path, text, cred.expires_at)
    return cred
