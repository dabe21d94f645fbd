"""One admitted worker as the registry keeps it: a compact, immutable record.

A slotted dataclass rather than a pydantic model: at 10,000 workers the model's per-instance
`__dict__` and fields-set cost ~1.2 KB each (and a copy per heartbeat); this costs ~0.4 KB. The
stored form is still validated strictly (unknown fields refused) by a pydantic adapter.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Final

from pydantic import ConfigDict, TypeAdapter

from k3s_daas.kube.types import NodeInfo
from k3s_daas.seal.protocol import NodeStatus, Reason


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WorkerRecord:
    """What the master knows about one admitted worker (never the token: a fingerprint).

    `last_timestamp` is the heartbeat replay guard's high-water mark: the signed timestamp (ms) of
    the last heartbeat accepted. `replica` is the master replica that owns the node's liveness
    (nautilus.liveness: its routine heartbeats are flushed in batches, guarded by that replica's
    stored W); "" when no replica does."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    node_id: str
    owner: str
    status: NodeStatus
    reason: Reason | None = None
    tier: str
    stake: int
    permissions: tuple[str, ...]
    token_fingerprint: str  # first 16 hex of SHA-256(token)
    token_id: str
    stake_record_id: str
    enclave_id: str = ""
    created: datetime
    updated: datetime
    last_heartbeat: datetime | None = None
    running_pods: int = 0
    resource_usage: dict[str, float] = dataclasses.field(default_factory=dict)
    heartbeats: int = 0
    revision: int = 0
    last_timestamp: int = 0
    replica: str = ""

    def replace(self, **changes: Any) -> WorkerRecord:
        """A copy with `changes` (records are immutable): slot by slot, as `dataclasses.replace`
        would through `__init__` but without its per-field checks (~3 us against ~5 us; every
        heartbeat makes one). A name that is not a field is a TypeError, as there."""
        if not _FIELDS_SET.issuperset(changes):
            unknown = sorted(changes.keys() - _FIELDS_SET)
            raise TypeError(f"WorkerRecord has no field {unknown[0]!r}")
        copy = object.__new__(WorkerRecord)
        for name in _FIELDS:
            _set(copy, name, changes[name] if name in changes else getattr(self, name))
        return copy

    def to_json(self) -> bytes:
        return _ADAPTER.dump_json(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> WorkerRecord:
        """The stored form, validated (ValueError when it is not a record)."""
        return _ADAPTER.validate_json(raw)

    @classmethod
    def from_public(cls, data: Any) -> WorkerRecord:
        """The `GET /api/v1/workers` shape back into a record, validated (ValueError if not)."""
        return _ADAPTER.validate_python(data)

    def public(self) -> dict[str, Any]:
        """The JSON shape of `GET /api/v1/workers`."""
        out: dict[str, Any] = _ADAPTER.dump_python(self, mode="json")
        return out

    def node_info(self) -> NodeInfo:
        return NodeInfo(
            name=self.node_id,
            status=self.status,
            reason=self.reason,
            tier=self.tier,
            stake=self.stake,
            permissions=self.permissions,
            owner=self.owner,
            token_fingerprint=self.token_fingerprint,
            created=self.created,
            last_heartbeat=self.last_heartbeat,
            running_pods=self.running_pods,
            resource_usage=dict(self.resource_usage),
            resource_version=self.revision,
        )


_FIELDS: Final = tuple(field.name for field in dataclasses.fields(WorkerRecord))
_FIELDS_SET: Final = frozenset(_FIELDS)
_set: Final = object.__setattr__  # how a frozen dataclass's own __init__ sets its slots

_ADAPTER: Final = TypeAdapter(WorkerRecord)
