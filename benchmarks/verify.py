"""Checkpoint verification cost: per checkpoint (decode, quorum, BLS aggregate verify, contents
digest) and per object proof (effects listed in verified contents, object digest in the effects),
on the real checkpoint 1137 and on a generated 4-validator chain; the devnet's side (signing) too.

Same-run baselines: blake2b-256 of the very bytes each step hashes (the floor of any digest
check) and the bare BLS pairing check. Medians in µs. `cpu_at_4_per_s` is the share of one core
that following a chain at 4 checkpoints/s costs (the issue's goal: at most 5%).
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.sui_fixture import load
from k3s_daas.chain.bls import BlsPrivateKey, BlsPublicKey, aggregate_signatures, verify_aggregate
from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    CheckpointContents,
    CheckpointSummary,
    Committee,
    CommitteeMember,
    ExecutionDigests,
    GasCostSummary,
    TransactionEffects,
    signing_message,
)
from k3s_daas.chain.verifier import CheckpointVerifier, verify_effects, verify_object
from k3s_daas.devnet.validators import ValidatorKeys

MAX_SECONDS = 1.5  # per measurement
MAX_COUNT = 3000
CHAIN_LENGTH = 400


def _median_us(fn: Callable[[], object]) -> tuple[float, int]:
    """Median wall time of one call of `fn` in µs, bounded by MAX_COUNT calls and MAX_SECONDS."""
    fn()  # warm
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < MAX_COUNT and time.perf_counter() - start < MAX_SECONDS:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6, len(samples)


def _blake2b(data: bytes) -> Callable[[], object]:
    return lambda: hashlib.blake2b(data, digest_size=32).digest()


Signed = tuple[bytes, AuthorityStrongQuorumSignInfo, bytes]


def _generated_chain() -> tuple[Committee, list[Signed]]:
    """A 4-validator committee and CHAIN_LENGTH linked summaries, each signed by 3 of 4."""
    keys = [BlsPrivateKey.from_seed(bytes([i + 1]) * 32) for i in range(4)]
    keys.sort(key=lambda k: k.public_key())
    committee = Committee(0, tuple(CommitteeMember(k.public_key(), 2500) for k in keys))
    contents = CheckpointContents.of(
        tuple(ExecutionDigests(bytes([i]) * 32, bytes([i + 1]) * 32) for i in range(5))
    )
    chain = []
    previous: bytes | None = None
    for sequence in range(CHAIN_LENGTH):
        summary = CheckpointSummary(
            epoch=0,
            sequence_number=sequence,
            network_total_transactions=5 * (sequence + 1),
            content_digest=contents.digest(),
            previous_digest=previous,
            epoch_rolling_gas_cost_summary=GasCostSummary(),
            timestamp_ms=1_700_000_000_000 + 250 * sequence,
        )
        signers = {i: keys[i] for i in (0, 1, 2, 3) if i != sequence % 4}
        chain.append(
            (
                summary.encode(),
                AuthorityStrongQuorumSignInfo.sign(summary, signers),
                contents.encode(),
            )
        )
        previous = summary.digest()
    return committee, chain


def run(out_dir: Path) -> dict[str, object]:
    fixture = load()
    rows: dict[str, tuple[float, int]] = {}

    # -- per checkpoint: the real one, out of order (certify does not move the chain) ----------
    verifier = CheckpointVerifier(fixture.committee)
    checkpoint_bytes = fixture.summary + fixture.certificate_bcs + fixture.contents
    rows["blake2b(summary+certificate+contents) (baseline)"] = _median_us(
        _blake2b(checkpoint_bytes)
    )
    signers = [BlsPublicKey.from_bytes(fixture.committee.members[i].public_key) for i in (1, 2, 3)]
    message = signing_message(fixture.summary, 0)
    rows["BLS aggregate verify alone (3 signers) (baseline)"] = _median_us(
        lambda: verify_aggregate(signers, message, fixture.certificate.signature)
    )
    rows["decode summary (170 B)"] = _median_us(lambda: CheckpointSummary.decode(fixture.summary))
    rows["decode contents (9 txs)"] = _median_us(
        lambda: CheckpointContents.decode(fixture.contents)
    )
    rows["real checkpoint 1137: certify + contents"] = _median_us(
        lambda: verifier.certify(fixture.summary, fixture.certificate, fixture.contents)
    )

    # -- per checkpoint: following a generated chain (link + quorum + BLS + contents) ---------
    committee, chain = _generated_chain()
    follower = CheckpointVerifier(committee)
    follow_samples = []
    for summary_bcs, certificate, contents_bcs in chain:
        t0 = time.perf_counter()
        follower.follow(summary_bcs, certificate, contents_bcs)
        follow_samples.append(time.perf_counter() - t0)
    rows["follow a generated chain (4 validators, 3 sign)"] = (
        statistics.median(follow_samples) * 1e6,
        len(follow_samples),
    )

    # -- per object proof ------------------------------------------------------------------------
    checkpoint = verifier.certify(fixture.summary, fixture.certificate, fixture.contents)
    big = fixture.transactions[4]  # 25 KB effects, 249 objects written
    small = fixture.transactions[0]  # 249 B effects, 1 object written
    rows["blake2b(effects 25 KB + object) (baseline)"] = _median_us(
        _blake2b(big.effects + big.output_objects[0])
    )
    rows["effects 25 KB (249 changes): verify"] = _median_us(
        lambda: verify_effects(checkpoint, big.effects)
    )
    big_effects = verify_effects(checkpoint, big.effects)
    rows["object proof, effects already verified"] = _median_us(
        lambda: verify_object(big_effects, big.output_objects[0])
    )
    rows["blake2b(effects 249 B + object) (baseline)"] = _median_us(
        _blake2b(small.effects + small.output_objects[0])
    )
    rows["cold object proof: effects 249 B + object"] = _median_us(
        lambda: verify_object(verify_effects(checkpoint, small.effects), small.output_objects[0])
    )
    rows["decode effects 25 KB"] = _median_us(lambda: TransactionEffects.decode(big.effects))

    # -- the devnet's side: certifying a checkpoint --------------------------------------------
    key = BlsPrivateKey.from_seed(bytes(32))
    signatures = [key.sign(message)] * 3
    rows["devnet: one validator signs a summary"] = _median_us(lambda: key.sign(message))
    rows["devnet: aggregate 3 signatures"] = _median_us(lambda: aggregate_signatures(signatures))
    validators = ValidatorKeys(bytes(32))
    genesis = validators.genesis(4)
    summary = CheckpointSummary.decode(fixture.summary)
    rows["devnet: certify a summary (4 validators sign, aggregate)"] = _median_us(
        lambda: validators.certify(summary, genesis)
    )

    result: dict[str, object] = {
        name: {"median_us": round(us, 1), "calls": calls} for name, (us, calls) in rows.items()
    }
    follow_us = rows["follow a generated chain (4 validators, 3 sign)"][0]
    result["cpu_at_4_per_s"] = round(4 * follow_us / 1e6, 4)
    result["certify_vs_bare_bls"] = round(
        rows["real checkpoint 1137: certify + contents"][0]
        / rows["BLS aggregate verify alone (3 signers) (baseline)"][0],
        3,
    )
    result["object_proof_vs_blake2b"] = round(
        rows["cold object proof: effects 249 B + object"][0]
        / rows["blake2b(effects 249 B + object) (baseline)"][0],
        1,
    )

    table = Table(title="checkpoint verification (median µs, lower is better)")
    table.add_column("measure")
    table.add_column("µs", justify="right")
    table.add_column("calls", justify="right")
    for name, (us, calls) in rows.items():
        table.add_row(name, f"{us:,.1f}", str(calls))
    for name, value in (
        ("following at 4 checkpoints/s: share of one core", f"{result['cpu_at_4_per_s']:.2%}"),
        ("certify / bare BLS verify", f"{result['certify_vs_bare_bls']}"),
        ("cold object proof / blake2b of its bytes", f"{result['object_proof_vs_blake2b']}"),
    ):
        table.add_row(name, value, "")
    Console().print(table)
    return result


if __name__ == "__main__":
    print(run(Path(tempfile.gettempdir())))
