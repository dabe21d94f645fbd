"""Object ids that hold no SealToken, remembered so a flood of random tokens costs one chain read
per distinct id, not one per token.

The fingerprint-keyed refusals of `TokenCache` cannot help there: every random secret is a new
fingerprint. Keyed by object id instead, tokens with any secret for an id the chain said is
absent (`not_found`) or not our SealToken (`wrong_type`) are refused without a read for `ttl`
seconds, and concurrent reads of one id share one round trip. Object ids are derived from the
creating transaction, so a random id never becomes a token; the watcher forgets an id when the
chain creates a SealToken with it (a node lagging the chain must not keep a fresh token
refused), and the TTL bounds how long one chain answer is trusted if that event is missed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from k3s_daas.chain import ObjectData
from k3s_daas.seal.protocol import Reason

#: The refusals that belong to the object id, whatever the secret.
ABSENT_REASONS = frozenset({Reason.NOT_FOUND, Reason.WRONG_TYPE})


@dataclass(slots=True)
class _Read:
    future: asyncio.Future[ObjectData | None]
    generation: int


class AbsentIds:
    """A bounded, short-lived memory of object ids that are not SealTokens, plus shared reads."""

    def __init__(self, ttl: float, size: int, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._ids: OrderedDict[str, tuple[Reason, float]] = OrderedDict()
        self._reads: dict[str, _Read] = {}
        self.generation = 0

    def __len__(self) -> int:
        return len(self._ids)

    def refusal(self, object_id: str) -> Reason | None:
        """Why `object_id` holds no SealToken, while remembered."""
        known = self._ids.get(object_id)
        if known is None:
            return None
        if self._clock() < known[1]:
            self._ids.move_to_end(object_id)  # a hammered id stays in (until its TTL)
            return known[0]
        del self._ids[object_id]
        return None

    def remember(self, object_id: str, reason: Reason, generation: int) -> None:
        """The read begun at `generation` found no SealToken at `object_id` (other reasons, and
        reads that an id's creation overtook, are not remembered)."""
        if reason not in ABSENT_REASONS or self.ttl <= 0 or generation != self.generation:
            return
        self._ids[object_id] = (reason, self._clock() + self.ttl)
        self._ids.move_to_end(object_id)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def forget(self, object_id: str) -> None:
        """The chain created an object with this id (or may have): read it again."""
        self.generation += 1
        self._ids.pop(object_id.lower(), None)

    def clear(self) -> None:
        self.generation += 1
        self._ids.clear()

    async def read(
        self,
        object_id: str,
        fetch: Callable[[str], Awaitable[ObjectData | None]],
        generation: int,
    ) -> ObjectData | None:
        """`fetch(object_id)`, shared with the reads of that id already in flight that began at
        the same `generation` (the caller's purge counter: a read begun before a chain event is
        not joined after it)."""
        current = self._reads.get(object_id)
        if current is None or current.generation != generation:
            future = asyncio.ensure_future(fetch(object_id))
            current = self._reads[object_id] = _Read(future, generation)
            future.add_done_callback(lambda done: self._finished(object_id, done))
        return await asyncio.shield(current.future)

    def _finished(self, object_id: str, future: asyncio.Future[ObjectData | None]) -> None:
        read = self._reads.get(object_id)
        if read is not None and read.future is future:
            del self._reads[object_id]
        if not future.cancelled():
            future.exception()  # retrieved by the readers; avoid "never retrieved" noise


__all__ = ["ABSENT_REASONS", "AbsentIds"]
