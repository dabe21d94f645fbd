"""A minimal, strict decoder for the two protobuf bodies kubectl ≥1.32 sends us: SelfSubjectReview
and SelfSubjectAccessReview inside the `k8s\\0` + runtime.Unknown envelope.

Hand-written wire-format parsing (varints and length-delimited fields only matter here) with
bounded sizes; anything malformed raises `ProtobufError` (a 400), never anything else. We answer
in JSON, which kubectl accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from k3s_daas.kube.models import (
    NonResourceAttributes,
    ResourceAttributes,
    SelfSubjectAccessReview,
    SelfSubjectAccessReviewSpec,
    SelfSubjectReview,
)
from k3s_daas.kube.types import BadRequest
from k3s_daas.seal.encoding import uleb128  # protobuf varints are ULEB128

MAGIC: Final = b"k8s\x00"
MAX_MESSAGE: Final = 64 * 1024
MAX_FIELDS: Final = 1024
MAX_STRING: Final = 4096

VARINT, FIXED64, LEN, SGROUP, EGROUP, FIXED32 = 0, 1, 2, 3, 4, 5

Field = tuple[int, int, int | bytes]  # (field number, wire type, value)


class ProtobufError(BadRequest):
    """A protobuf body that is not exactly the Kubernetes message it claims to be."""

    reason = "bad_protobuf"


@dataclass(frozen=True)
class Unknown:
    """runtime.Unknown: typeMeta + raw bytes of the inner message."""

    api_version: str
    kind: str
    raw: bytes
    content_encoding: str
    content_type: str


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        byte = buf[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise ProtobufError("varint overflows 64 bits")
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise ProtobufError("varint longer than 10 bytes")


def parse_fields(buf: bytes) -> list[Field]:
    """All top-level fields of one message; groups and out-of-range numbers are refused."""
    if len(buf) > MAX_MESSAGE:
        raise ProtobufError("message too large")
    fields: list[Field] = []
    pos = 0
    while pos < len(buf):
        if len(fields) >= MAX_FIELDS:
            raise ProtobufError("too many fields")
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if not 1 <= number <= 536_870_911:
            raise ProtobufError("invalid field number")
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(buf, pos)
        elif wire == LEN:
            length, pos = _varint(buf, pos)
            if length > len(buf) - pos:
                raise ProtobufError("length-delimited field runs past the end")
            value = buf[pos : pos + length]
            pos += length
        elif wire == FIXED64:
            if pos + 8 > len(buf):
                raise ProtobufError("truncated fixed64")
            value = int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == FIXED32:
            if pos + 4 > len(buf):
                raise ProtobufError("truncated fixed32")
            value = int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        fields.append((number, wire, value))
    return fields


def _bytes(fields: list[Field], number: int) -> bytes | None:
    """The last occurrence of a length-delimited field (proto semantics: last one wins)."""
    found: bytes | None = None
    for num, wire, value in fields:
        if num == number:
            if wire != LEN or not isinstance(value, bytes):
                raise ProtobufError(f"field {number} has the wrong wire type")
            found = value
    return found


def _string(fields: list[Field], number: int) -> str:
    raw = _bytes(fields, number)
    if raw is None:
        return ""
    if len(raw) > MAX_STRING:
        raise ProtobufError(f"field {number} too long")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"field {number} is not UTF-8") from exc


def decode_unknown(data: bytes) -> Unknown:
    """The `k8s\\0` envelope: magic, then runtime.Unknown {1 typeMeta, 2 raw, 3 enc, 4 type}."""
    if len(data) > MAX_MESSAGE + len(MAGIC):
        raise ProtobufError("message too large")
    if not data.startswith(MAGIC):
        raise ProtobufError("missing k8s protobuf magic")
    fields = parse_fields(data[len(MAGIC) :])
    type_meta = parse_fields(_bytes(fields, 1) or b"")
    return Unknown(
        api_version=_string(type_meta, 1),
        kind=_string(type_meta, 2),
        raw=_bytes(fields, 2) or b"",
        content_encoding=_string(fields, 3),
        content_type=_string(fields, 4),
    )


def _expect(unknown: Unknown, api_version: str, kind: str) -> None:
    if unknown.api_version != api_version or unknown.kind != kind:
        raise ProtobufError(
            f"expected {api_version} {kind}, got {unknown.api_version or '?'} {unknown.kind or '?'}"
        )
    if unknown.content_encoding:
        raise ProtobufError("content encodings are not supported")


def _check_meta(fields: list[Field]) -> None:
    """ObjectMeta (field 1) is not used, but must itself be well-formed."""
    meta = _bytes(fields, 1)
    if meta is not None:
        parse_fields(meta)


def _resource_attributes(buf: bytes) -> ResourceAttributes:
    f = parse_fields(buf)
    for number in (8, 9):  # field/label selector attributes: validated, not used
        nested = _bytes(f, number)
        if nested is not None:
            parse_fields(nested)
    return ResourceAttributes(
        namespace=_string(f, 1),
        verb=_string(f, 2),
        group=_string(f, 3),
        version=_string(f, 4),
        resource=_string(f, 5),
        subresource=_string(f, 6),
        name=_string(f, 7),
    )


def _non_resource_attributes(buf: bytes) -> NonResourceAttributes:
    f = parse_fields(buf)
    return NonResourceAttributes(path=_string(f, 1), verb=_string(f, 2))


def decode_self_subject_access_review(data: bytes) -> SelfSubjectAccessReview:
    """SelfSubjectAccessReview {1 metadata, 2 spec {1 resourceAttributes, 2 nonResource...}}."""
    unknown = decode_unknown(data)
    _expect(unknown, "authorization.k8s.io/v1", "SelfSubjectAccessReview")
    top = parse_fields(unknown.raw)
    _check_meta(top)
    spec_raw = _bytes(top, 2)
    if spec_raw is None:
        raise ProtobufError("SelfSubjectAccessReview without spec")
    spec = parse_fields(spec_raw)
    ra, nra = _bytes(spec, 1), _bytes(spec, 2)
    if (ra is None) == (nra is None):
        raise ProtobufError("exactly one of resourceAttributes and nonResourceAttributes is needed")
    return SelfSubjectAccessReview(
        spec=SelfSubjectAccessReviewSpec(
            resourceAttributes=_resource_attributes(ra) if ra is not None else None,
            nonResourceAttributes=_non_resource_attributes(nra) if nra is not None else None,
        )
    )


def decode_self_subject_review(data: bytes) -> SelfSubjectReview:
    """SelfSubjectReview {1 metadata, 2 status}: nothing in it is used, but it must parse."""
    unknown = decode_unknown(data)
    _expect(unknown, "authentication.k8s.io/v1", "SelfSubjectReview")
    top = parse_fields(unknown.raw)
    _check_meta(top)
    status = _bytes(top, 2)
    if status is not None:
        parse_fields(status)
    return SelfSubjectReview()


# ---- encoding (tests and tools build kubectl-shaped bodies with these) --------------------------


def encode_field(number: int, value: bytes | str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return uleb128(number << 3 | LEN) + uleb128(len(raw)) + raw


def encode_unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = encode_field(1, api_version) + encode_field(2, kind)
    return (
        MAGIC
        + encode_field(1, type_meta)
        + encode_field(2, raw)
        + encode_field(3, "")
        + encode_field(4, "")
    )


def encode_self_subject_access_review(
    attrs: dict[str, Any], *, non_resource: bool = False
) -> bytes:
    """A SelfSubjectAccessReview body as kubectl ≥1.32 sends it."""
    if non_resource:
        inner = encode_field(1, attrs.get("path", "")) + encode_field(2, attrs.get("verb", ""))
        spec = encode_field(2, inner)
    else:
        order = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
        inner = b"".join(encode_field(i + 1, attrs.get(k, "")) for i, k in enumerate(order))
        spec = encode_field(1, inner)
    raw = encode_field(1, b"") + encode_field(2, spec) + encode_field(3, b"")
    return encode_unknown("authorization.k8s.io/v1", "SelfSubjectAccessReview", raw)


def encode_self_subject_review() -> bytes:
    raw = encode_field(1, b"") + encode_field(2, encode_field(1, b""))
    return encode_unknown("authentication.k8s.io/v1", "SelfSubjectReview", raw)
