"""The master's append-only, hash-chained audit log, kept in its Store.

Entry N lives at `/audit/<N zero-padded to 20>` as canonical JSON (sorted keys, no spaces,
ASCII) with `prev_hash` = entry N-1's `hash` and `hash` = SHA-256 of the entry without `hash`.
Deleting, reordering or editing any entry breaks the chain at a nameable sequence number.

Appends are serialized by compare-and-set: entry N is created only if absent (so two replicas
on one etcd can never both write N — no fork), then `/audit/head` {seq, hash} is moved forward
by compare-and-set on its revision. Writing the entry first means a crash between the two
writes leaves the head behind (a later append repairs it), never a hole; `verify` uses the head
to detect entries cut off the end. The head moves in the background, so an append costs one
durable write in sequence rather than two, and the head write shares the next entry's group
commit; `settle()` waits for it. Only token fingerprints are recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from k3s_daas.nautilus.store.base import Store, StoreError, StoreIntegrityError, put_if_absent
from k3s_daas.seal.encoding import canonical_json
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.token import PREFIX as TOKEN_PREFIX

AUDIT_PREFIX: Final = "/audit/"
HEAD_KEY: Final = "/audit/head"
SEQ_DIGITS: Final = 20
GENESIS_HASH: Final = "0" * 64
MAX_ATTEMPTS: Final = 64
PAGE: Final = 1000
_ENTRY_KEY_RE: Final = re.compile(rf"\d{{{SEQ_DIGITS}}}")
_HEX64_RE: Final = re.compile(r"[0-9a-f]{64}")
_FINGERPRINT_RE: Final = re.compile(r"[0-9a-f]{16,64}")
_TOKEN_RE: Final = re.compile(re.escape(TOKEN_PREFIX) + r"[0-9a-fA-F]{128}")


class AuditError(K3sDaasError):
    """An audit entry could not be recorded (bad content, or too much contention)."""

    reason = "audit_error"


class AuditEntry(BaseModel):
    """One link of the chain (field names are part of the on-store format)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    seq: int = Field(ge=1)
    time: str
    actor: str
    action: str
    subject: str
    token_fingerprint: str | None
    decision: str
    reason: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of `verify`: ok, or the first bad sequence number and why."""

    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def entry_key(seq: int) -> str:
    """The store key of entry `seq`."""
    return f"{AUDIT_PREFIX}{seq:0{SEQ_DIGITS}d}"


def entry_hash(data: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry without its `hash` field."""
    return hashlib.sha256(
        canonical_json({k: v for k, v in data.items() if k != "hash"})
    ).hexdigest()


def _check_entry(data: dict[str, Any]) -> None:
    fingerprint = data["token_fingerprint"]
    if fingerprint is not None and not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise AuditError(
            "token_fingerprint must be 16-64 lower-case hex (a fingerprint, never a token)",
            reason="audit_bad_entry",
        )
    try:
        text = canonical_json(data).decode("ascii")
    except (TypeError, ValueError) as exc:
        raise AuditError(f"audit details are not JSON: {exc}", reason="audit_bad_entry") from None
    if _TOKEN_RE.search(text):
        raise AuditError("an audit entry may not contain a Seal token", reason="audit_bad_entry")


def _head_record(raw: bytes) -> tuple[int, str]:
    """(seq, hash) from the `/audit/head` value."""
    try:
        record = json.loads(raw)
        return int(record["seq"]), str(record["hash"])
    except (ValueError, KeyError, TypeError):
        raise AuditError(
            "the audit head record is not well-formed", reason="audit_broken"
        ) from None


class AuditLog:
    """Appends entries to the chain in `store`; safe across coroutines, processes and replicas."""

    def __init__(self, store: Store, observe: Callable[[float, bool], None] | None = None) -> None:
        self.store = store
        self.observe = observe  # told (seconds, ok) after each append: the latency metric
        self._lock = asyncio.Lock()
        self._last: tuple[int, str] = (0, GENESIS_HASH)
        self._heads: set[asyncio.Task[None]] = set()

    def _moved(self, task: asyncio.Task[None]) -> None:
        self._heads.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed move only leaves the head behind until the next

    async def settle(self) -> None:
        """Wait until the head records every append so far (tests, shutdown)."""
        while self._heads:
            await asyncio.gather(*list(self._heads), return_exceptions=True)

    async def _tail(self) -> tuple[int, str]:
        """The last written (seq, hash): the head (or our cache), then probe forward."""
        seq, last_hash = self._last
        head = await self.store.get(HEAD_KEY)
        if head is not None and (record := _head_record(head.value))[0] > seq:
            seq, last_hash = record
        while (nxt := await self.store.get(entry_key(seq + 1))) is not None:
            seq, last_hash = seq + 1, str(json.loads(nxt.value)["hash"])
        return seq, last_hash

    async def _advance_head(self, seq: int, new_hash: str) -> None:
        """Move `/audit/head` forward to `seq` unless someone already moved it past."""
        value = canonical_json({"seq": seq, "hash": new_hash})
        for _ in range(MAX_ATTEMPTS):
            head = await self.store.get(HEAD_KEY)
            if head is not None and _head_record(head.value)[0] >= seq:
                return
            expected = None if head is None else head.revision
            if await self.store.compare_and_set(HEAD_KEY, value, expected_revision=expected):
                return
        # Losing the head race this often only delays the head; the next append repairs it.

    async def append(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        decision: str,
        reason: str | None = None,
        token_fingerprint: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Record one decision; returns the entry as stored (with its seq and hash)."""
        start, ok = time.perf_counter(), False
        try:
            entry = await self._append(actor, action, subject, decision, reason,
                                       token_fingerprint, details)  # fmt: skip
            ok = True
            return entry
        finally:
            if self.observe is not None:
                self.observe(time.perf_counter() - start, ok)

    async def _append(
        self, actor: str, action: str, subject: str, decision: str, reason: str | None,
        token_fingerprint: str | None, details: dict[str, Any] | None,
    ) -> AuditEntry:  # fmt: skip
        async with self._lock:
            for _ in range(MAX_ATTEMPTS):
                seq, prev_hash = await self._tail()
                data: dict[str, Any] = {
                    "seq": seq + 1,
                    "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                    "actor": actor,
                    "action": action,
                    "subject": subject,
                    "token_fingerprint": token_fingerprint,
                    "decision": decision,
                    "reason": reason,
                    "details": details or {},
                    "prev_hash": prev_hash,
                }
                _check_entry(data)
                data["hash"] = entry_hash(data)
                if await put_if_absent(self.store, entry_key(seq + 1), canonical_json(data)):
                    self._last = (seq + 1, data["hash"])
                    task = asyncio.create_task(self._advance_head(seq + 1, data["hash"]))
                    self._heads.add(task)
                    task.add_done_callback(self._moved)
                    return AuditEntry.model_validate(data)
                # another writer took seq + 1: re-read the tail and try the next number
        raise AuditError(
            "too much contention appending to the audit log", reason="audit_contention"
        )


def _parse(raw: bytes, seq: int) -> tuple[dict[str, Any] | None, str | None]:
    """The entry's JSON object, or a problem description."""
    try:
        data = json.loads(raw)
        AuditEntry.model_validate(data)
    except (ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, f"entry {seq} is not a well-formed audit entry ({first})"
    if not isinstance(data, dict):  # pragma: no cover - model_validate refuses non-objects
        return None, f"entry {seq} is not an object"
    return data, None


async def verify(store: Store, *, page: int = PAGE) -> VerifyResult:
    """Walk the whole chain: contiguous seqs from 1, each hash, each link, and the head."""
    checked = 0

    def bad(seq: int | None, problem: str) -> VerifyResult:
        return VerifyResult(False, checked, seq, problem)

    try:
        head_entry = await store.get(HEAD_KEY)
    except StoreIntegrityError:
        return bad(None, "the head record fails authentication (store_tampered)")
    head: tuple[int, str] | None = None
    if head_entry is not None:
        try:
            head = _head_record(head_entry.value)
        except AuditError as exc:
            return bad(None, exc.message)

    expected, prev_hash, after = 1, GENESIS_HASH, None
    while True:
        try:
            rows = await store.range(AUDIT_PREFIX, limit=page, after=after)
        except StoreIntegrityError as exc:
            name = exc.key.removeprefix(AUDIT_PREFIX)
            seq = int(name) if _ENTRY_KEY_RE.fullmatch(name) else None
            return bad(seq, f"entry {seq} fails authentication (store_tampered)")
        if not rows:
            break
        after = rows[-1][0]
        for key, stored in rows:
            name = key.removeprefix(AUDIT_PREFIX)
            if not _ENTRY_KEY_RE.fullmatch(name):
                continue  # the head record, read above
            seq = int(name)
            if seq != expected:
                return bad(expected, f"entry {expected} is missing")
            data, problem = _parse(stored.value, seq)
            if data is None:
                return bad(seq, problem or "unreadable")
            if data["seq"] != seq:
                return bad(seq, f"entry {seq} says it is entry {data['seq']}")
            if not hmac.compare_digest(str(data["prev_hash"]), prev_hash):
                return bad(seq, f"entry {seq} does not link to entry {seq - 1} (prev_hash differs)")
            if not _HEX64_RE.fullmatch(data["hash"]) or not hmac.compare_digest(
                data["hash"], entry_hash(data)
            ):
                return bad(seq, f"entry {seq} content does not match its hash")
            if (
                head is not None
                and head[0] == seq
                and not hmac.compare_digest(head[1], data["hash"])
            ):
                return bad(seq, f"entry {seq} differs from the one the head recorded")
            prev_hash = data["hash"]
            checked += 1
            expected += 1
    if head is not None and head[0] >= expected:
        return bad(expected, f"entry {expected} is missing (the head says {head[0]} entries)")
    return VerifyResult(True, checked)


async def tail(store: Store, count: int) -> list[AuditEntry]:
    """The last `count` entries, oldest first (not verified: run `verify` for that)."""
    if count <= 0:
        return []
    head = await store.get(HEAD_KEY)
    last = _head_record(head.value)[0] if head is not None else 0
    while await store.get(entry_key(last + 1)) is not None:  # the head may lag by a step
        last += 1
    first = max(1, last - count + 1)
    rows = await store.range(AUDIT_PREFIX, limit=count, after=entry_key(first - 1))
    entries = []
    for key, stored in rows:
        name = key.removeprefix(AUDIT_PREFIX)
        if _ENTRY_KEY_RE.fullmatch(name):
            data, problem = _parse(stored.value, int(name))
            if data is None:
                raise StoreError(problem or "unreadable audit entry", reason="audit_broken")
            entries.append(AuditEntry.model_validate(data))
    return entries


__all__ = [
    "AUDIT_PREFIX",
    "GENESIS_HASH",
    "HEAD_KEY",
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "VerifyResult",
    "entry_hash",
    "entry_key",
    "tail",
    "verify",
]
