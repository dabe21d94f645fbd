"""The exec plugin's credential cache: kubectl runs `k3s-daas exec-credential` for every command,
so once a token file's (token, expiry) pair has been validated, later calls answer from here with
the standard library only (no CLI, no pydantic: a few milliseconds instead of ~0.3 s).

An entry never holds the token: only the token's SHA-256 fingerprint (what logs already show),
the expiry as the file states it and the expiry kubectl is told. On a hit the token is read from
its own 0600 file again, so rotating, editing or deleting that file is a miss; an entry past its
expiry, not owned by this user, or readable by others is ignored. Entries live in
`<home>/cache/exec-credential/` (directories 0700, files 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from datetime import datetime

EXEC_API_VERSION: Final = "client.authentication.k8s.io/v1"
CACHE_VERSION: Final = 1
MAX_FILE: Final = 1024 * 1024
TIMESTAMP: Final = "%Y-%m-%dT%H:%M:%SZ"

#: Which file a credential comes from: the flag that names it, without its dashes.
SourceKind = Literal["token-file", "worker-state"]
_EXPIRY_KEY: Final[dict[str, str]] = {
    "token-file": "expires_at",
    "worker-state": "token_expires_at",
}


def default_home() -> Path:
    """`$K3S_DAAS_HOME`, else `~/.k3s-daas` (kubectl runs the plugin from any directory)."""
    return Path(os.environ.get("K3S_DAAS_HOME") or "~/.k3s-daas").expanduser()


def exec_credential_object(token: str, expiration_timestamp: str) -> dict[str, Any]:
    """The ExecCredential (client.authentication.k8s.io/v1) kubectl reads from the plugin."""
    return {
        "apiVersion": EXEC_API_VERSION,
        "kind": "ExecCredential",
        "spec": {"interactive": False},
        "status": {"token": token, "expirationTimestamp": expiration_timestamp},
    }


def fingerprint(token: str) -> str:
    """SHA-256 of the token, hex: equal to `seal.token.token_fingerprint` (a test pins it),
    computed here because importing `seal` costs more than the whole cached answer."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def entry_path(home: Path, kind: SourceKind, source: Path) -> Path:
    """One entry per token source, named by a digest of its kind and absolute path."""
    key = hashlib.sha256(f"{kind}\0{os.path.abspath(source)}".encode()).hexdigest()[:32]
    return home / "cache" / "exec-credential" / f"{key}.json"


def _candidate(text: str, kind: SourceKind) -> tuple[str, Any] | None:
    """The token and the expiry as the file states them, read leniently: a validated file gives
    what validation read, anything else gives a pair no entry matches (or None)."""
    text = text.strip()
    if kind == "token-file" and not text.startswith("{"):
        lines = text.splitlines()
        return (lines[0].strip(), None) if len(lines) == 1 else None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str):
        return None
    return token.strip(), data.get(_EXPIRY_KEY[kind])


def _read_text(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE + 1)
        return raw.decode("utf-8") if len(raw) <= MAX_FILE else None
    except (OSError, UnicodeDecodeError):
        return None


def _load_entry(path: Path) -> dict[str, Any] | None:
    """The entry, if it is a regular file of ours that nobody else can read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_uid != os.getuid()
            or st.st_mode & 0o077
            or st.st_size > MAX_FILE
        ):
            return None
        try:
            entry = json.loads(fh.read())
        except (OSError, ValueError):
            return None
    return entry if isinstance(entry, dict) else None


def recall(home: Path, kind: SourceKind, source: Path, now: float | None = None) -> str | None:
    """The ExecCredential line to print for `source`, or None when the full path must run."""
    entry = _load_entry(entry_path(home, kind, source))
    text = _read_text(source) if entry is not None else None
    found = _candidate(text, kind) if text is not None else None
    if entry is None or found is None:
        return None
    token, stated_expiry = found
    expires_unix = entry.get("expires_unix")
    if (
        entry.get("version") != CACHE_VERSION
        or entry.get("kind") != kind
        or entry.get("source") != os.path.abspath(source)
        or entry.get("token_fingerprint") != fingerprint(token)
        or entry.get("stated_expiry") != stated_expiry
        or not isinstance(expires_unix, int | float)
        or expires_unix <= (time.time() if now is None else now)
        or not isinstance(entry.get("expirationTimestamp"), str)
    ):
        return None
    return json.dumps(exec_credential_object(token, entry["expirationTimestamp"])) + "\n"


def _private_dirs(home: Path, leaf: Path) -> None:
    """The home, its cache and the leaf, each 0700 when we create it."""
    for level in (home, home / "cache", leaf):
        level.mkdir(mode=0o700, parents=True, exist_ok=True)


def remember(home: Path, kind: SourceKind, source: Path, text: str, expires_at: datetime) -> None:
    """Record that `text` (the source's validated content) holds a token valid until
    `expires_at`. Best effort: a home that cannot be written only costs the next call time."""
    import tempfile  # only the full path writes; the cached answer must not pay for it

    found = _candidate(text, kind)
    if found is None:
        return
    token, stated_expiry = found
    path = entry_path(home, kind, source)
    entry = {
        "version": CACHE_VERSION,
        "kind": kind,
        "source": os.path.abspath(source),
        "token_fingerprint": fingerprint(token),
        "stated_expiry": stated_expiry,
        "expirationTimestamp": expires_at.strftime(TIMESTAMP),
        "expires_unix": int(expires_at.timestamp()),
    }
    try:
        _private_dirs(home, path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".entry-")  # 0600
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
