"""Small in-memory implementations of `NodeSource` and `Authenticator`: the reference behaviour of
the protocols, used to test and benchmark kube/ in isolation (the master supplies the real ones).

Thread-safe, because tests mutate them from the test thread while uvicorn serves on its own loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import threading
from collections.abc import AsyncIterator, Mapping

from k3s_daas.kube.types import AuthenticationFailed, NodeInfo
from k3s_daas.seal import Claims


class MemoryNodeSource:
    """A node registry in a dict with a change log; watchers poll the log (a test double)."""

    POLL_SECONDS = 0.05

    def __init__(self, nodes: list[NodeInfo] | None = None) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, NodeInfo] = {}
        self._log: list[tuple[str, NodeInfo, int]] = []
        self._rv = 0
        for node in nodes or []:
            self.put(node)

    def put(self, node: NodeInfo) -> NodeInfo:
        """Add or replace a node; returns it with its new resourceVersion."""
        with self._lock:
            self._rv += 1
            kind = "MODIFIED" if node.name in self._nodes else "ADDED"
            stored = dataclasses.replace(node, resource_version=self._rv)
            self._nodes[node.name] = stored
            self._log.append((kind, stored, self._rv))
            return stored

    def delete(self, name: str) -> None:
        with self._lock:
            node = self._nodes.pop(name)
            self._rv += 1
            self._log.append(
                ("DELETED", dataclasses.replace(node, resource_version=self._rv), self._rv)
            )

    async def list_nodes(self) -> tuple[list[NodeInfo], int]:
        with self._lock:
            return list(self._nodes.values()), self._rv

    async def get_node(self, name: str) -> NodeInfo | None:
        with self._lock:
            return self._nodes.get(name)

    async def watch(self, since: int) -> AsyncIterator[tuple[str, NodeInfo, int]]:
        while True:
            with self._lock:
                pending = [entry for entry in self._log if entry[2] > since]
            for entry in pending:
                since = entry[2]
                yield entry
            await asyncio.sleep(self.POLL_SECONDS)


class MemoryAuthenticator:
    """Tokens -> Claims, keyed by the token's SHA-256 so no raw token is kept (a test double)."""

    def __init__(self, tokens: Mapping[str, Claims]) -> None:
        self._claims = {_digest(token): claims for token, claims in tokens.items()}

    async def authenticate(self, token: str) -> Claims:
        claims = self._claims.get(_digest(token))
        if claims is None:
            raise AuthenticationFailed("unknown token", reason="unknown_token")
        return claims


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
