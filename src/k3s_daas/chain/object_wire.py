"""BatchGetObjects on the wire for the verified reader: the request written and the answer read
straight as protobuf bytes, keeping only what the reader uses (each result's object BCS, or its
error code).

The verified reader proves every object from its BCS alone (`chain.verified`), so decoding the
whole generated `BatchGetObjectsResponse` (every field of every object, in pure Python) was most
of a cold validation's decoding cost. This reads the wire format directly (fields it does not
need are skipped by their wire type, as any protobuf reader does); bytes that are not a
well-formed answer raise `WireError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from k3s_daas.seal.encoding import uleb128

#: Field numbers in sui.rpc.v2 (and google.rpc.Status) that lead to the object's BCS.
_RESPONSE_OBJECTS: Final = 1  # BatchGetObjectsResponse.objects (repeated GetObjectResult)
_RESULT_OBJECT: Final = 1  # GetObjectResult.object (oneof result)
_RESULT_ERROR: Final = 2  # GetObjectResult.error (google.rpc.Status)
_OBJECT_BCS: Final = 1  # Object.bcs (Bcs)
_BCS_VALUE: Final = 2  # Bcs.value (bytes)
_STATUS_CODE: Final = 1  # google.rpc.Status.code (int32)

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
#: (number, wire type, start or value, end) of each field of a message.
Fields = list[tuple[int, int, int, int]]


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message of the expected shape."""


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")
    raise WireError("truncated varint")


def _fields(data: bytes, pos: int, end: int) -> Fields:
    """Each field of the message in `data[pos:end]`: (number, wire type, start, end) for
    length-delimited fields, (number, wire type, value, -1) for varints; fixed-width fields
    are skipped over but listed too (their start and end)."""
    out: Fields = []
    while pos < end:
        key, pos = _varint(data, pos, end)
        number, kind = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if kind == _VARINT:
            value, pos = _varint(data, pos, end)
            out.append((number, kind, value, -1))
            continue
        if kind == _LEN:
            length, pos = _varint(data, pos, end)
            stop = pos + length
        elif kind == _I64:
            stop = pos + 8
        elif kind == _I32:
            stop = pos + 4
        else:
            raise WireError(f"unsupported wire type {kind}")
        if stop > end:
            raise WireError("field runs past the end of its message")
        out.append((number, kind, pos, stop))
        pos = stop
    return out


def _last(fields: Fields, number: int, kind: int) -> tuple[int, int] | None:
    """The last occurrence of field `number` (protobuf: the last one wins), checked to be of
    wire type `kind`."""
    found = None
    for n, k, a, b in fields:
        if n == number:
            if k != kind:
                raise WireError(f"field {number} has wire type {k}, not {kind}")
            found = (a, b)
    return found


def _result(data: bytes, start: int, end: int) -> bytes | int | None:
    chosen: tuple[int, int, int] | None = None
    for number, kind, a, b in _fields(data, start, end):
        if number in (_RESULT_OBJECT, _RESULT_ERROR):  # a oneof: the member set last wins
            if kind != _LEN:
                raise WireError(f"field {number} has wire type {kind}, not {_LEN}")
            chosen = (number, a, b)
    if chosen is None:
        return None
    number, a, b = chosen
    if number == _RESULT_ERROR:
        code = _last(_fields(data, a, b), _STATUS_CODE, _VARINT)
        raw = 0 if code is None else code[0]
        return raw - (1 << 64) if raw >= 1 << 63 else raw  # a negative int32 takes 10 bytes
    bcs = _last(_fields(data, a, b), _OBJECT_BCS, _LEN)
    if bcs is None:
        return None
    value = _last(_fields(data, *bcs), _BCS_VALUE, _LEN)
    return b"" if value is None else data[value[0] : value[1]]


def length_delimited(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (a message, string or bytes) numbered `number`."""
    return bytes([number << 3 | _LEN]) + uleb128(len(payload)) + payload


class ObjectsRequest:
    """`BatchGetObjectsRequest{requests: [{object_id}], read_mask: {paths}}` as bytes (the bytes
    the generated message encodes to), for a grpclib call's request type."""

    __slots__ = ("raw",)

    def __init__(self, object_ids: Sequence[str], paths: Sequence[str]) -> None:
        requests = b"".join(
            length_delimited(1, length_delimited(1, i.encode())) for i in object_ids
        )
        self.raw = requests + length_delimited(
            2, b"".join(length_delimited(1, p.encode()) for p in paths)
        )

    def SerializeToString(self) -> bytes:  # grpclib's codec calls this
        return self.raw


class ServedObjects:
    """The decoded answer: per requested id, the object's BCS (`bytes`), the error's gRPC code
    (`int`), or None (a result with neither an error nor BCS). Used as the reply type of a
    grpclib call, which decodes replies with `FromString`."""

    __slots__ = ("results",)

    def __init__(self, results: list[bytes | int | None]) -> None:
        self.results = results

    @classmethod
    def FromString(cls, data: bytes) -> ServedObjects:  # grpclib's codec calls this
        data = bytes(data)
        results: list[bytes | int | None] = []
        for number, kind, start, end in _fields(data, 0, len(data)):
            if number != _RESPONSE_OBJECTS:
                continue
            if kind != _LEN:
                raise WireError(f"field {number} has wire type {kind}, not {_LEN}")
            results.append(_result(data, start, end))
        return cls(results)


__all__ = ["ObjectsRequest", "ServedObjects", "WireError"]
