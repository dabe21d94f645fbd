"""Schemathesis against a live master: every operation of both listeners (the main one with the
signed routes, validate, the admin view, health, attestation, metrics and the standalone
Kubernetes API; the mTLS webhook one with TokenReview and SubjectAccessReview). No answer may be
>= 500, no request may hang, the master stays up, and its RSS grows less than 50 MB.

The short variant (>= 1,000 requests) runs in `make test`; the long one (>= 10,000) in
`make faults`.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from pathlib import Path

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, Staker, chain, new_staker
from harness.processes import free_port
from k3s_daas.kube.tls import issue_client_certificate
from tests.faults.fuzzing import TIMEOUT, Credentials, Findings, Fuzzer, Listener
from tests.faults.openapi import document, listener_apps, mounted, template

MAX_RSS_GROWTH = 50 * 1024 * 1024


def rss(pid: int) -> int:
    """VmRSS of `pid` in bytes (/proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def registered_staker(devnet: DevnetProcess, master: MasterProcess) -> Staker:
    client, package = chain(devnet)
    try:
        staker = await new_staker(package, devnet, "fuzz-w1")
    finally:
        await client.close()
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=30) as http:
        answer = await staker.send(http, "register", master.public_key)
        assert answer.status_code == 200, answer.text
    return staker


def server_context(master: MasterProcess) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=master.ca_path)


def webhook_context(master: MasterProcess, tmp: Path) -> ssl.SSLContext:
    """What kube-apiserver presents: a client certificate from the master's CA."""
    issued = issue_client_certificate(master.data_dir / "tls")
    (tmp / "client.crt").write_bytes(issued.cert_pem)
    (tmp / "client.key").write_bytes(issued.key_pem)
    context = server_context(master)
    context.load_cert_chain(tmp / "client.crt", tmp / "client.key")
    return context


@pytest.mark.parametrize(
    "examples",
    [
        pytest.param(500, id="short", marks=pytest.mark.timeout(600)),
        pytest.param(5_000, id="long", marks=[pytest.mark.faults, pytest.mark.timeout(3600)]),
    ],
)
def test_fuzz_every_listener(devnet: DevnetProcess, tmp_path: Path, examples: int) -> None:
    webhook_port = free_port()
    # rate limiting off: the fuzzer is one client failing on purpose, and its requests must reach
    # the handlers, not the 429 in front of them (tests/integration/test_nautilus_floods.py)
    env = {"K3S_DAAS_NAUTILUS_WEBHOOK_PORT": str(webhook_port), "K3S_DAAS_NAUTILUS_RATE_LIMIT": "0"}
    master = MasterProcess(devnet, tmp_path / "master", free_port(), env)
    master.start()
    try:
        staker = asyncio.run(registered_staker(devnet, master))
        apps = listener_apps()
        with (
            httpx.Client(verify=server_context(master), timeout=TIMEOUT) as main,
            httpx.Client(verify=webhook_context(master, tmp_path), timeout=TIMEOUT) as hooks,
        ):
            listeners = [
                Listener("main", master.url, main, document(apps["main"], "main")),
                Listener("webhook", str(master.info["webhook_url"]), hooks,
                         document(apps["webhook"], "webhook")),
            ]  # fmt: skip
            findings = Findings()
            creds = Credentials(staker, master.admin_token, lambda: master.public_key)
            fuzzer = Fuzzer(listeners, creds, findings)
            every = {f"{n} {m} {template(p)}" for n, app in apps.items() for m, p in mounted(app)}
            assert set(fuzzer.operations) == every
            seed = random.randrange(2**32)
            fuzzer.run(2 * len(fuzzer.operations), seed)  # warm-up: lazy imports, caches, TLS
            before = rss(master.proc.pid)
            fuzzer.run(examples, seed + 1)
            after = rss(master.proc.pid)
            alive = main.get(master.url + "/health_check")
        print(
            f"\nfuzz seed {seed}: {findings.sent} requests over {len(every)} operations, "
            f"{findings.server_errors} answers >= 500, statuses {dict(findings.by_status)}, "
            f"{findings.unsendable} unsendable, RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB"
        )
        assert not findings.failures, findings.summary()
        assert findings.sent >= 2 * examples
        assert set(findings.by_operation) == every
        assert master.proc.poll() is None and alive.status_code == 200
        assert after - before < MAX_RSS_GROWTH
    finally:
        master.stop()
