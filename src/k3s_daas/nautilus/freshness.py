"""How old the chain the master has followed is: the bound on "current as of checkpoint n".

A node that withholds every checkpoint after *n* and serves objects as of *n* tells no lie that a
signature could catch; only time can. Sui certifies checkpoints continuously, several a second
even when idle (the devnet every `--checkpoint-interval`), and each summary carries its
`timestamp_ms`, signed by the committee. So with `verify_chain` the master refuses to say
"valid" (cached or not: `chain_unavailable`) once the newest verified checkpoint the watcher has
processed is older than `staleness`.

The clock. An enclave's wall clock is the host's to set, so the age is the larger of two:
`wall now - timestamp` and the monotonic time since that checkpoint was taken in. The second
only grows while this process runs: once a checkpoint is in, a host that withholds later ones
cannot make it look younger by turning the wall clock back, and turning it forward only refuses
(a host can always deny service). What the host can still do is start a master with its clock
set back and an old chain tip; the first fresh checkpoint, or a restart with an honest clock,
ends that.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class VerifiedTimes(Protocol):
    """What knows the signed time of a verified checkpoint (`chain.VerifiedChain`)."""

    def verified_timestamp_ms(self, sequence_number: int) -> int | None: ...


class ChainFreshness:
    """The newest processed checkpoint's signed time, aged by a clock the host cannot rewind."""

    def __init__(
        self,
        bound: float,
        times: VerifiedTimes,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bound = bound
        self.times = times
        self._wall = wall
        self._monotonic = monotonic
        self.checkpoint: int | None = None
        self.timestamp_ms: int | None = None
        self._taken_at = 0.0  # monotonic, when `timestamp_ms` was taken in

    def processed(self, sequence_number: int) -> None:
        """The watcher has applied every event up to checkpoint `sequence_number`."""
        timestamp_ms = self.times.verified_timestamp_ms(sequence_number)
        if timestamp_ms is not None:
            self.note(sequence_number, timestamp_ms)

    def note(self, sequence_number: int, timestamp_ms: int) -> None:
        """Checkpoint `sequence_number`, signed at `timestamp_ms`, is verified and applied."""
        if self.checkpoint is not None and sequence_number <= self.checkpoint:
            return
        self.checkpoint = sequence_number
        if self.timestamp_ms is None or timestamp_ms > self.timestamp_ms:
            self.timestamp_ms, self._taken_at = timestamp_ms, self._monotonic()

    def age(self) -> float | None:
        """Seconds since the newest processed checkpoint was signed (None: none yet)."""
        if self.timestamp_ms is None:
            return None
        return max(self._wall() - self.timestamp_ms / 1000, self._monotonic() - self._taken_at)

    def fresh(self) -> bool:
        age = self.age()
        return age is not None and age <= self.bound

    async def probe(self) -> str | None:
        """The `/readyz` check: why this master gives no "valid" answer now (None: it does)."""
        age = self.age()
        if age is None:
            return "no verified checkpoint processed yet"
        if age > self.bound:
            return (
                f"the newest verified checkpoint is {age:.0f}s old (staleness {self.bound:g}s): "
                "the endpoints withhold checkpoints or the chain stalled"
            )
        return None

    def health(self) -> dict[str, object]:
        age = self.age()
        return {
            "chain_fresh": age is not None and age <= self.bound,
            "chain_age_seconds": None if age is None else round(age, 3),
            "chain_age_bound_seconds": self.bound,
        }
