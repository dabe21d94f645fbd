"""`GET /api/v1/nodes?watch=true`: the node change stream as newline-delimited WatchEvents (plain
Nodes or one-row Tables), starting with ADDED for the current state unless a resourceVersion is
given, and ending at timeoutSeconds; a source error ends it with an ERROR Status event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from k3s_daas.kube.api.negotiation import TABLE_CONTENT_TYPE
from k3s_daas.kube.api.query import int_param, resource_version
from k3s_daas.kube.models import ListMeta, Table, WatchEvent
from k3s_daas.kube.nodes import COLUMNS, node_object, table_row
from k3s_daas.kube.status import status_object
from k3s_daas.kube.types import KubeError, NodeInfo, NodeSource

DEFAULT_WATCH_SECONDS: Final = 1800
MAX_WATCH_SECONDS: Final = 3600


def _event_line(kind: str, node: NodeInfo, rv: int, table: bool) -> bytes:
    obj: dict[str, Any]
    if table:
        obj = Table(
            metadata=ListMeta(resourceVersion=str(rv)),
            columnDefinitions=COLUMNS,
            rows=[table_row(node)],
        ).dump()
    else:
        obj = node_object(node).dump()
    event = WatchEvent(type=kind, object=obj)  # type: ignore[arg-type]  # callers pass ADDED/MODIFIED/DELETED
    return (json.dumps(event.dump(), separators=(",", ":")) + "\n").encode()


async def watch_response(
    request: Request, nodes: NodeSource, table: bool, match: Callable[[NodeInfo], bool]
) -> Response:
    since = resource_version(request)
    seconds = int_param(request, "timeoutSeconds", DEFAULT_WATCH_SECONDS, MAX_WATCH_SECONDS)
    initial: list[NodeInfo] = []
    if since is None:  # "" or "0": start with the current state, as ADDED events
        initial, since = await nodes.list_nodes()
        initial = sorted(initial, key=lambda n: n.name)

    async def stream() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        for node in initial:
            if match(node):
                yield _event_line("ADDED", node, node.resource_version, table)
        events = nodes.watch(since)
        try:
            while (remaining := deadline - loop.time()) > 0:
                try:
                    kind, node, rv = await asyncio.wait_for(anext(events), remaining)
                except (StopAsyncIteration, TimeoutError):
                    break
                if match(node):
                    yield _event_line(kind, node, rv, table)
        except KubeError as exc:
            status = status_object(410 if exc.reason == "expired" else 500, exc.message)
            event = WatchEvent(type="ERROR", object=status.dump())
            yield (json.dumps(event.dump()) + "\n").encode()
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    ctype = TABLE_CONTENT_TYPE if table else "application/json"
    return StreamingResponse(stream(), media_type=ctype)
