"""/livez and /readyz of a real master: every check listed with `?verbose`; when the chain stops
(its devnet SIGSTOPped) /readyz turns 503 naming the chain check while /livez stays 200, and
after SIGCONT it is ready again without a restart. The master also exports HTTP latency by
route template, chain reachability, process and build series. This module owns its devnet."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.devnet import DevnetProcess
from harness.master import TEST_ENV, MasterProcess
from harness.processes import wait_for

pytestmark = pytest.mark.timeout(180)

STALENESS = float(TEST_ENV["K3S_DAAS_NAUTILUS_STALENESS"])
CHAIN_TIMEOUT = float(TEST_ENV["K3S_DAAS_NAUTILUS_CHAIN_TIMEOUT"])
#: How long a state change may take to show (a deadline for waiting, not a timed assertion).
WITHIN = STALENESS + 2 * CHAIN_TIMEOUT + 10


def readyz(http: httpx.Client) -> httpx.Response:
    return http.get("/readyz", params={"verbose": ""})


def metric(http: httpx.Client, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(http.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


@pytest.fixture
def stopped(devnet: DevnetProcess) -> Iterator[Callable[[], None]]:
    """SIGSTOP the module's devnet on demand; always SIGCONT it afterwards."""
    pid = devnet.proc.pid
    yield lambda: os.kill(pid, signal.SIGSTOP)
    os.kill(pid, signal.SIGCONT)


def test_readyz_names_the_chain_when_it_stops_and_recovers(
    master_factory: Callable[..., MasterProcess], devnet: DevnetProcess,
    stopped: Callable[[], None],
) -> None:  # fmt: skip
    master = master_factory()
    with master.http() as http:
        wait_for(lambda: readyz(http).status_code == 200, timeout=WITHIN)
        ready = readyz(http)
        assert ready.text.splitlines() == [
            "[+]chain ok", "[+]checkpoints ok", "[+]watcher ok", "[+]store ok", "[+]enclave ok",
            "readyz check passed",
        ]  # fmt: skip
        assert http.get("/readyz").text == "ok"
        assert http.get("/livez").text == "ok"
        assert http.get("/health_check").json()["status"] == "ok"  # the Nautilus convention
        assert metric(http, "nautilus_chain_up") == 1

        stopped()
        # (the `checkpoints` check, the verified chain's freshness, may fail a moment earlier)
        wait_for(lambda: "[-]chain failed" in readyz(http).text, timeout=WITHIN)
        lines = readyz(http).text.splitlines()
        assert lines[0].startswith("[-]chain failed: no answer from the chain for ")
        assert lines[-1] == "readyz check failed"
        assert {"[+]store ok", "[+]enclave ok"} <= set(lines)
        plain = http.get("/readyz")  # without ?verbose a failure still names the checks
        assert plain.status_code == 503 and "[-]chain failed" in plain.text
        live = http.get("/livez", params={"verbose": ""})
        assert live.status_code == 200 and live.text.splitlines() == [
            "[+]ping ok",
            "livez check passed",
        ]
        assert metric(http, "nautilus_chain_up") == 0

        os.kill(devnet.proc.pid, signal.SIGCONT)
        wait_for(lambda: readyz(http).status_code == 200, timeout=WITHIN)
        assert metric(http, "nautilus_chain_up") == 1
        count = metric(http, "nautilus_http_request_seconds_count", route="/readyz", status="503")
        assert count is not None and count >= 2
        assert metric(http, "k3s_daas_build_info") == 1
        assert (metric(http, "process_resident_memory_bytes") or 0) > 0
        assert (metric(http, "nautilus_store_seconds_count", op="put") or 0) >= 1
        assert (metric(http, "nautilus_audit_append_seconds_count") or 0) >= 0
