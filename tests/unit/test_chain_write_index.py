"""The verified reader's compact index of object writes: the last verified write of each object,
and `VerifiedChain` proving served objects against it exactly as before it was compacted (the
right version is accepted, an older one, a changed one or one never written is not)."""

from __future__ import annotations

import tracemalloc

import pytest

from harness.sui_fixture import load
from k3s_daas.chain import ChainClient, Deployment, Endpoint, FailedCheck, UnverifiedChainData
from k3s_daas.chain.certified import MoveObject, Object, Owner, StructType, digest_to_base58
from k3s_daas.chain.deployment import CommitteeAnchor
from k3s_daas.chain.records import ObjectData
from k3s_daas.chain.verified import _NEWER, VerifiedChain
from k3s_daas.chain.write_index import LastWrite, WriteIndex

A = "0x" + "a1" * 32
B = "0x" + "b2" * 32
D1, D2 = bytes(range(32)), bytes(range(1, 33))


def test_the_last_write_of_each_object_wins() -> None:
    index = WriteIndex()
    index.record({A: (1, D1), B: (4, D2)}, 5)
    assert index.last_write(A) == LastWrite(1, D1, 5)
    index.record({A: (3, D2)}, 9)
    assert index.last_write(A) == LastWrite(3, D2, 9)
    assert index.last_write(B) == LastWrite(4, D2, 5)
    assert len(index) == 2


def test_a_deleted_object_is_forgotten() -> None:
    index = WriteIndex()
    index.record({A: (1, D1)}, 5)
    index.record({A: None, B: None}, 6)
    assert index.last_write(A) is None
    assert index.last_write(B) is None
    assert len(index) == 0


@pytest.mark.parametrize(
    "spelling", [A.upper().replace("0X", "0x"), "0x2", A[2:], A + "00", "0xzz"]
)
def test_only_the_spelling_verified_ids_have_is_found(spelling: str) -> None:
    index = WriteIndex()
    index.record({A: (1, D1), "0x" + "0" * 63 + "2": (1, D1)}, 5)
    assert index.last_write(spelling) is None


def test_an_entry_costs_about_two_hundred_bytes() -> None:
    writes = {
        "0x" + i.to_bytes(32, "big").hex(): (i, i.to_bytes(32, "little")) for i in range(10_000)
    }
    tracemalloc.start()
    try:
        index = WriteIndex()
        index.record(writes, 7)
        size, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(index) == 10_000
    assert size / 10_000 < 260  # ~175 B; a text key with nested tuples took ~350 B


# -- proving a served object against the index -----------------------------------------------
def _object(version: int, payload: bytes = b"") -> bytes:
    contents = bytes.fromhex(A[2:]) + payload
    data = MoveObject(StructType("0x2", "example", "Thing"), True, version, contents)
    return Object(data, Owner.by_address(B), bytes(32)).encode()


@pytest.fixture
def chain() -> VerifiedChain:
    deployment = Deployment(
        chain_id="c", grpc_endpoints=[Endpoint.parse("127.0.0.1:1")], package_id="0x1",
        pool_id=B, enclave_config_id=B, committee=CommitteeAnchor.of(load().committee),
    )  # fmt: skip
    verified = VerifiedChain(ChainClient.from_deployment(deployment), deployment)
    verified.height = 9
    return verified


def test_the_indexed_version_is_accepted_with_its_checkpoint(chain: VerifiedChain) -> None:
    raw = _object(3)
    chain._writes.record({A: (3, Object.decode(raw).digest())}, 9)
    proven = chain._prove_object(A, raw)
    assert isinstance(proven, ObjectData)
    assert (proven.object_id, proven.version, proven.checkpoint) == (A, 3, 9)
    assert proven.digest == digest_to_base58(Object.decode(raw).digest())


def test_an_older_or_changed_version_is_refused(chain: VerifiedChain) -> None:
    chain._writes.record({A: (3, Object.decode(_object(3)).digest())}, 9)
    with pytest.raises(UnverifiedChainData) as stale:
        chain._prove_object(A, _object(2))
    assert stale.value.check == FailedCheck.STALE_OBJECT
    assert "at checkpoint 9" in str(stale.value)
    with pytest.raises(UnverifiedChainData) as changed:
        chain._prove_object(A, _object(3, b"forged"))
    assert changed.value.check == FailedCheck.OBJECT_MISMATCH


def test_unindexed_newer_and_deleted_objects(chain: VerifiedChain) -> None:
    assert chain._prove_object(A, None) is None  # never written: proven absent
    assert chain._prove_object(A, _object(1)) is _NEWER  # a write the index has not seen
    chain._writes.record({A: (3, Object.decode(_object(3)).digest())}, 9)
    assert chain._prove_object(A, _object(4)) is _NEWER
    assert chain._prove_object(A, None) is _NEWER  # indexed, yet not served: withheld
    chain._writes.record({A: None}, 10)
    assert chain._prove_object(A, None) is None  # deleted: absent, as never written
    assert chain._prove_object(A, _object(3)) is _NEWER
