"""Content negotiation on kubectl's Accept header: JSON only, optionally `as=<kind>` with a group
and version (aggregated discovery, `as=Table` for `get`); anything else is a 406 Status."""

from __future__ import annotations

from typing import Final

from fastapi import Request

from k3s_daas.kube.status import StatusError

TABLE_CONTENT_TYPE: Final = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _accepted(request: Request) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for part in request.headers.get("accept", "").split(",")[:32]:
        media, *params = part.split(";")
        opts: dict[str, str] = {}
        for param in params:
            key, _, value = param.partition("=")
            opts[key.strip().lower()] = value.strip()
        if media.strip():
            out.append((media.strip().lower(), opts))
    return out


def _json_ok(media: str) -> bool:
    return media in ("application/json", "application/*", "*/*")


def negotiate(request: Request, as_kind: str, group: str, versions: tuple[str, ...]) -> str | None:
    """The version of `as_kind` the client prefers, "" for the plain form, or 406."""
    accepted = _accepted(request)
    if not accepted:
        return ""
    for media, opts in accepted:
        if not _json_ok(media):
            continue
        if "as" not in opts:
            return ""
        if opts.get("as") == as_kind and opts.get("g") == group and opts.get("v") in versions:
            return opts["v"]
    raise StatusError(406, "only application/json is served")


def wants_table(request: Request) -> bool:
    return negotiate(request, "Table", "meta.k8s.io", ("v1",)) == "v1"
