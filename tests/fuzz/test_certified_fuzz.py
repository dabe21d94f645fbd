"""Hypothesis feeds the certified-format decoders what a lying node could send: any bytes give a
value or a `BcsError` (never another exception), a decoded value re-encodes to the same bytes, and
mutating a real checkpoint's pieces never yields anything the verifier accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.sui_fixture import load
from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    BcsError,
    CheckpointContents,
    CheckpointSummary,
    Committee,
    Object,
    TransactionEffects,
    TransactionEvents,
    decode_signers,
    encode_signers,
)
from k3s_daas.chain.errors import UnverifiedChainData
from k3s_daas.chain.verifier import CheckpointVerifier, verify_effects, verify_object

DECODERS: list[Callable[[bytes], Any]] = [
    CheckpointSummary.decode,
    CheckpointContents.decode,
    AuthorityStrongQuorumSignInfo.decode,
    Committee.decode,
    TransactionEffects.decode,
    TransactionEvents.decode,
    Object.decode,
]
FIXTURE = load()
SEEDS = [
    FIXTURE.summary,
    FIXTURE.contents,
    FIXTURE.certificate_bcs,
    FIXTURE.committee.encode(),
    FIXTURE.transactions[3].effects,
    b"\x00",
    FIXTURE.transactions[3].output_objects[0],
]
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """`seed` with a few bytes changed, cut short or extended."""
    edits = st.lists(st.tuples(st.integers(0, len(seed) - 1), st.integers(0, 255)), max_size=4)
    return st.tuples(edits, st.integers(0, len(seed)), st.binary(max_size=4)).map(
        lambda t: _apply(seed, *t)
    )


def _apply(seed: bytes, edits: list[tuple[int, int]], cut: int, tail: bytes) -> bytes:
    out = bytearray(seed)
    for index, value in edits:
        out[index] = value
    return bytes(out[:cut] if cut else out) + tail  # cut 0: keep everything


@pytest.mark.parametrize("index", range(len(DECODERS)))
@FAST
@given(data=st.data())
def test_decoders_take_any_bytes(index: int, data: st.DataObject) -> None:
    raw = data.draw(st.one_of(st.binary(max_size=400), mutated(SEEDS[index])))
    decode = DECODERS[index]
    try:
        value = decode(raw)
    except BcsError:
        return
    assert value.encode() == raw


@FAST
@given(indices=st.lists(st.integers(0, 2**20), max_size=50))
def test_signer_bitmaps_round_trip(indices: list[int]) -> None:
    assert decode_signers(encode_signers(indices)) == tuple(sorted(set(indices)))


@FAST
@given(raw=st.one_of(st.binary(max_size=64), mutated(FIXTURE.certificate.bitmap())))
def test_signer_bitmaps_decode_strictly(raw: bytes) -> None:
    try:
        signers = decode_signers(raw)
    except BcsError:
        return
    assert encode_signers(signers) == raw


@settings(max_examples=150, deadline=None)
@given(summary=mutated(FIXTURE.summary), effects=mutated(FIXTURE.transactions[4].effects))
def test_a_mutated_real_checkpoint_is_never_accepted(summary: bytes, effects: bytes) -> None:
    verifier = CheckpointVerifier(FIXTURE.committee)
    if summary != FIXTURE.summary:
        with pytest.raises(UnverifiedChainData):
            verifier.follow(summary, FIXTURE.certificate)
    checkpoint = verifier.follow(FIXTURE.summary, FIXTURE.certificate, FIXTURE.contents)
    if effects != FIXTURE.transactions[4].effects:
        with pytest.raises(UnverifiedChainData):
            verify_effects(checkpoint, effects)
    verified = verify_effects(checkpoint, FIXTURE.transactions[4].effects)
    assert verify_object(verified, FIXTURE.transactions[4].output_objects[0]).version > 0
