"""The error path cannot fail: with every log write failing (a handler that raises, a stream on a
full disk), the master's app answers the same status and body as with a working log."""

from __future__ import annotations

import errno
import io
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO, cast

import httpx
import pytest

from k3s_daas.log import configure_logging, get_logger
from k3s_daas.nautilus.app import create_app
from k3s_daas.nautilus.context import AppContext
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.seal.errors import K3sDaasError
from k3s_daas.seal.token import format_token

TOKEN = format_token("0x" + "11" * 32, b"\x22" * 32)


def _full_disk() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


class RaisingHandler(logging.Handler):
    """A handler whose every emit raises, as a log file on a full disk may."""

    def emit(self, record: logging.LogRecord) -> None:
        raise _full_disk()


class FullStream(io.TextIOBase):
    def write(self, text: str) -> int:
        raise _full_disk()

    def isatty(self) -> bool:
        return False


class Refusals:
    def count(self, *_: Any) -> None:
        pass


class StoreDown:
    """The service and validator of a master whose store (etcd) is unavailable."""

    refusals = Refusals()

    async def verify(self, *_: Any) -> Any:
        raise K3sDaasError("etcd has no quorum", reason="store_unavailable")

    async def validate(self, *_: Any) -> Any:
        raise K3sDaasError("etcd has no quorum", reason="store_unavailable")


class Bug:
    refusals = Refusals()

    async def verify(self, *_: Any) -> Any:
        raise RuntimeError("a bug")


def client(service: Any) -> httpx.AsyncClient:
    ctx = AppContext(
        settings=NautilusSettings(rate_limit=0),
        service=cast(Any, service),
        validator=cast(Any, StoreDown()),
        registry=cast(Any, object()),
        metrics=Metrics(),
        enclave=cast(Any, None),
        admin_token="admin",
    )
    transport = httpx.ASGITransport(app=create_app(ctx), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="https://master")


async def answers() -> list[tuple[int, str, str]]:
    """The error answers of a store outage, a bug, and a Kubernetes route (status, type, body)."""
    results = []
    for service, method, path, headers in (
        (StoreDown(), "POST", "/api/v1/register-worker", {"x-seal-token": TOKEN}),
        (Bug(), "POST", "/api/v1/nodes/heartbeat", {"x-seal-token": TOKEN}),
        (StoreDown(), "GET", "/api/v1/nodes", {"authorization": f"Bearer {TOKEN}"}),
    ):
        async with client(service) as http:
            answer = await http.request(method, path, content=b"{}", headers=headers)
        results.append((answer.status_code, answer.headers.get("content-type", ""), answer.text))
    return results


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, stderr = list(root.handlers), root.level, sys.stderr
    yield
    sys.stderr = stderr
    root.handlers[:] = handlers
    root.setLevel(level)
    configure_logging()


@pytest.mark.usefixtures("restore_logging")
async def test_a_failing_log_changes_no_status_and_no_body() -> None:
    configure_logging("debug", json=True, stream=io.StringIO())
    working = await answers()
    assert [status for status, _, _ in working] == [503, 500, 503]
    assert all(kind == "application/json" for _, kind, _ in working)
    assert '"error":"store_unavailable"' in working[0][2]
    logging.getLogger().addHandler(RaisingHandler())
    sys.stderr = FullStream()
    configure_logging("debug", json=True)  # our handler now writes to the full stream
    logging.getLogger().addHandler(RaisingHandler())
    assert await answers() == working


@pytest.mark.usefixtures("restore_logging")
def test_a_log_call_returns_whatever_its_handlers_raise() -> None:
    configure_logging("debug", json=True, stream=cast(TextIO, FullStream()))
    logging.getLogger().addHandler(RaisingHandler())
    log = get_logger("k3s_daas.test")
    log.error("request failed", reason="store_unavailable")
    log.warning("odd value", value=object())
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("with a traceback")
