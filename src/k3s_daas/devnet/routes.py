"""Read the gRPC routes of sui.rpc.v2 from pysui's client stubs (pysui generates no server side).

Each stub method calls `self._unary_unary(route, message, ResponseType)` (or `_unary_stream`);
calling it on a probe that records those arguments gives every route, its request and response
classes and its cardinality, so the server maps ALL of them and answers UNIMPLEMENTED for the ones
it does not serve, without a hand-written list that could drift from pysui.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from grpclib.const import Cardinality
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2


@dataclass(frozen=True)
class Route:
    """One RPC: `/sui.rpc.v2.Service/Method`, its snake_case stub name and its message types."""

    path: str
    method: str
    request: type[Any]
    response: type[Any]
    cardinality: Cardinality


class _Found(Exception):
    def __init__(self, path: str, response: type[Any], cardinality: Cardinality) -> None:
        super().__init__(path)
        self.path, self.response, self.cardinality = path, response, cardinality


class _Probe:
    async def _unary_unary(self, path: str, message: Any, response: type[Any], **_: Any) -> Any:
        raise _Found(path, response, Cardinality.UNARY_UNARY)

    async def _unary_stream(
        self, path: str, message: Any, response: type[Any], **_: Any
    ) -> AsyncIterator[Any]:
        raise _Found(path, response, Cardinality.UNARY_STREAM)
        yield  # pragma: no cover - makes this an async generator


def _request_type(fn: Any) -> type[Any]:
    annotation = inspect.signature(fn).parameters["message"].annotation
    name = str(annotation).replace("| None", "").strip().strip("\"'").strip()
    cls = getattr(v2, name)
    assert isinstance(cls, type)
    return cls


def _probe(fn: Any, request: type[Any]) -> _Found:
    """Drive the stub coroutine by hand: the probe raises before anything could suspend."""
    result = fn(_Probe(), request())
    awaitable = result.__anext__() if inspect.isasyncgen(result) else result
    try:
        awaitable.send(None)
    except _Found as found:
        return found
    finally:
        awaitable.close()
        if inspect.isasyncgen(result):
            result.aclose().close()
    raise RuntimeError(f"stub method {fn.__name__} made no call")


def stub_routes(stub: type[Any]) -> list[Route]:
    """Every RPC of one pysui `...ServiceStub` class."""
    routes: list[Route] = []
    for name, fn in inspect.getmembers(stub, predicate=inspect.isfunction):
        if name.startswith("_") or fn.__qualname__.split(".")[0] != stub.__name__:
            continue
        request = _request_type(fn)
        found = _probe(fn, request)
        routes.append(Route(found.path, name, request, found.response, found.cardinality))
    return routes


#: The stubs this devnet maps, by proto service name.
STUBS: dict[str, type[Any]] = {
    "LedgerService": v2.LedgerServiceStub,
    "StateService": v2.StateServiceStub,
    "MovePackageService": v2.MovePackageServiceStub,
    "TransactionExecutionService": v2.TransactionExecutionServiceStub,
    "SubscriptionService": v2.SubscriptionServiceStub,
    "SignatureVerificationService": v2.SignatureVerificationServiceStub,
    "NameService": v2.NameServiceStub,
}
