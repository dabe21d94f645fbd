"""An object's `Owner`, as objects and effects carry it in BCS (`sui-types` object.rs)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from k3s_daas.chain.certified import bcs
from k3s_daas.seal.sui import normalize_address


class OwnerKind(IntEnum):
    ADDRESS = 0
    OBJECT = 1
    SHARED = 2
    IMMUTABLE = 3
    CONSENSUS_ADDRESS = 4


@dataclass(frozen=True)
class Owner:
    """`address` for address, object and consensus-address owners; `version` is a shared
    object's initial shared version or a consensus-address owner's start version."""

    kind: OwnerKind
    address: str | None = None
    version: int | None = None

    def __post_init__(self) -> None:
        wants_address = self.kind in (
            OwnerKind.ADDRESS,
            OwnerKind.OBJECT,
            OwnerKind.CONSENSUS_ADDRESS,
        )
        wants_version = self.kind in (OwnerKind.SHARED, OwnerKind.CONSENSUS_ADDRESS)
        if (self.address is not None) != wants_address or (self.version is not None) != (
            wants_version
        ):
            raise ValueError(f"bad fields for a {self.kind.name} owner")
        if self.address is not None:
            object.__setattr__(self, "address", normalize_address(self.address))

    @classmethod
    def by_address(cls, address: str) -> Owner:
        return cls(OwnerKind.ADDRESS, address=address)

    @classmethod
    def shared(cls, initial_shared_version: int) -> Owner:
        return cls(OwnerKind.SHARED, version=initial_shared_version)

    @classmethod
    def immutable(cls) -> Owner:
        return cls(OwnerKind.IMMUTABLE)

    def encode(self) -> bytes:
        # Shared { version } | ConsensusAddressOwner { version, owner } | the address forms
        version = b"" if self.version is None else bcs.u64(self.version)
        address = b"" if self.address is None else bcs.address(self.address)
        return bcs.tag(self.kind) + version + address

    @classmethod
    def read(cls, reader: bcs.Reader) -> Owner:
        kind = OwnerKind(reader.tag(len(OwnerKind), "Owner"))
        if kind in (OwnerKind.ADDRESS, OwnerKind.OBJECT):
            return cls(kind, address=reader.address())
        if kind == OwnerKind.SHARED:
            return cls(kind, version=reader.u64())
        if kind == OwnerKind.CONSENSUS_ADDRESS:
            version = reader.u64()
            return cls(kind, address=reader.address(), version=version)
        return cls(kind)


__all__ = ["Owner", "OwnerKind"]
