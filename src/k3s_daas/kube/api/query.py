"""Query parameters of list and watch: bounded integers, resourceVersion, the label and field
selectors kubectl emits (`-l`, `--field-selector`) and opaque `continue` tokens for paging."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from fastapi import Request

from k3s_daas.kube.nodes import node_metadata, node_object
from k3s_daas.kube.types import BadRequest, NodeInfo
from k3s_daas.seal.encoding import parse_json


def int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest(f"{name} must be a non-negative integer")
    return min(int(raw), maximum)


def resource_version(request: Request) -> int | None:
    raw = request.query_params.get("resourceVersion", "")
    if raw in ("", "0"):
        return None
    if not raw.isdigit() or len(raw) > 20:
        raise BadRequest("resourceVersion must be an integer")
    return int(raw)


def _selector_pairs(text: str, what: str) -> list[tuple[str, str, str]]:
    """`k=v`, `k==v`, `k!=v` terms (the forms kubectl emits for -l / --field-selector)."""
    terms: list[tuple[str, str, str]] = []
    for term in filter(None, (t.strip() for t in text.split(",")[:16])):
        for op in ("!=", "==", "="):
            key, sep, value = term.partition(op)
            if sep:
                terms.append((key.strip(), "!=" if op == "!=" else "=", value.strip()))
                break
        else:
            if term.startswith("!"):
                terms.append((term[1:].strip(), "!", ""))
            else:
                terms.append((term, "exists", ""))
    if any(not key for key, _, _ in terms):
        raise BadRequest(f"invalid {what}")
    return terms


def node_filter(request: Request) -> Callable[[NodeInfo], bool]:
    fields = _selector_pairs(request.query_params.get("fieldSelector", ""), "fieldSelector")
    labels = _selector_pairs(request.query_params.get("labelSelector", ""), "labelSelector")
    for key, op, _ in fields:
        if key not in ("metadata.name", "spec.unschedulable") or op not in ("=", "!="):
            raise BadRequest(f'field label not supported: "{key}"')

    def match(node: NodeInfo) -> bool:
        meta = node_metadata(node)
        values = {
            "metadata.name": node.name,
            "spec.unschedulable": str(node_object(node).spec.unschedulable is True).lower(),
        }
        for key, op, want in fields:
            if (values[key] == want) != (op == "="):
                return False
        node_labels = meta.labels or {}
        for key, op, want in labels:
            have = node_labels.get(key)
            ok = {
                "=": have == want,
                "!=": have != want,
                "exists": have is not None,
                "!": have is None,
            }[op]
            if not ok:
                return False
        return True

    return match


def encode_continue(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_continue(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = parse_json(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = data["after"]
        if not isinstance(after, str):
            raise TypeError
        return after
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise BadRequest("continue key is not valid") from exc
