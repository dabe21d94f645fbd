"""What the master's routes need, built once by nautilus.master (or a test or benchmark) and
kept on the app; routes obtain it as a FastAPI dependency (`Context`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from k3s_daas.nautilus.enclave import Enclave
from k3s_daas.nautilus.health import Readiness
from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.nautilus.read_audit import ReadAudit
from k3s_daas.nautilus.registry import AuditSink, Registry
from k3s_daas.nautilus.service import MasterService
from k3s_daas.nautilus.settings import NautilusSettings
from k3s_daas.nautilus.validator import Validator


@dataclass(frozen=True)
class AppContext:
    """The master's parts the HTTP API serves (one per app: no globals)."""

    settings: NautilusSettings
    service: MasterService
    validator: Validator
    registry: Registry
    metrics: Metrics
    enclave: Enclave
    admin_token: str
    audit: AuditSink | None = None
    #: Where allowed reads are audited without waiting (None: they are not audited).
    read_audit: ReadAudit | None = None
    tls_binding: bytes | None = None
    health: Callable[[], dict[str, Any]] | None = None
    #: The checks of `/readyz` (None: not serving yet, so not ready).
    readiness: Readiness | None = None


async def app_context(request: Request) -> AppContext:
    """The context of the app serving `request` (set by `create_app`). Async: FastAPI would run
    a plain function in its thread pool, a thread hop on every request."""
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(app_context)]
