"""BatchGetObjects on the wire without message objects: the devnet's writer
(`devnet.object_wire`) gives exactly the generated messages' bytes, and the verified reader's
decoder (`chain.object_wire`) reads those bytes and any well-formed answer, refusing broken
ones."""

from __future__ import annotations

import pytest
from pysui.sui.sui_grpc.suimsgs.google import protobuf as pb
from pysui.sui.sui_grpc.suimsgs.google import rpc as grpc_rpc
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.object_wire import ObjectsRequest, ServedObjects, WireError
from k3s_daas.devnet.object_wire import error_result, object_result, servable
from k3s_daas.devnet.render import parse_mask, project

OID = "0x" + "ab" * 32
DIGEST = "4vJ9JU1bJJE96FWSJKvHsmmFADCg4gpZQff4P3bkLKi"
BCS = bytes(range(256)) * 3  # long enough for a two-byte length


def full_object(version: int) -> v2.Object:
    return v2.Object(
        bcs=v2.Bcs(name="Object", value=BCS),
        object_id=OID,
        version=version,
        digest=DIGEST,
        object_type="0x2::coin::Coin<0x2::sui::SUI>",
        json=None,
    )


def mask(*paths: str) -> pb.FieldMask:
    return pb.FieldMask(paths=list(paths))


@pytest.mark.parametrize(
    "paths",
    [("object_id", "version", "digest", "bcs"), ("bcs",), ("digest", "object_id"), ("version",)],
)
@pytest.mark.parametrize("version", [1, 300, 2**63 + 5])
def test_devnet_writes_the_generated_bytes(paths: tuple[str, ...], version: int) -> None:
    tree = parse_mask(mask(*paths), v2.Object, None)
    assert servable(tree) and tree is not None
    expected = bytes(
        v2.BatchGetObjectsResponse(
            objects=[v2.GetObjectResult(object=project(full_object(version), tree))]
        )
    )
    assert object_result(tree, OID, version, DIGEST, BCS) == expected


@pytest.mark.parametrize(
    ("code", "message"), [(5, f"Object {OID} not found"), (3, "bad id"), (5, "")]
)
def test_devnet_writes_the_generated_error_bytes(code: int, message: str) -> None:
    expected = bytes(
        v2.BatchGetObjectsResponse(
            objects=[v2.GetObjectResult(error=grpc_rpc.Status(code=code, message=message))]
        )
    )
    assert error_result(code, message) == expected


@pytest.mark.parametrize("paths", [("*",), ("bcs.value",), ("owner",), ("bcs", "json")])
def test_masks_beyond_stored_fields_are_rendered(paths: tuple[str, ...]) -> None:
    assert not servable(parse_mask(mask(*paths), v2.Object, None))


def test_reader_takes_each_result_in_order() -> None:
    answer = v2.BatchGetObjectsResponse(
        objects=[
            v2.GetObjectResult(object=full_object(7)),  # every field, the reader keeps the BCS
            v2.GetObjectResult(error=grpc_rpc.Status(code=5, message="not found")),
            v2.GetObjectResult(object=v2.Object(object_id=OID)),  # no BCS
            v2.GetObjectResult(object=v2.Object(bcs=v2.Bcs(name="Object"))),  # empty BCS
            v2.GetObjectResult(error=grpc_rpc.Status(code=-2, message="negative")),
        ]
    )
    assert ServedObjects.FromString(bytes(answer)).results == [BCS, 5, None, b"", -2]
    written = error_result(5, "x") + object_result({"bcs": None}, OID, 1, DIGEST, BCS)
    assert ServedObjects.FromString(written).results == [5, BCS]


def test_reader_skips_unknown_fields() -> None:
    extra = b"\x10\x07" + b"\x19" + b"\x00" * 8 + b"\x25" + b"\x00" * 4  # varint, i64, i32
    entry = object_result({"bcs": None}, OID, 1, DIGEST, BCS)
    assert ServedObjects.FromString(extra + entry + extra).results == [BCS]


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05\x0a\x03",  # a result longer than the message
        b"\x0a",  # a length cut off
        b"\x0b\x00",  # wire type 3 (groups) is not used by sui.rpc.v2
        b"\x08\x01",  # objects as a varint
        b"\x0a\x02\x08\x01",  # a result's object as a varint
        b"\x0a" + b"\xff" * 11,  # a varint longer than 10 bytes
        b"\x02\x00",  # field number 0
    ],
)
def test_reader_refuses_broken_answers(raw: bytes) -> None:
    with pytest.raises(WireError):
        ServedObjects.FromString(raw)


def test_request_is_the_generated_bytes() -> None:
    ids = [OID, "0x" + "01" * 32]
    paths = ("object_id", "version", "digest", "bcs")
    expected = v2.BatchGetObjectsRequest(
        requests=[v2.GetObjectRequest(object_id=i) for i in ids],
        read_mask=pb.FieldMask(paths=list(paths)),
    )
    assert ObjectsRequest(ids, paths).SerializeToString() == bytes(expected)
