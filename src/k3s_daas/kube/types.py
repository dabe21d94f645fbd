"""The contract between kube/ and whoever owns nodes and tokens (the master): plain data and
protocols, so kube/ never imports nautilus/ and can be tested with small in-memory doubles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from k3s_daas.seal import Claims, K3sDaasError
from k3s_daas.seal.protocol import NodeStatus

WatchType = Literal["ADDED", "MODIFIED", "DELETED"]


class KubeError(K3sDaasError):
    """Base of the errors raised by kube/."""

    reason = "kube_error"


class AuthenticationFailed(KubeError):
    """A bearer token that is missing, malformed, unknown, expired, revoked or slashed."""

    reason = "unauthenticated"


class BadRequest(KubeError):
    """A request body that cannot be decoded into the Kubernetes object it claims to be."""

    reason = "bad_request"


class CredentialFileError(KubeError):
    """A token file or worker-state file that cannot give a token."""

    reason = "bad_credential_file"


@dataclass(frozen=True)
class NodeInfo:
    """One admitted worker as the master's registry sees it (never carries the token itself)."""

    name: str
    status: NodeStatus
    reason: str | None  # a `seal.protocol.Reason` word
    tier: str
    stake: int
    permissions: tuple[str, ...]
    owner: str
    token_fingerprint: str
    created: datetime
    last_heartbeat: datetime | None
    running_pods: int = 0
    resource_usage: dict[str, float] = field(default_factory=dict)
    resource_version: int = 0


class NodeSource(Protocol):
    """Where the standalone API reads nodes from (the master's registry)."""

    async def list_nodes(self) -> tuple[list[NodeInfo], int]:
        """All nodes and the current resourceVersion."""
        ...

    async def get_node(self, name: str) -> NodeInfo | None:
        """One node, or None."""
        ...

    def watch(self, since: int) -> AsyncIterator[tuple[str, NodeInfo, int]]:
        """Changes after resourceVersion `since`, as (event type, node, resourceVersion)."""
        ...


class Authenticator(Protocol):
    """Turns a bearer token into Claims; raises AuthenticationFailed for any invalid token."""

    async def authenticate(self, token: str) -> Claims:
        """Validate `token` (fail closed)."""
        ...
