"""The small read interfaces consumers depend on instead of the concrete `ChainClient`.

Each names only what one kind of consumer reads, so its tests pass a plain fake (no gRPC, no
`type: ignore`) and the client stays free to grow. `ChainClient` satisfies all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.endpoint import Endpoint
from k3s_daas.chain.records import EpochInfo, ObjectData


@runtime_checkable
class ObjectReader(Protocol):
    """Reads objects by id, many per round trip (what `chain.batch.ObjectFetcher` needs)."""

    async def get_objects(self, object_ids: Sequence[str]) -> list[ObjectData | None]:
        """The objects in the order asked, None where absent."""
        ...


@runtime_checkable
class ChainReader(ObjectReader, Protocol):
    """Objects and the current epoch: what a token check reads (the master's validator)."""

    async def get_epoch(self) -> EpochInfo: ...


@runtime_checkable
class StakeHints(Protocol):
    """Which StakeRecord a SealToken names, known before the token is read (from verified
    `SealTokenCreated` events), so a cold check can read both in one round trip. A hint only:
    the token's own `stake_record` field decides."""

    def stake_of(self, token_id: str) -> str | None: ...


@runtime_checkable
class BalanceReader(Protocol):
    """An address's SUI balance (the worker and master decide whether to ask a faucet)."""

    async def get_balance(self, owner: str) -> int: ...


@runtime_checkable
class CheckpointSource(Protocol):
    """What `chain.events.subscribe` follows: checkpoint reads and a stream per endpoint."""

    @property
    def endpoints(self) -> Sequence[Endpoint]: ...

    @property
    def preferred_endpoint(self) -> int: ...

    async def latest_checkpoint(self) -> int: ...

    async def checkpoint_bounds(self) -> tuple[int, int]:
        """(lowest available, latest): below the first is pruned, above the second not yet."""
        ...

    async def get_checkpoint(self, sequence_number: int | None = None) -> v2.Checkpoint | None: ...

    def stream_checkpoints(self, endpoint: int) -> AsyncIterator[v2.Checkpoint]: ...


@runtime_checkable
class ChainSource(ChainReader, CheckpointSource, Protocol):
    """Everything the master reads: the validator's objects and epoch, the watcher's
    checkpoints (`ChainClient` as is, or `chain.verified.VerifiedChain` proving each answer)."""


__all__ = [
    "BalanceReader",
    "ChainReader",
    "ChainSource",
    "CheckpointSource",
    "ObjectReader",
    "StakeHints",
]
