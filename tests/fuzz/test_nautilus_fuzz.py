"""Hypothesis throws malformed bodies and headers at every endpoint of a real master: never a
5xx, always the one JSON error shape for our endpoints, and the server stays up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.devnet import DevnetProcess
from harness.master import MasterProcess
from harness.processes import free_port

pytestmark = pytest.mark.timeout(300)

POSTS = ["/api/v1/register-worker", "/api/v1/nodes/heartbeat", "/api/v1/nodes/leave",
         "/api/v1/validate"]  # fmt: skip
GETS = ["/api/v1/workers", "/health_check", "/get_attestation", "/metrics"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"node_id": st.text(max_size=70), "timestamp": st.integers(), "nonce": st.text(max_size=70),
         "signature": st.text(max_size=250)},
        optional={"running_pods": json_values, "resource_usage": json_values, "token": json_values,
                  "tokens": json_values},
    ).map(lambda d: json.dumps(d).encode()),
)  # fmt: skip
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300
).map(str.strip)  # h11 (the client) refuses surrounding whitespace before it is sent


@pytest.fixture(scope="module")
def master(
    devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MasterProcess]:
    """Rate limiting off: the fuzzer is one client failing on purpose, and its requests must
    reach the handlers, not the 429 in front of them."""
    env = {"K3S_DAAS_NAUTILUS_RATE_LIMIT": "0"}
    node = MasterProcess(devnet, tmp_path_factory.mktemp("master") / "data", free_port(), env)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="module")
def client(master: MasterProcess) -> Any:
    with master.http() as c:
        yield c


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and "Status" not in response.text:
        body = response.json()
        assert set(body) == {"error", "message"}, body


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(POSTS), body=bodies, token=header_text,
       ctype=st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"]))  # fmt: skip
def test_posts(client: httpx.Client, path: str, body: bytes, token: str, ctype: str) -> None:
    check(client.post(path, content=body, headers={"X-Seal-Token": token, "Content-Type": ctype}))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(GETS), nonce=header_text, auth=header_text)
def test_gets(client: httpx.Client, path: str, nonce: str, auth: str) -> None:
    check(client.get(path, params={"nonce": nonce}, headers={"Authorization": auth}))


def test_still_up(master: MasterProcess, client: httpx.Client) -> None:
    assert master.proc.poll() is None
    assert client.get("/health_check").json()["status"] == "ok"
