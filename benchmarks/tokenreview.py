"""The master's TokenReview webhook and its revocation latency, against a real devnet and a real
master process (bounded: ~25 s, at most OVERALL_TIMEOUT).

Measures:

1. TokenReview throughput and latency over HTTPS keep-alive with a warm validation cache
   (`POST /apis/webhooks/tokenreview`, a user token and node tokens round-robin, every answer
   checked to be 200 + `authenticated: true`; 32 connections, fixed seconds). Baseline: the no-op
   endpoint `POST /api/v1/noop` of the same server, same connections and duration, rounds
   interleaved in the same run. Also the master's CPU per request (from /proc) for both, which
   does not depend on how busy the shared machine is. The client is a lean HTTP/1.1 one (see
   `Conn`): with httpx the client, not the master, is the bottleneck.
2. Revocation latency: from submitting `slash` for a node stake whose token sits in the master's
   positive cache to the first TokenReview that answers `authenticated: false` (reason
   `stake_slashed`), 20 slashes one at a time. The master runs with its production cache TTLs
   (positive 30 s), so the denial can only come from the chain watcher purging the cache on
   `StakeSlashed`. Baseline: the slash transaction's own round trip (submit to confirmed); also
   reported is confirmed -> first denial (negative when the master denies before the client has
   seen its own confirmation).

Client and server share the machine: compare the ratios across runs, not the absolute numbers.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.table import Table

from benchmarks._measure import Conn, cpu_seconds, lat_ms, pct, row
from harness.devnet import DevnetProcess
from harness.master import TEST_ENV, MasterProcess, fund
from harness.processes import free_port
from k3s_daas.chain import ChainClient, K3sDaasPackage, MintedToken, SuiKeyPair
from k3s_daas.kube.webhooks import TOKENREVIEW_PATH
from k3s_daas.nautilus.settings import NautilusSettings

NOOP_PATH: Final = "/api/v1/noop"
SLASHES = 20  # node stakes minted, each slashed once
SIGNERS = 5  # funded keys minting the node stakes in parallel
LOAD_TOKENS = 4  # node tokens (besides the user token) in the throughput round-robin
STAKE = 1_000
CONCURRENCY = 32
LOAD_SECONDS = 3.0  # per round; ROUNDS rounds of each endpoint, interleaved
ROUNDS = 2
WARM_PER_CONNECTION = 3
POLL_TIMEOUT = 10.0  # per slash
OVERALL_TIMEOUT = 150.0
EXPECTED_REASON: Final = "stake_slashed"

#: The master's production timings: harness.master.TEST_ENV shortens them (cache TTL 1 s,
#: epoch TTL 0.2 s, ...), which would let a TTL, not the watcher, revoke the token.
PRODUCTION_ENV: Final = {
    key: str(NautilusSettings.model_fields[key.removeprefix("K3S_DAAS_NAUTILUS_").lower()].default)
    for key in TEST_ENV
}


def _review(token: str) -> bytes:
    return json.dumps(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
    ).encode()


class _Requests:
    """Pre-encoded requests to one master."""

    def __init__(self, master: MasterProcess) -> None:
        self.host = f"127.0.0.1:{master.port}"

    def get(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()

    def post(self, path: str, body: bytes) -> bytes:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


async def _token_review(conn: Conn, request: bytes) -> dict[str, Any]:
    code, body = await conn.send(request)
    if code != 200:
        raise RuntimeError(f"TokenReview answered {code}: {body[:300]!r}")
    return dict(json.loads(body)["status"])


async def _cache_counts(conn: Conn, requests: _Requests) -> dict[str, float]:
    code, body = await conn.send(requests.get("/metrics"))
    if code != 200:
        raise RuntimeError(f"/metrics answered {code}")
    pattern = r'^nautilus_cache_total\{outcome="(\w+)"\} ([0-9.e+]+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, body.decode(), re.MULTILINE)}


Request = Callable[[Conn, int], Awaitable[None]]


# -- 1. throughput ---------------------------------------------------------------------------------
async def _round(conns: list[Conn], request: Request) -> tuple[int, float, list[float]]:
    """One loop per connection for LOAD_SECONDS: (requests, seconds, latencies)."""
    lat: list[float] = []
    stop = time.perf_counter() + LOAD_SECONDS

    async def loop(worker: int) -> None:
        i = worker
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            await request(conns[worker], i)
            lat.append(time.perf_counter() - t0)
            i += len(conns)

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(len(conns))))
    return len(lat), time.perf_counter() - t0, lat


async def _throughput(master: MasterProcess, tokens: list[str]) -> dict[str, Any]:
    requests = _Requests(master)
    reviews = [requests.post(TOKENREVIEW_PATH, _review(t)) for t in tokens]
    # A POST of the same body, as the review is: the listener reads and parses alike.
    noop_request = requests.post(NOOP_PATH, _review(tokens[0]))

    async def noop(conn: Conn, i: int) -> None:
        code, body = await conn.send(noop_request)
        if code != 200 or json.loads(body) != {}:
            raise RuntimeError(f"noop answered {code}: {body[:300]!r}")

    async def review(conn: Conn, i: int) -> None:
        status = await _token_review(conn, reviews[i % len(reviews)])
        if status.get("authenticated") is not True:
            raise RuntimeError(f"token {i % len(reviews)} not authenticated: {status}")

    endpoints: dict[str, Request] = {"noop_https": noop, "tokenreview_https": review}
    ctx = ssl.create_default_context(cafile=master.ca_path)
    conns = list(await asyncio.gather(*(Conn.open(master.port, ctx) for _ in range(CONCURRENCY))))
    pid = master.proc.pid
    try:
        # Every connection open and every token in the positive cache before timing.
        for request in endpoints.values():
            for w in range(WARM_PER_CONNECTION):
                await asyncio.gather(
                    *(request(c, w * CONCURRENCY + i) for i, c in enumerate(conns))
                )
        before = await _cache_counts(conns[0], requests)
        totals = {name: [0, 0.0, 0.0, 0.0] for name in endpoints}  # n, secs, server, client CPU
        lat: dict[str, list[float]] = {name: [] for name in endpoints}
        for _ in range(ROUNDS):
            for name, request in endpoints.items():
                server0, client0 = cpu_seconds(pid), time.process_time()
                count, seconds, round_lat = await _round(conns, request)
                server1, client1 = cpu_seconds(pid), time.process_time()
                t = totals[name]
                t[0] += count
                t[1] += seconds
                t[2] += server1 - server0
                t[3] += client1 - client0
                lat[name] += round_lat
        after = await _cache_counts(conns[0], requests)
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    out: dict[str, Any] = {}
    for name, (n, secs, server, client) in totals.items():
        out[name] = {
            **row(n / secs, lat[name]),
            "requests": int(n),
            "server_cpu_ms_per_req": round(server / n * 1000, 3),
            "client_cpu_ms_per_req": round(client / n * 1000, 3),
        }
    tr, noop_row = out["tokenreview_https"], out["noop_https"]
    out["tokenreview_vs_noop"] = round(tr["per_s"] / noop_row["per_s"], 3)
    out["tokenreview_vs_noop_server_cpu"] = round(
        tr["server_cpu_ms_per_req"] / noop_row["server_cpu_ms_per_req"], 3
    )
    out["cache_hits_during_load"] = int(after.get("hit", 0) - before.get("hit", 0))
    out["cache_misses_during_load"] = int(after.get("miss", 0) - before.get("miss", 0))
    out["tokens"] = len(tokens)
    out["concurrency"] = CONCURRENCY
    out["seconds_per_endpoint"] = LOAD_SECONDS * ROUNDS
    return out


# -- 2. revocation ---------------------------------------------------------------------------------
async def _slash_once(
    pkg: K3sDaasPackage, admin: SuiKeyPair, conn: Conn, request: bytes, stake_record_id: str
) -> tuple[float, float, str]:
    """Slash one cached stake: (confirm seconds, first-denial seconds, reason), both from t0."""
    status = await _token_review(conn, request)  # puts it in the positive cache (TTL 30 s)
    if status.get("authenticated") is not True:
        raise RuntimeError(f"token not authenticated before its slash: {status}")

    async def poll() -> tuple[float, str]:
        deadline = time.perf_counter() + POLL_TIMEOUT
        while time.perf_counter() < deadline:
            answer = await _token_review(conn, request)
            if answer.get("authenticated") is not True:
                return time.perf_counter(), str(answer.get("error", ""))
        raise TimeoutError(f"TokenReview still authenticated {POLL_TIMEOUT} s after the slash")

    poller = asyncio.create_task(poll())
    try:
        t0 = time.perf_counter()
        await pkg.slash(admin, stake_record_id)
        confirmed = time.perf_counter()
        denied, reason = await poller
    finally:
        if not poller.done():
            poller.cancel()
    return confirmed - t0, denied - t0, reason


async def _revocation(
    pkg: K3sDaasPackage, admin: SuiKeyPair, master: MasterProcess, stakes: list[MintedToken]
) -> dict[str, Any]:
    confirm: list[float] = []
    denial: list[float] = []
    after_confirm: list[float] = []
    reasons: dict[str, int] = {}
    requests = _Requests(master)
    ctx = ssl.create_default_context(cafile=master.ca_path)
    conn = await Conn.open(master.port, ctx)
    try:
        for minted in stakes:
            request = requests.post(TOKENREVIEW_PATH, _review(minted.token))
            c, d, reason = await _slash_once(pkg, admin, conn, request, minted.stake_record_id)
            confirm.append(c)
            denial.append(d)
            after_confirm.append(d - c)
            reasons[reason] = reasons.get(reason, 0) + 1
    finally:
        await conn.close()
    if set(reasons) != {EXPECTED_REASON}:
        raise RuntimeError(f"denials gave reasons {reasons}, expected only {EXPECTED_REASON!r}")
    return {
        "slashes": len(stakes),
        "slash_confirm": lat_ms(confirm),
        "slash_to_denial": lat_ms(denial),
        "confirm_to_denial": lat_ms(after_confirm),
        "denial_vs_confirm_p50": round(pct(denial, 0.5) / pct(confirm, 0.5), 3),
        "reasons": reasons,
        "cache_ttl_s": float(PRODUCTION_ENV["K3S_DAAS_NAUTILUS_CACHE_TTL"]),
    }


def _purges_logged(master: MasterProcess) -> int:
    """StakeSlashed events the master's watcher applied with a cache entry to purge."""
    count = 0
    for line in master.log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(entry, dict)
            and entry.get("kind") == "StakeSlashed"
            and int(entry.get("purged") or 0) > 0
        ):
            count += 1
    return count


# -- the run ---------------------------------------------------------------------------------------
async def _mint(pkg: K3sDaasPackage, node: DevnetProcess) -> tuple[MintedToken, list[MintedToken]]:
    """One user token and SLASHES node tokens (each node stake its own StakeRecord)."""
    signers = [SuiKeyPair.generate() for _ in range(SIGNERS)]
    user = SuiKeyPair.generate()
    await fund(node, user.address, *(k.address for k in signers))
    prefix = secrets.token_hex(2)

    async def nodes(s: int) -> list[MintedToken]:
        return [
            await pkg.stake_and_create_worker_token(signers[s], STAKE, f"tr{prefix}-{i}")
            for i in range(s, SLASHES, SIGNERS)
        ]

    async def user_token() -> MintedToken:
        record = await pkg.stake_for_user(user, STAKE)
        return await pkg.create_user_token(user, record.id, ["pods:read", "services:read"])

    user_task = asyncio.ensure_future(user_token())
    per_signer = await asyncio.gather(*(nodes(s) for s in range(SIGNERS)))
    return await user_task, [m for batch in per_signer for m in batch]


async def _measure(node: DevnetProcess, master: MasterProcess) -> dict[str, Any]:
    admin_key_path = node.deployment.admin_key_path
    if not admin_key_path:
        raise RuntimeError("devnet.json names no admin key")
    admin = SuiKeyPair.load(Path(str(admin_key_path)))
    async with ChainClient.from_deployment(node.deployment) as client:
        pkg = K3sDaasPackage(client, node.deployment)
        user, stakes = await _mint(pkg, node)
        load_tokens = [user.token, *(m.token for m in stakes[:LOAD_TOKENS])]
        out = await _throughput(master, load_tokens)
        out["revocation"] = await _revocation(pkg, admin, master, stakes)
    out["revocation"]["watcher_purges_logged"] = _purges_logged(master)
    return out


def _table(results: dict[str, Any]) -> Table:
    table = Table(
        title="TokenReview on the Nautilus master (client and server share the machine)",
        caption="srv CPU: the master's CPU ms per request; denial/confirm: p50 ratio",
    )
    columns = ("measure", "per s", "p50 ms", "p99 ms", "max ms", "srv CPU")
    for column in columns:
        table.add_column(column, justify="left" if column == "measure" else "right")
    blank = [""] * (len(columns) - 2)
    for name in ("noop_https", "tokenreview_https"):
        r = results[name]
        cells = (f"{r['per_s']:,.1f}", str(r["p50_ms"]), str(r["p99_ms"]), "")
        table.add_row(name.removesuffix("_https"), *cells, str(r["server_cpu_ms_per_req"]))
    ratios = (f"x{results['tokenreview_vs_noop']}", "", "", "")
    table.add_row("tokenreview/noop", *ratios, f"x{results['tokenreview_vs_noop_server_cpu']}")
    hits, misses = results["cache_hits_during_load"], results["cache_misses_during_load"]
    table.add_row("cache in load", f"{hits} hits", f"{misses} misses", *blank[1:])
    rev = results["revocation"]
    for label, key in (("slash confirmed", "slash_confirm"),
                       ("slash->denial", "slash_to_denial"),
                       ("confirm->denial", "confirm_to_denial")):  # fmt: skip
        r = rev[key]
        table.add_row(label, "", str(r["p50_ms"]), str(r["p99_ms"]), str(r["max_ms"]), "")
    table.add_row("denial/confirm", f"x{rev['denial_vs_confirm_p50']}", *blank)
    reasons = ", ".join(f"{k}×{v}" for k, v in rev["reasons"].items())
    table.add_row(f"reasons ({rev['slashes']})", reasons, *blank)
    table.add_row("watcher purges", str(rev["watcher_purges_logged"]), *blank)
    return table


def run(out_dir: Path) -> dict[str, Any]:
    """Start a devnet and a master (production cache TTLs), measure, print a table, return."""
    del out_dir
    with tempfile.TemporaryDirectory(prefix="bench-tokenreview-") as tmp:
        folder = Path(tmp)
        node = DevnetProcess(folder / "devnet", free_port(), free_port())
        master = MasterProcess(node, folder / "master", free_port(), dict(PRODUCTION_ENV))
        try:
            node.start()
            master.start()
            results = asyncio.run(asyncio.wait_for(_measure(node, master), OVERALL_TIMEOUT))
        finally:
            if hasattr(master, "proc"):
                master.stop()
            if hasattr(node, "proc"):
                node.stop()
    Console().print(_table(results))
    return results


if __name__ == "__main__":
    run(Path("."))
