"""The devnet's validator committee: N BLS12-381 keys that certify every checkpoint as Sui's do.

One 32-byte secret (`DIR/validators.key`, mode 0600, created at genesis) seeds every key, so a
restarted devnet signs with the same keys: validator i's key of generation g is IETF `KeyGen`
over sha256(secret ‖ "validator" ‖ u32 i ‖ u32 g). Stake is equal and sums to 10,000, like Sui's
voting power. A committee is written per epoch in the ledger (`EpochCommittee`, in committee
order: sorted by public key); the admin may rotate one validator's key at an epoch change
(a new generation), which the end-of-epoch summary hands over to the next committee.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from k3s_daas.chain.bls import BlsPrivateKey
from k3s_daas.chain.certified import (
    AuthorityStrongQuorumSignInfo,
    CheckpointSummary,
    Committee,
    CommitteeMember,
)
from k3s_daas.devnet.errors import BadRequest, LedgerError

VALIDATOR_SECRET_FILE: Final = "validators.key"  # noqa: S105 - a file name, not a secret
DEFAULT_VALIDATORS: Final = 4
MAX_VALIDATORS: Final = 100
#: Sui's total voting power; each validator holds an equal share of it.
TOTAL_STAKE: Final = 10_000
_SECRET_LENGTH: Final = 32


def stakes(count: int) -> list[int]:
    """Equal shares of 10,000 (the first `10,000 mod count` validators hold one more)."""
    base, extra = divmod(TOTAL_STAKE, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


@dataclass(frozen=True)
class Validator:
    """One committee seat: which validator, which of its keys, the public key and the stake."""

    index: int
    generation: int
    public_key: bytes
    stake: int

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "generation": self.generation,
            "public_key": self.public_key.hex(),
            "stake": self.stake,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Validator:
        return cls(
            int(data["index"]),
            int(data["generation"]),
            bytes.fromhex(str(data["public_key"])),
            int(data["stake"]),
        )


@dataclass(frozen=True)
class EpochCommittee:
    """The validators of one epoch in committee order (by public key, as `Committee::new`)."""

    epoch: int
    validators: tuple[Validator, ...]

    def committee(self) -> Committee:
        return Committee(
            self.epoch, tuple(CommitteeMember(v.public_key, v.stake) for v in self.validators)
        )

    def members(self) -> tuple[CommitteeMember, ...]:
        """What an end-of-epoch summary names as the next committee."""
        return self.committee().members

    def to_json(self) -> list[dict[str, Any]]:
        return [v.to_json() for v in self.validators]

    @classmethod
    def from_json(cls, epoch: int, data: list[Mapping[str, Any]]) -> EpochCommittee:
        return cls(epoch, tuple(Validator.from_json(v) for v in data))


class ValidatorKeys:
    """The secret behind every validator key; derives, caches and signs (never logs a key)."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != _SECRET_LENGTH:
            raise LedgerError(f"the validator secret is {_SECRET_LENGTH} bytes")
        self._secret = secret
        self._keys: dict[tuple[int, int], BlsPrivateKey] = {}

    def __repr__(self) -> str:
        return "ValidatorKeys(<secret>)"

    @classmethod
    def load(cls, path: Path) -> ValidatorKeys:
        """Read `path` (hex, must be 0600): the secret of an existing devnet."""
        if not path.exists():
            raise LedgerError(f"{path} is missing: this devnet's validators cannot sign")
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise LedgerError(f"{path} has mode {mode:04o}; run: chmod 600 {path}")
        try:
            return cls(bytes.fromhex(path.read_text(encoding="ascii").strip()))
        except ValueError:
            raise LedgerError(f"{path} does not hold a hex validator secret") from None

    @classmethod
    def load_or_create(cls, path: Path) -> ValidatorKeys:
        """Read `path`, or create it (0600) with a fresh random secret (genesis)."""
        if path.exists():
            return cls.load(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_bytes(_SECRET_LENGTH)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secret.hex() + "\n")
        return cls(secret)

    def private_key(self, index: int, generation: int) -> BlsPrivateKey:
        cached = self._keys.get((index, generation))
        if cached is None:
            seed = hashlib.sha256(
                self._secret
                + b"validator"
                + index.to_bytes(4, "little")
                + generation.to_bytes(4, "little")
            ).digest()
            cached = self._keys[(index, generation)] = BlsPrivateKey.from_seed(seed)
        return cached

    def holds(self, committee: EpochCommittee) -> bool:
        """Whether these are the keys of `committee` (a resumed devnet checks its secret)."""
        return all(
            self.private_key(v.index, v.generation).public_key() == v.public_key
            for v in committee.validators
        )

    def _committee(self, epoch: int, generations: list[int]) -> EpochCommittee:
        shares = stakes(len(generations))
        seats = [
            Validator(i, g, self.private_key(i, g).public_key(), shares[i])
            for i, g in enumerate(generations)
        ]
        return EpochCommittee(epoch, tuple(sorted(seats, key=lambda v: v.public_key)))

    def genesis(self, count: int) -> EpochCommittee:
        """Epoch 0: `count` validators, each with its first key."""
        if not 1 <= count <= MAX_VALIDATORS:
            raise LedgerError(f"a devnet has 1..{MAX_VALIDATORS} validators, not {count}")
        return self._committee(0, [0] * count)

    def next_committee(self, current: EpochCommittee, rotate: int | None = None) -> EpochCommittee:
        """The committee of the next epoch: the same keys, or validator `rotate` with a new one."""
        generations = [0] * len(current.validators)
        for v in current.validators:
            generations[v.index] = v.generation
        if rotate is not None:
            if not 0 <= rotate < len(generations):
                raise BadRequest(f"no validator {rotate} (this devnet has {len(generations)})")
            generations[rotate] += 1
            return self._committee(current.epoch + 1, generations)
        return replace(current, epoch=current.epoch + 1)

    def certify(
        self, summary: CheckpointSummary, committee: EpochCommittee
    ) -> AuthorityStrongQuorumSignInfo:
        """Every validator of the summary's epoch signs it; the signatures are aggregated."""
        if committee.epoch != summary.epoch:
            raise LedgerError(
                f"committee of epoch {committee.epoch} for a summary of {summary.epoch}"
            )
        signers = {
            position: self.private_key(v.index, v.generation)
            for position, v in enumerate(committee.validators)
        }
        return AuthorityStrongQuorumSignInfo.sign(summary, signers)


__all__ = [
    "DEFAULT_VALIDATORS",
    "MAX_VALIDATORS",
    "TOTAL_STAKE",
    "VALIDATOR_SECRET_FILE",
    "EpochCommittee",
    "Validator",
    "ValidatorKeys",
    "stakes",
]
