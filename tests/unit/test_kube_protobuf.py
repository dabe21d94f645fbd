"""The protobuf decoder against bodies recorded from real kubectl 1.37.1, plus fuzzing: it only
ever returns a model or raises ProtobufError (a 400)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k3s_daas.kube.protobuf import (
    MAGIC,
    ProtobufError,
    decode_self_subject_access_review,
    decode_self_subject_review,
    decode_unknown,
    encode_field,
    encode_self_subject_access_review,
    encode_self_subject_review,
    encode_unknown,
    parse_fields,
)
from k3s_daas.kube.types import BadRequest

# Captured from `kubectl auth can-i ...` / `kubectl auth whoami` (kubectl 1.37.1) by a recording
# HTTPS server; hex of the exact request bodies.
CAN_I_GET_PODS = bytes.fromhex(
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363"
    "657373526576696577123c0a100a0012001a0022002a00320038004200121e0a1c0a0764656661756c741203676574"
    "1a0022002a04706f647332003a001a08080012001a0020001a002200"
)
CAN_I_LIST_NODE_STATUS = bytes.fromhex(
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363"
    "657373526576696577124a0a100a0012001a0022002a00320038004200122c0a2a0a0764656661756c7412046c6973"
    "741a0022002a056e6f64657332067374617475733a067374617475731a08080012001a0020001a002200"
)
CAN_I_GET_LOGS_PATH = bytes.fromhex(
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363"
    "657373526576696577122c0a100a0012001a0022002a00320038004200120e120c0a052f6c6f677312036765741a08"
    "080012001a0020001a002200"
)
CAN_I_PATCH_NODE_FOO = bytes.fromhex(
    "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363"
    "65737352657669657712420a100a0012001a0022002a0032003800420012240a220a0764656661756c741205706174"
    "63681a0022002a056e6f64657332003a03666f6f1a08080012001a0020001a002200"
)
WHOAMI = bytes.fromhex(
    "6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a6563745265"
    "76696577121a0a100a0012001a0022002a0032003800420012060a040a0012001a002200"
)


def test_recorded_can_i_get_pods() -> None:
    review = decode_self_subject_access_review(CAN_I_GET_PODS)
    attrs = review.spec.resourceAttributes
    assert attrs is not None and review.spec.nonResourceAttributes is None
    assert (attrs.namespace, attrs.verb, attrs.group, attrs.resource) == (
        "default",
        "get",
        "",
        "pods",
    )
    assert (attrs.subresource, attrs.name) == ("", "")


def test_recorded_subresource_and_name() -> None:
    status = decode_self_subject_access_review(CAN_I_LIST_NODE_STATUS).spec.resourceAttributes
    assert status is not None and (status.verb, status.resource, status.subresource) == (
        "list",
        "nodes",
        "status",
    )
    named = decode_self_subject_access_review(CAN_I_PATCH_NODE_FOO).spec.resourceAttributes
    assert named is not None and (named.verb, named.resource, named.name) == (
        "patch",
        "nodes",
        "foo",
    )


def test_recorded_non_resource() -> None:
    review = decode_self_subject_access_review(CAN_I_GET_LOGS_PATH)
    assert review.spec.resourceAttributes is None
    assert review.spec.nonResourceAttributes is not None
    assert review.spec.nonResourceAttributes.path == "/logs"
    assert review.spec.nonResourceAttributes.verb == "get"


def test_recorded_whoami() -> None:
    assert decode_self_subject_review(WHOAMI).kind == "SelfSubjectReview"
    unknown = decode_unknown(WHOAMI)
    assert (unknown.api_version, unknown.kind) == ("authentication.k8s.io/v1", "SelfSubjectReview")


def test_encoder_round_trips() -> None:
    body = encode_self_subject_access_review(
        {"verb": "watch", "group": "apps", "resource": "deployments"}
    )
    attrs = decode_self_subject_access_review(body).spec.resourceAttributes
    assert attrs is not None and (attrs.verb, attrs.group, attrs.resource) == (
        "watch",
        "apps",
        "deployments",
    )
    decode_self_subject_review(encode_self_subject_review())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "magic"),
        (b"k8s\x01" + CAN_I_GET_PODS[4:], "magic"),
        (CAN_I_GET_PODS[:-1], "truncated varint"),
        (CAN_I_GET_PODS[:60], "past the end"),
        (WHOAMI, "expected authorization.k8s.io/v1 SelfSubjectAccessReview"),
        (MAGIC + b"\x0b", "wire type"),  # field 1, wire type 3 (group)
        (MAGIC + b"\x08" + b"\xff" * 11, "varint"),
        (MAGIC + b"\x00\x00", "field number"),
        (encode_unknown("authorization.k8s.io/v1", "SelfSubjectAccessReview", b""), "without spec"),
        (
            encode_unknown(
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                encode_field(2, encode_field(1, b"") + encode_field(2, b"")),
            ),
            "exactly one",
        ),
        (
            encode_unknown(
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                encode_field(2, encode_field(1, encode_field(2, b"\xff\xfe"))),
            ),
            "UTF-8",
        ),
        (MAGIC + b"\x08\x01", "wrong wire type"),  # typeMeta as a varint
    ],
)
def test_malformed_bodies_are_rejected(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message):
        decode_self_subject_access_review(body)


def test_size_cap() -> None:
    with pytest.raises(ProtobufError, match="too large"):
        parse_fields(b"\x00" * (64 * 1024 + 1))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    for decode in (decode_self_subject_access_review, decode_self_subject_review):
        with contextlib.suppress(BadRequest):
            decode(MAGIC + data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(CAN_I_PATCH_NODE_FOO) - 1), st.integers(0, 255))
def test_fuzz_mutated_recordings(pos: int, byte: int) -> None:
    body = bytearray(CAN_I_PATCH_NODE_FOO)
    body[pos] = byte
    try:
        review = decode_self_subject_access_review(bytes(body))
    except BadRequest:
        return
    assert (review.spec.resourceAttributes is None) != (review.spec.nonResourceAttributes is None)
