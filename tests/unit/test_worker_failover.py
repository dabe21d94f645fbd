"""The worker's master pool and retry timing, without a network: attestation and the requests
are test doubles, the clock is fake.

Pinned: a master that cannot be reached is left for the next one within the same call (no
backoff first), the one that answered is tried first afterwards, a restarted master (new
enclave key) is attested again, a refusal is not a reason to fail over, and two workers
started together against a dead master retry at different instants (full jitter)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from k3s_daas.chain import ChainUnavailable, SuiKeyPair
from k3s_daas.worker.agent import WorkerAgent
from k3s_daas.worker.attested import AttestedMaster, MasterNotTrusted, MasterUnreachable
from k3s_daas.worker.config import WorkerConfig
from k3s_daas.worker.master import MasterClient, MasterRejected, MasterUnavailable
from k3s_daas.worker.masters import MasterPool, Timeouts, Trust
from tests.fixtures.clock import FakeClock

A, B, C = "https://a.example:8443", "https://b.example:8443", "https://c.example:8443"


def _certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "master")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip


CERT = _certificate()
DER = CERT.public_bytes(serialization.Encoding.DER)


class Attestations:
    """The `attest` double: records each URL attested; `refuse`/`unreachable` fail some."""

    def __init__(self) -> None:
        self.attested: list[str] = []
        self.refuse: set[str] = set()
        self.unreachable: set[str] = set()
        self.generation: dict[str, int] = {}

    async def __call__(self, url: str, **_: Any) -> AttestedMaster:
        self.attested.append(url)
        if url in self.unreachable:
            raise MasterUnreachable(f"{url}: unreachable (ConnectError)")
        if url in self.refuse:
            raise MasterNotTrusted(f"{url}: enclave key is not registered on chain")
        self.generation[url] = self.generation.get(url, 0) + 1
        key = bytes([self.generation[url]]) * 32  # a restart = a new enclave key
        return AttestedMaster(url, f"enclave-{url[8]}", key, DER)


def pool_of(urls: list[str], attest: Attestations, loads: list[int] | None = None) -> MasterPool:
    async def trust() -> Trust:
        if loads is not None:
            loads.append(1)
        return Trust(CERT, {}, [], urls)

    return MasterPool(trust, SuiKeyPair.generate(), Timeouts(1, 1, 1), attest=attest)


def answering(down: set[str], asked: list[str]) -> Callable[[MasterClient], Awaitable[str]]:
    async def op(master: MasterClient) -> str:
        asked.append(master.url)
        if master.url in down:
            raise MasterUnavailable(f"{master.url}: ConnectError")
        return master.url

    return op


async def test_an_unreachable_master_is_left_for_the_next_at_once_and_the_next_is_kept() -> None:
    attest, asked = Attestations(), list[str]()
    pool = pool_of([A, B], attest)
    op = answering(set(), asked)
    assert await pool.call(op) == A
    assert await pool.call(answering({A}, asked)) == B  # A dead: B in the same call
    assert asked == [A, A, B]
    assert pool.master is not None and pool.master.url == B
    assert await pool.call(op) == B  # remembered: A (which may be back) is not asked first
    assert asked[-1] == B and len(asked) == 4
    assert attest.attested == [A, B]  # B attested once, when first needed
    await pool.close()


async def test_no_master_answering_is_unavailable_and_only_impostors_is_not_trusted() -> None:
    attest, asked = Attestations(), list[str]()
    pool = pool_of([A, B], attest)
    attest.unreachable = {B}
    with pytest.raises(MasterUnavailable, match="no master answered"):
        await pool.call(answering({A}, asked))
    loads: list[int] = []
    impostors = Attestations()
    impostors.refuse = {A, B}
    strict = pool_of([A, B], impostors, loads)
    with pytest.raises(MasterNotTrusted, match="no master could be attested"):
        await strict.call(answering(set(), asked))
    # each refusal re-read the chain once (a master may have restarted with a new key)
    assert impostors.attested == [A, A, B, B] and len(loads) == 3
    await pool.close()
    await strict.close()


async def test_a_restarted_master_is_attested_again_and_a_refusal_does_not_fail_over() -> None:
    attest, asked = Attestations(), list[str]()
    pool = pool_of([A, B], attest)
    keys: list[bytes] = []

    async def signed_for_the_current_key(master: MasterClient) -> str:
        keys.append(master.attested.enclave_public_key)
        if len(keys) == 1:  # our request was signed for the key A had before its restart
            raise MasterRejected(401, "bad_signature", "signature does not verify")
        return master.url

    assert await pool.call(signed_for_the_current_key) == A
    assert attest.attested == [A, A] and keys[0] != keys[1]

    async def slashed(master: MasterClient) -> str:
        asked.append(master.url)
        raise MasterRejected(403, "stake_slashed", "the stake was slashed")

    with pytest.raises(MasterRejected) as info:
        await pool.call(slashed)
    assert info.value.reason == "stake_slashed" and asked == [A]  # B is not asked
    await pool.close()


async def test_a_chain_outage_while_reading_the_enclaves_is_an_outage_not_a_crash() -> None:
    async def unreadable() -> Trust:
        raise ChainUnavailable("no chain endpoint answered")

    pool = MasterPool(unreadable, SuiKeyPair.generate(), Timeouts(1, 1, 1), attest=Attestations())
    with pytest.raises(MasterUnavailable, match="enclaves not readable"):
        await pool.call(answering(set(), []))


def test_timeouts_are_short_next_to_the_heartbeat_interval() -> None:
    assert Timeouts.for_interval(10.0, 10.0, 2.0) == Timeouts(connect=2.0, heartbeat=5.0,
                                                              request=10.0)  # fmt: skip
    assert Timeouts.for_interval(0.5, 10.0, 2.0) == Timeouts(connect=1.0, heartbeat=1.0,
                                                             request=10.0)  # fmt: skip
    assert Timeouts.for_interval(60.0, 10.0, 2.0).heartbeat == 10.0  # never past request_timeout


# -- two workers restarted together -------------------------------------------------------------
class DeadMasters:
    """A pool whose masters never answer; records when (on the fake clock) each call came."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    @property
    def master(self) -> None:
        return None

    async def call(self, op: object) -> object:
        del op
        self.calls.append(self.clock.now)
        raise MasterUnavailable("no master answered: ConnectError")


def agent(tmp_path: Path, name: str, clock: FakeClock, seed: int) -> WorkerAgent:
    folder = tmp_path / name
    folder.mkdir()
    SuiKeyPair.generate().save(folder / "sui.key")
    zero = "0x" + "00" * 31
    (folder / "deployment.json").write_text(json.dumps({
        "chain_id": "test", "grpc_endpoints": ["127.0.0.1:1"], "package_id": zero + "01",
        "pool_id": zero + "02", "enclave_config_id": zero + "03",
    }))  # fmt: skip
    config = WorkerConfig(
        node_id=name, sui_key_file=folder / "sui.key", deployment=folder / "deployment.json",
        state_file=folder / "state.json", heartbeat_interval=10.0, max_backoff=30.0,
    )  # fmt: skip
    worker = WorkerAgent(config, sleep=clock.sleep, rng=random.Random(seed).random)
    worker.state.token = "seal_test"
    return worker


async def test_two_workers_started_together_do_not_retry_in_lockstep(tmp_path: Path) -> None:
    clock = FakeClock()
    pools = [DeadMasters(clock), DeadMasters(clock)]
    workers = [agent(tmp_path, f"w{i}", clock, seed=i) for i in (1, 2)]
    tasks = [
        asyncio.create_task(w._join(p))  # type: ignore[arg-type]
        for w, p in zip(workers, pools, strict=True)
    ]
    start = clock.now
    while min(len(p.calls) for p in pools) < 8:
        await asyncio.sleep(0)
        wake = clock.next_wake()
        if wake is not None and len(clock.sleeps) >= sum(len(p.calls) for p in pools):
            clock.advance(wake - clock.now)
        assert clock.now - start < 3_600, "the workers stopped retrying"
    for task in tasks:
        task.cancel()
    first, second = (p.calls[:8] for p in pools)
    assert first[0] == second[0] == start  # both failed at the same instant ...
    # ... and from then on never retry together: every retry at its own instant
    assert all(abs(a - b) > 0.01 for a, b in zip(first[1:], second[1:], strict=True))
    for calls in (first, second):
        gaps = [b - a for a, b in itertools.pairwise(calls)]
        assert all(0 <= gap <= 30.0 for gap in gaps)  # capped at max_backoff
        assert len({round(gap, 6) for gap in gaps}) == len(gaps)  # jittered, not a fixed ladder
