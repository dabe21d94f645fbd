"""The worker's local state file (mode 0600) so a restart resumes without restaking.

It holds the worker's own token: that is the worker's credential on its own host (as a kubelet
keeps its client certificate), written 0600 and never logged. `k3s-daas exec-credential
--worker-state` reads `token` and `token_expires_at` from it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.protocol import WorkerPhase


class WorkerStateError(K3sDaasError):
    reason = "bad_state"


class WorkerState(BaseModel):
    """What the agent knows about its node across restarts (never logged: it holds the token)."""

    model_config = ConfigDict(extra="ignore")

    node_id: str
    address: str
    chain_id: str
    package_id: str
    stake_record_id: str | None = None
    token: str | None = None
    token_id: str | None = None
    token_expires_epoch: int | None = None
    token_expires_at: datetime | None = None
    enclave_id: str | None = None
    master_url: str | None = None
    status: WorkerPhase = WorkerPhase.NEW
    reason: str | None = None  # a `seal.protocol.Reason` word, or the agent's own failure
    registered_at: datetime | None = None
    last_heartbeat: datetime | None = None
    heartbeats: int = 0
    tier: str | None = None
    permissions: list[str] = []
    metrics_url: str | None = None  # where the agent serves /metrics (None: not served)

    def __repr__(self) -> str:  # pydantic's repr would print the token
        return f"WorkerState(node_id={self.node_id!r}, status={self.status!r})"

    __str__ = __repr__

    @classmethod
    def load(cls, path: Path) -> WorkerState | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise WorkerStateError(f"{path}: unreadable worker state") from exc

    def save(self, path: Path) -> None:
        """Atomic and 0600 from the first byte (the file carries the worker's token)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(self.model_dump(mode="json"), indent=2) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
