"""A validator committee: members sorted by public key, stake weights, and the quorum rule.

Sui's `Committee::new` sorts the members by their 96-byte BLS key (byte order) and a signer
bitmap's bit i names the i-th of that order (`sui-types` committee.rs). A strong quorum holds
more than two thirds of the total stake: 6,667 of Sui's 10,000 (`QUORUM_THRESHOLD`), 3 of 4 equal
validators. sui-rust-sdk's `((total - 1) / 3) * 2 + 1` agrees whenever total = 3f + 1 and is
looser otherwise (1 of 3); this rule is never looser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from k3s_daas.chain.bls import PUBLIC_KEY_LENGTH
from k3s_daas.chain.certified import bcs


@dataclass(frozen=True)
class CommitteeMember:
    """One validator: its 96-byte compressed G2 key and its voting stake."""

    public_key: bytes
    stake: int

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_LENGTH:
            raise ValueError(f"a validator key is {PUBLIC_KEY_LENGTH} bytes")
        if not 0 <= self.stake < 2**64:
            raise ValueError("a stake is a u64")

    def encode(self) -> bytes:
        """`(AuthorityPublicKeyBytes, StakeUnit)`: the key is `serde_with::Bytes` (0x60 ‖ 96)."""
        return bcs.byte_vector(self.public_key) + bcs.u64(self.stake)

    @classmethod
    def read(cls, reader: bcs.Reader) -> CommitteeMember:
        try:
            return cls(reader.fixed_bytes(PUBLIC_KEY_LENGTH), reader.u64())
        except ValueError as exc:
            raise bcs.BcsError(str(exc)) from None


def quorum_threshold(total_stake: int) -> int:
    """The stake a strong quorum certificate needs: more than two thirds (2f+1 of 3f+1)."""
    return total_stake * 2 // 3 + 1


@dataclass(frozen=True)
class Committee:
    """The validators of one epoch, in Sui's order (sorted by public key)."""

    epoch: int
    members: tuple[CommitteeMember, ...]

    def __post_init__(self) -> None:
        keys = [m.public_key for m in self.members]
        if not keys:
            raise ValueError("a committee has at least one member")
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise ValueError("committee members must be sorted by public key, without repeats")
        if any(m.stake == 0 for m in self.members):
            raise ValueError("a committee member has no stake")

    @classmethod
    def of(cls, epoch: int, members: Iterable[CommitteeMember]) -> Committee:
        """A committee from members in any order (sorted here, as `Committee::new` does)."""
        return cls(epoch, tuple(sorted(members, key=lambda m: m.public_key)))

    @cached_property
    def total_stake(self) -> int:
        return sum(m.stake for m in self.members)

    @cached_property
    def quorum_threshold(self) -> int:
        return quorum_threshold(self.total_stake)

    def stake_of(self, indices: Iterable[int]) -> int:
        """The summed stake of the members at `indices` (each must be in range)."""
        total = 0
        for index in indices:
            if not 0 <= index < len(self.members):
                raise IndexError(f"no committee member {index}")
            total += self.members[index].stake
        return total

    def encode(self) -> bytes:
        """`ValidatorCommittee { epoch, members }` (sui-sdk-types), the anchor file format."""
        return bcs.u64(self.epoch) + bcs.vector(self.members, CommitteeMember.encode)

    @classmethod
    def decode(cls, data: bytes) -> Committee:
        def read(reader: bcs.Reader) -> Committee:
            epoch = reader.u64()
            members = reader.vector(lambda: CommitteeMember.read(reader))
            try:
                return cls(epoch, members)
            except ValueError as exc:
                raise bcs.BcsError(str(exc)) from None

        return bcs.decode_all(data, read, "committee")


__all__ = ["Committee", "CommitteeMember", "quorum_threshold"]
