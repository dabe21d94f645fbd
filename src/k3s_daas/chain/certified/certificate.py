"""A checkpoint's quorum certificate: epoch, aggregate BLS signature and the signers' bitmap.

`AuthorityStrongQuorumSignInfo` in BCS is `u64 epoch ‖ 48 signature bytes (no length prefix:
fastcrypto serialises a fixed array) ‖ ULEB length ‖ roaring bitmap` (`sui-types` crypto.rs).
sui.rpc.v2's `ValidatorAggregatedSignature` carries the same three with the bitmap's raw roaring
bytes and no length prefix. The bitmap is roaring-rs's portable format; only what roaring-rs
writes for a committee is accepted: cookie 12346 (no run containers), array containers, indices
ascending, nothing after the last container.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

from k3s_daas.chain.bls import SIGNATURE_LENGTH, BlsPrivateKey, sign_aggregate
from k3s_daas.chain.certified import bcs
from k3s_daas.chain.certified.checkpoint import CheckpointSummary, signing_message

#: RoaringFormatSpec `SERIAL_COOKIE_NO_RUNCONTAINER`.
ROARING_COOKIE: Final = 12346
#: Above this many values roaring-rs writes a bitset container (never for a committee).
_ARRAY_CONTAINER_MAX: Final = 4096
_MAX_INDEX: Final = 2**32 - 1


def encode_signers(indices: Iterable[int]) -> bytes:
    """What roaring-rs `RoaringBitmap::serialize_into` writes for these committee indices."""
    groups: dict[int, list[int]] = {}
    for index in sorted(set(indices)):
        if not 0 <= index <= _MAX_INDEX:
            raise ValueError("a signer index is a u32")
        groups.setdefault(index >> 16, []).append(index & 0xFFFF)
    if any(len(low) > _ARRAY_CONTAINER_MAX for low in groups.values()):
        raise ValueError("more than 4096 signers in one block: not a committee")
    keys = sorted(groups)
    header = bcs.u32(ROARING_COOKIE) + bcs.u32(len(keys))
    header += b"".join(bcs.u16(k) + bcs.u16(len(groups[k]) - 1) for k in keys)
    offset = len(header) + 4 * len(keys)
    offsets = b""
    for k in keys:
        offsets += bcs.u32(offset)
        offset += 2 * len(groups[k])
    values = b"".join(bcs.u16(v) for k in keys for v in groups[k])
    return header + offsets + values


def decode_signers(data: bytes) -> tuple[int, ...]:
    """The ascending signer indices of a roaring bitmap; `BcsError` for any other shape."""
    reader = bcs.Reader(bytes(data))
    if reader.u32() != ROARING_COOKIE:
        raise bcs.BcsError("signers bitmap: only roaring cookie 12346 is accepted")
    count = reader.u32()
    if count > 1 << 16:
        raise bcs.BcsError("signers bitmap: too many containers")
    containers = [(reader.u16(), reader.u16() + 1) for _ in range(count)]
    keys = [k for k, _ in containers]
    if keys != sorted(set(keys)):
        raise bcs.BcsError("signers bitmap: container keys out of order")
    offset = 8 + 8 * count
    for _, cardinality in containers:
        if cardinality > _ARRAY_CONTAINER_MAX:
            raise bcs.BcsError("signers bitmap: bitset containers are not accepted")
        if reader.u32() != offset:
            raise bcs.BcsError("signers bitmap: bad container offset")
        offset += 2 * cardinality
    indices: list[int] = []
    for key, cardinality in containers:
        low = [reader.u16() for _ in range(cardinality)]
        if any(a >= b for a, b in pairwise(low)):
            raise bcs.BcsError("signers bitmap: values out of order")
        indices += [(key << 16) | v for v in low]
    reader.finish("signers bitmap")
    return tuple(indices)


@dataclass(frozen=True)
class AuthorityStrongQuorumSignInfo:
    """Who signed (indices into the epoch's committee) and their aggregate signature."""

    epoch: int
    signature: bytes
    signers: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.signature) != SIGNATURE_LENGTH:
            raise ValueError(f"an aggregate signature is {SIGNATURE_LENGTH} bytes")
        if list(self.signers) != sorted(set(self.signers)):
            raise ValueError("signers are ascending committee indices, without repeats")

    @classmethod
    def sign(
        cls, summary: CheckpointSummary, signers: Mapping[int, BlsPrivateKey]
    ) -> AuthorityStrongQuorumSignInfo:
        """What validators produce: each signer (committee index -> key) signs the summary's
        signing message and the signatures are aggregated (how a devnet certifies)."""
        message = signing_message(summary.encode(), summary.epoch)
        signature = sign_aggregate([signers[i] for i in sorted(signers)], message)
        return cls(summary.epoch, signature, tuple(sorted(signers)))

    def bitmap(self) -> bytes:
        """The raw roaring bytes (sui.rpc.v2 `ValidatorAggregatedSignature.bitmap`)."""
        return encode_signers(self.signers)

    @classmethod
    def from_parts(
        cls, epoch: int, signature: bytes, bitmap: bytes
    ) -> AuthorityStrongQuorumSignInfo:
        """From sui.rpc.v2's `ValidatorAggregatedSignature` fields."""
        signers = decode_signers(bitmap)
        if len(signature) != SIGNATURE_LENGTH:
            raise bcs.BcsError(f"an aggregate signature is {SIGNATURE_LENGTH} bytes")
        return cls(epoch, bytes(signature), signers)

    def encode(self) -> bytes:
        return bcs.u64(self.epoch) + self.signature + bcs.byte_vector(self.bitmap())

    @classmethod
    def read(cls, reader: bcs.Reader) -> AuthorityStrongQuorumSignInfo:
        epoch = reader.u64()
        signature = reader.take(SIGNATURE_LENGTH)
        return cls(epoch, signature, decode_signers(reader.byte_vector()))

    @classmethod
    def decode(cls, data: bytes) -> AuthorityStrongQuorumSignInfo:
        return bcs.decode_all(data, cls.read, "quorum signature")


@dataclass(frozen=True)
class CertifiedCheckpointSummary:
    """`Envelope<CheckpointSummary, AuthorityStrongQuorumSignInfo>`: the two BCS back to back.

    `summary_bcs` keeps the received bytes: the digest and the signed message are computed from
    them, never from a re-encoding.
    """

    summary: CheckpointSummary
    certificate: AuthorityStrongQuorumSignInfo
    summary_bcs: bytes

    @classmethod
    def of(
        cls, summary: CheckpointSummary, certificate: AuthorityStrongQuorumSignInfo
    ) -> CertifiedCheckpointSummary:
        return cls(summary, certificate, summary.encode())

    def encode(self) -> bytes:
        return self.summary_bcs + self.certificate.encode()

    @classmethod
    def read(cls, reader: bcs.Reader) -> CertifiedCheckpointSummary:
        start = reader.pos
        summary = CheckpointSummary.read(reader)
        summary_bcs = reader.data[start : reader.pos]
        return cls(summary, AuthorityStrongQuorumSignInfo.read(reader), summary_bcs)

    @classmethod
    def decode(cls, data: bytes) -> CertifiedCheckpointSummary:
        return bcs.decode_all(data, cls.read, "certified checkpoint summary")


__all__ = [
    "ROARING_COOKIE",
    "AuthorityStrongQuorumSignInfo",
    "CertifiedCheckpointSummary",
    "decode_signers",
    "encode_signers",
]
