"""Fuzzing a live master from its OpenAPI documents (tests/faults/openapi.py) with schemathesis.

Each generated case is sent twice: as generated, and with working credentials injected (a valid
Seal token in `X-Seal-Token` or `Authorization`, the admin token on the admin view, a valid
signature over the fuzzed body of a signed request, the token under review in a TokenReview), so
the fuzz reaches the code behind authentication too. POST routes also get hostile raw bodies
(deep nesting, huge numbers, bad UTF-8, NaN). Every answer >= 500 and every hang is recorded.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from harness.master import Staker
from k3s_daas.kube.webhooks import SUBJECTACCESSREVIEW_PATH, TOKENREVIEW_PATH
from k3s_daas.seal.protocol import PATHS, Kind, signing_bytes
from k3s_daas.seal.token import token_fingerprint
from tests.faults.openapi import SIGNED_PATHS

KINDS: Final[dict[str, Kind]] = {path: kind for kind, path in PATHS.items()}
TIMEOUT: Final = httpx.Timeout(15.0, connect=5.0)


@dataclass
class Listener:
    """One listener of the master under fuzz: its URL, its client, and its app's routes."""

    name: str
    url: str
    client: httpx.Client
    document: dict[str, Any]


#: A listener, the method and path of one operation, and its case strategies.
Target = tuple[Listener, str, str, list[st.SearchStrategy[Any]]]


@dataclass
class Credentials:
    """What the authenticated variant injects."""

    staker: Staker
    admin_token: str
    master_key: Callable[[], bytes]  # the enclave key signed requests are bound to


@dataclass
class Findings:
    """Requests sent and answers seen; `failures` holds every 5xx and hang, described."""

    sent: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    unsendable: int = 0

    def note(self, operation: str, status: int, request: str, answer: str) -> None:
        self.sent += 1
        self.by_status[status] += 1
        self.by_operation[operation] += 1
        if status >= 500:
            self.failures.append(f"{status} {operation}: {request[:300]} -> {answer[:200]}")

    def summary(self) -> str:
        """One line per failing (status, operation), with a count and the first example."""
        groups: dict[str, list[str]] = {}
        for failure in self.failures:
            groups.setdefault(failure.split(":", 1)[0], []).append(failure)
        return "\n".join(f"{len(v)} x {v[0]}" for k, v in sorted(groups.items()))

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if status >= 500)


def _params(query: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Schemathesis' query values as strings (negative cases generate objects and numbers)."""
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        for one in value if isinstance(value, list) else [value]:
            pairs.append((name, one if isinstance(one, str) else json.dumps(one)))
    return tuple(pairs)


def _headers(headers: dict[str, Any]) -> dict[bytes, bytes]:
    return {
        k.encode("latin-1", "replace"): str(v).encode("latin-1", "replace")
        for k, v in headers.items()
        if k.lower() not in ("x-schemathesis-testcaseid", "content-length")
    }


def _content(kwargs: dict[str, Any]) -> bytes | None:
    if "json" in kwargs:
        return json.dumps(kwargs["json"], allow_nan=True).encode()
    data = kwargs.get("data")
    if data is None:
        return None
    return data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")


def _authenticate(path: str, headers: dict[bytes, bytes], body: Any, creds: Credentials
                  ) -> tuple[dict[bytes, bytes], Any]:  # fmt: skip
    """The request with working credentials (and, for signed routes, a valid signature)."""
    token = creds.staker.token
    headers = dict(headers)
    bearer = creds.admin_token if path == "/api/v1/workers" else token
    headers[b"Authorization"] = f"Bearer {bearer}".encode()
    if path in SIGNED_PATHS:
        headers[b"X-Seal-Token"] = token.encode()
        if isinstance(body, dict):
            kind = KINDS[path]
            body = {**body, "node_id": creds.staker.node_id, "nonce": secrets.token_hex(16),
                    "timestamp": int(time.time() * 1000)}  # fmt: skip
            body.pop("signature", None)
            try:
                message = signing_bytes(kind, creds.master_key(), token_fingerprint(token), body)
            except (TypeError, ValueError):  # a value canonical JSON refuses: send it unsigned
                return headers, body
            signature = creds.staker.key.sign_personal_message(message)
            body["signature"] = base64.b64encode(signature).decode()
    elif path == TOKENREVIEW_PATH and isinstance(body, dict):
        spec = body.get("spec")
        body = {**body, "spec": {**(spec if isinstance(spec, dict) else {}), "token": token}}
    elif path == SUBJECTACCESSREVIEW_PATH and isinstance(body, dict):
        spec = body.get("spec")
        user = f"system:node:{creds.staker.node_id}"
        body = {**body, "spec": {**(spec if isinstance(spec, dict) else {}), "user": user}}
    return headers, body


def hostile_bodies() -> st.SearchStrategy[bytes]:
    """Raw bodies a JSON parser must survive: deep nesting, huge numbers, bad encodings."""
    depth = st.one_of(st.sampled_from([64, 500, 1_000, 5_000, 20_000]), st.integers(1, 3_000))
    return st.one_of(
        depth.map(lambda n: b"[" * n + b"]" * n),
        depth.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
        depth.map(lambda n: b"[" * n),
        st.sampled_from([b"1e999999", b"-1e999999", b"NaN", b"Infinity", b"9" * 5000,
                         b'{"node_id": NaN}', b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00",
                         b'{"a":1,"a":2}', b'"\\ud800"', b"", b"null", b"\x00" * 64]),
        st.binary(max_size=256),
    )  # fmt: skip


class Fuzzer:
    """Sends schemathesis cases (and hostile bodies) to every operation of every listener."""

    def __init__(self, listeners: list[Listener], creds: Credentials, findings: Findings):
        self.creds = creds
        self.findings = findings
        self.targets: list[Target] = []
        for listener in listeners:
            schema = schemathesis.openapi.from_dict(listener.document)
            for result in schema.get_all_operations():
                if not isinstance(result, Ok):
                    raise AssertionError(f"{listener.name}: {result.err()}")
                op = result.ok()
                strategies = [op.as_strategy(generation_mode=GenerationMode.POSITIVE)]
                if "requestBody" in op.definition.raw or any(
                    p.get("in") == "query" for p in op.definition.raw.get("parameters", [])
                ):  # a negative case needs something that can be made invalid
                    strategies.append(op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
                self.targets.append((listener, op.method.upper(), op.path, strategies))

    @property
    def operations(self) -> list[str]:
        return [f"{t[0].name} {t[1]} {t[2]}" for t in self.targets]

    def send(self, listener: Listener, method: str, path: str, url: str,
             headers: dict[bytes, bytes], params: tuple[tuple[str, str], ...], content: bytes | None
             ) -> None:  # fmt: skip
        operation = f"{listener.name} {method} {path}"
        described = f"{method} {url} headers={sorted(headers)} body={content!r}"
        try:
            answer = listener.client.request(
                method, url, headers=headers, params=params, content=content
            )
        except httpx.TimeoutException:
            self.findings.note(operation, 599, described, "no answer in time")
            return
        except (httpx.LocalProtocolError, UnicodeError, ValueError):
            self.findings.unsendable += 1  # the client library refuses to send it
            return
        except httpx.TransportError as exc:  # the server hung up without an answer
            self.findings.note(operation, 598, described, f"connection: {exc!r}")
            return
        self.findings.note(operation, answer.status_code, described, answer.text)

    def one(self, target: Target, data: st.DataObject) -> None:
        """One generated case for `target`, sent as is and authenticated (+ a hostile body)."""
        listener, method, path, strategies = target
        case = data.draw(st.sampled_from(strategies).flatmap(lambda s: s))
        kwargs = case.as_transport_kwargs(base_url=listener.url)
        headers = _headers(kwargs.get("headers", {}))
        params = _params(kwargs.get("params", {}))
        url = kwargs["url"]
        self.send(listener, method, path, url, headers, params, _content(kwargs))
        headers, body = _authenticate(path, headers, kwargs.get("json"), self.creds)
        content = json.dumps(body).encode() if "json" in kwargs else _content(kwargs)
        self.send(listener, method, path, url, headers, params, content)
        if method == "POST":
            self.send(listener, method, path, url, headers, (), data.draw(hostile_bodies()))

    def run(self, examples: int, random_seed: int) -> None:
        """About `examples` generated cases, shared evenly by every operation."""
        each = max(1, -(-examples // len(self.targets)))
        for index, target in enumerate(self.targets):
            self._run(target, each, random_seed + index)

    def _run(self, target: Target, examples: int, random_seed: int) -> None:
        @seed(random_seed)
        @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(st.data())
        def fuzz(data: st.DataObject) -> None:
            self.one(target, data)

        fuzz()
