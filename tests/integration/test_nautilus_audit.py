"""The master audits its decisions in the hash-chained log; `k3s-daas audit verify` checks it.
Refusals of requests that never authenticated are audited as per-minute counts, written when the
minute closes or at shutdown."""

from __future__ import annotations

import json
import subprocess

import httpx

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, chain, new_staker
from harness.processes import CLI


def audit(master: MasterProcess, *args: str) -> subprocess.CompletedProcess[str]:
    store = f"sqlite:///{(master.data_dir / 'store.db').resolve()}"
    return subprocess.run(
        [CLI, "audit", *args, "--store", store, "--data-key-file", str(master.data_dir / "data.key")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_registrations_and_denials_are_audited(
    devnet: DevnetProcess, master: MasterProcess
) -> None:
    client, package = chain(devnet)
    try:
        staker = await new_staker(package, devnet, "audited-1")
    finally:
        await client.close()
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=30) as http:
        ok = await staker.send(http, "register", master.public_key)
        assert ok.status_code == 200, ok.text
        bad = await staker.send(http, "register", b"\x00" * 32)  # signed for another master
        assert bad.status_code == 401
        checked = await http.post("/api/v1/validate", json={"token": staker.token})
        assert checked.json()["valid"] is True
        forged = staker.token[:-64] + "0" * 64  # the right object, the wrong secret
        denied = await http.post("/api/v1/validate", json={"token": forged})
        assert denied.json()["reason"] == "bad_secret"
        refused = await http.get("/api/v1/workers", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401
    master.stop()  # writes the open minute's refusal counts
    verify = audit(master, "verify")
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("audit log intact:")
    tail = audit(master, "tail", "-n", "50", "--json")
    assert tail.returncode == 0, tail.stderr
    entries = [json.loads(line) for line in tail.stdout.splitlines() if line.strip()]
    mine = [e for e in entries if e["subject"] == "audited-1" and e["action"] == "register"]
    assert [e["decision"] for e in mine] == ["accepted"]  # an authenticated decision: its own
    assert all(len(e["token_fingerprint"]) == 16 for e in mine)  # a fingerprint, never the token
    counted = {
        e["reason"]: e["details"]["actions"]
        for e in entries
        if e["action"] == "refusals" and e["decision"] == "denied"
    }
    assert counted == {
        "bad_signature": {"register": 1},
        "bad_secret": {"validate": 1},
        "unauthorized": {"list_workers": 1},
    }
    assert not [e for e in entries if e["action"] in ("validate", "list_workers")]
    assert staker.token not in tail.stdout
