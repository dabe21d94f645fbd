"""Sui MultiSig (flag 0x03): its BCS form, its address, combining and verifying member signatures.

Layout (sui-types `multisig.rs`, ts-sdks `bcs.ts`), after the 0x03 flag:
`MultiSig { sigs: vector<CompressedSignature>, bitmap: u16, multisig_pk: MultiSigPublicKey }` with
`CompressedSignature` = 0 Ed25519 [u8;64] | 1 Secp256k1 [u8;64] | 2 Secp256r1 [u8;64] |
3 ZkLogin vector<u8> | 4 Passkey vector<u8>, and `MultiSigPublicKey { pk_map: vector<(PublicKey,
u8 weight)>, threshold: u16 }` with `PublicKey` = 0 Ed25519 [u8;32] | 1 Secp256k1 [u8;33] |
2 Secp256r1 [u8;33] | 3 ZkLogin vector<u8> | 4 Passkey [u8;33].

Address: blake2b-256(0x03 ‖ threshold u16 LE ‖ Σ flag_i ‖ pk_i ‖ weight_i) (sui-types
`impl From<&MultiSigPublicKey> for SuiAddress`, ts-sdks `MultiSigPublicKey.toSuiAddress`).
Bit i of the bitmap marks member i; signatures come in ascending member order; every member's
signature is over the same intent digest. A full node verifies these; the product only reads
and builds them (the devnet, being a node, verifies them here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from k3s_daas.chain.schemes import (
    MULTISIG_FLAG,
    PASSKEY_FLAG,
    RAW_SIGNATURE_LENGTH,
    SCHEMES,
    ZKLOGIN_FLAG,
    Scheme,
    SignatureError,
    scheme_for_flag,
)
from k3s_daas.seal.encoding import read_uleb128, uleb128
from k3s_daas.seal.sui import blake2b256

MAX_SIGNERS: Final = 10
MAX_BITMAP: Final = (1 << MAX_SIGNERS) - 1
#: BCS enum index -> scheme flag (the enums list zkLogin and passkey right after the keys).
_VARIANT_FLAGS: Final = (0x00, 0x01, 0x02, ZKLOGIN_FLAG, PASSKEY_FLAG)
_FLAG_VARIANTS: Final = {flag: i for i, flag in enumerate(_VARIANT_FLAGS)}
_KEY_FLAGS: Final = frozenset(s.flag for s in SCHEMES)
_PUBLIC_KEY_LENGTHS: Final = {s.flag: s.public_key_length for s in SCHEMES} | {PASSKEY_FLAG: 33}
_NAMES: Final = {s.flag: s.name for s in SCHEMES} | {
    ZKLOGIN_FLAG: "zkLogin",
    PASSKEY_FLAG: "passkey",
}


class _Reader:
    """A strict BCS reader over one buffer (SignatureError on anything short or left over)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise SignatureError("MultiSig bytes end early")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uleb(self) -> int:
        try:
            value, self.pos = read_uleb128(self.data, self.pos)
        except ValueError:
            raise SignatureError("MultiSig bytes: bad length") from None
        return value

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def variant(self) -> int:
        index = self.uleb()
        if index >= len(_VARIANT_FLAGS):
            raise SignatureError(f"MultiSig: unknown scheme variant {index}")
        return _VARIANT_FLAGS[index]

    def end(self) -> None:
        if self.pos != len(self.data):
            raise SignatureError("MultiSig bytes: trailing data")


@dataclass(frozen=True)
class Member:
    """A committee member: its scheme flag, public key (zkLogin: its public identifier), weight."""

    flag: int
    public_key: bytes
    weight: int

    def bcs(self) -> bytes:
        key = self.public_key
        if self.flag == ZKLOGIN_FLAG:
            key = uleb128(len(key)) + key
        return uleb128(_FLAG_VARIANTS[self.flag]) + key + bytes([self.weight])


@dataclass(frozen=True)
class MultiSigCommittee:
    """A MultiSig public key: members with weights and the threshold their signatures must reach."""

    members: tuple[Member, ...]
    threshold: int

    @classmethod
    def of(cls, keys: Sequence[tuple[bytes, int]], threshold: int) -> MultiSigCommittee:
        """From (flag ‖ public key, weight) pairs, e.g. `(key.sui_public_key, 1)`."""
        members = []
        for flagged, weight in keys:
            flag = flagged[0] if flagged else -1
            if _PUBLIC_KEY_LENGTHS.get(flag) != len(flagged) - 1:
                raise SignatureError("a member key is flag ‖ public key of a known scheme")
            members.append(Member(flag, bytes(flagged[1:]), weight))
        committee = cls(tuple(members), threshold)
        committee.validate()
        return committee

    def validate(self) -> None:
        """The rules of sui-types `MultiSigPublicKey::validate`."""
        keys = [(m.flag, m.public_key) for m in self.members]
        if not (
            0 < self.threshold <= 0xFFFF
            and 0 < len(self.members) <= MAX_SIGNERS
            and all(0 < m.weight <= 0xFF for m in self.members)
            and sum(m.weight for m in self.members) >= self.threshold
            and len(set(keys)) == len(keys)
        ):
            raise SignatureError("invalid MultiSig committee")

    @property
    def address(self) -> str:
        data = bytes([MULTISIG_FLAG]) + self.threshold.to_bytes(2, "little")
        for m in self.members:
            data += bytes([m.flag]) + m.public_key + bytes([m.weight])
        return "0x" + blake2b256(data).hex()

    def bcs(self) -> bytes:
        out = uleb128(len(self.members)) + b"".join(m.bcs() for m in self.members)
        return out + self.threshold.to_bytes(2, "little")

    @classmethod
    def read(cls, reader: _Reader) -> MultiSigCommittee:
        members = []
        for _ in range(reader.uleb()):
            flag = reader.variant()
            length = _PUBLIC_KEY_LENGTHS.get(flag)
            key = reader.take(reader.uleb() if length is None else length)
            members.append(Member(flag, key, reader.take(1)[0]))
        return cls(tuple(members), reader.u16())


@dataclass(frozen=True)
class MultiSig:
    """A MultiSig signature: member signatures (flag, bytes), the bitmap, the committee."""

    signatures: tuple[tuple[int, bytes], ...]
    bitmap: int
    committee: MultiSigCommittee

    @classmethod
    def parse(cls, raw: bytes) -> MultiSig:
        """0x03 ‖ BCS(MultiSig) -> its parts (SignatureError when malformed)."""
        if not raw or raw[0] != MULTISIG_FLAG:
            raise SignatureError("not a MultiSig signature (flag 0x03)")
        reader = _Reader(bytes(raw[1:]))
        signatures = []
        for _ in range(reader.uleb()):
            flag = reader.variant()
            fixed = flag in _KEY_FLAGS
            signatures.append((flag, reader.take(RAW_SIGNATURE_LENGTH if fixed else reader.uleb())))
        bitmap = reader.u16()
        committee = MultiSigCommittee.read(reader)
        reader.end()
        return cls(tuple(signatures), bitmap, committee)

    @classmethod
    def combine(cls, committee: MultiSigCommittee, signatures: Sequence[bytes]) -> MultiSig:
        """From serialized simple signatures of committee members (any order, one per member)."""
        by_index: dict[int, tuple[int, bytes]] = {}
        for raw in signatures:
            scheme = scheme_for_flag(raw[0])
            public_key = bytes(raw[1 + RAW_SIGNATURE_LENGTH :])
            index = next(
                (i for i, m in enumerate(committee.members)
                 if (m.flag, m.public_key) == (scheme.flag, public_key)),
                None,
            )  # fmt: skip
            if index is None or index in by_index:
                raise SignatureError("a signature from outside the committee, or twice")
            by_index[index] = (scheme.flag, bytes(raw[1 : 1 + RAW_SIGNATURE_LENGTH]))
        bitmap = sum(1 << i for i in by_index)
        return cls(tuple(by_index[i] for i in sorted(by_index)), bitmap, committee)

    def serialize(self) -> bytes:
        out = bytearray([MULTISIG_FLAG])
        out += uleb128(len(self.signatures))
        for flag, signature in self.signatures:
            out += uleb128(_FLAG_VARIANTS[flag])
            out += signature if flag in _KEY_FLAGS else uleb128(len(signature)) + signature
        out += self.bitmap.to_bytes(2, "little") + self.committee.bcs()
        return bytes(out)

    @property
    def address(self) -> str:
        return self.committee.address

    def verify(self, digest: bytes) -> str:
        """The checks of sui-crypto's MultisigVerifier over an intent digest; returns the
        MultiSig address. A zkLogin or passkey member raises SignatureError with reason
        `remote_scheme` (verified only by a node that implements them)."""
        self.committee.validate()
        indices = [i for i in range(16) if self.bitmap >> i & 1]
        if self.bitmap > MAX_BITMAP or len(indices) != len(self.signatures):
            raise SignatureError("number of signatures does not match bitmap")
        weight = 0
        for index, (flag, signature) in zip(indices, self.signatures, strict=True):
            if index >= len(self.committee.members):
                raise SignatureError("invalid bitmap")
            member = self.committee.members[index]
            if member.flag != flag:
                raise SignatureError("member and signature scheme do not match")
            scheme: Scheme = scheme_for_flag(flag)  # zkLogin / passkey: reason remote_scheme
            scheme.verify(member.public_key, digest, signature)
            weight += member.weight
        if weight < self.committee.threshold:
            raise SignatureError("signature weight does not exceed threshold")
        return self.address


def member_name(flag: int) -> str:
    return _NAMES.get(flag, f"0x{flag:02x}")


__all__ = ["MAX_SIGNERS", "Member", "MultiSig", "MultiSigCommittee", "member_name"]
