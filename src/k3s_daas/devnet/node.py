"""The running devnet: ledger + executor behind ONE writer, and the checkpoint fan-out.

Every state change (ExecuteTransaction, faucet grants, epoch changes, heartbeats) takes
`DevnetNode.lock`, so the executor always sees a consistent view and versions are sequenced; each
change is one SQLite transaction. Subscribers are woken after each new checkpoint is committed.
"""

from __future__ import annotations

import asyncio
import time

from pysui.sui.sui_bcs import bcs as sbcs

from k3s_daas.chain import transaction_digest
from k3s_daas.devnet.effects import ExecutedTransaction
from k3s_daas.devnet.errors import BadRequest
from k3s_daas.devnet.executor import Executor
from k3s_daas.devnet.ids import FAUCET_MAX_MIST
from k3s_daas.devnet.ledger import CheckpointRecord, Ledger, TxRecord
from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.package import coin_object
from k3s_daas.devnet.system import SystemTransaction, faucet_transaction
from k3s_daas.log import get_logger

log = get_logger(__name__)

MAX_TX_BYTES = 128 * 1024


class Subscriber:
    """One SubscribeCheckpoints stream: woken when the tip moves; it reads the ledger itself,
    so a slow stream never buffers checkpoints in memory and never skips one."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event.clear()


class DevnetNode:
    """The chain as the gRPC services and the faucet see it."""

    def __init__(self, ledger: Ledger, executor: Executor) -> None:
        self.ledger = ledger
        self.executor = executor
        self.lock = asyncio.Lock()
        self._subscribers: set[Subscriber] = set()
        self.started = time.time()
        #: Monotonic time of the last checkpoint committed (the heartbeat fills idle gaps).
        self.last_checkpoint_at = time.monotonic()

    @property
    def chain_id(self) -> str:
        return self.ledger.meta_get("chain_id") or ""

    # -- writes (single writer) ---------------------------------------------------------------
    async def execute(self, tx_bytes: bytes, signatures: list[bytes]) -> TxRecord:
        """Verify + run + commit one signed transaction; a replay returns the recorded one."""
        if len(tx_bytes) > MAX_TX_BYTES:
            raise BadRequest(f"transaction larger than {MAX_TX_BYTES} bytes")
        digest = transaction_digest(tx_bytes)
        async with self.lock:
            existing = self.ledger.transaction(digest)
            if existing is not None:
                return existing
            executed = self.executor.execute(tx_bytes, signatures, self.ledger)
            checkpoint, record = self.ledger.commit(executed)
        self._publish(checkpoint)
        log.info(
            "transaction committed",
            digest=record.digest,
            checkpoint=checkpoint.seq,
            success=record.effects.status.success,
        )
        return record

    def simulate(self, tx_data: sbcs.TransactionData) -> tuple[ExecutedTransaction, TxRecord]:
        """Dry run: the executed transaction and what the ledger would record (nothing written)."""
        executed = self.executor.simulate(tx_data, self.ledger)
        return executed, self.ledger.preview(executed)

    async def faucet(self, recipient: str, amount: int) -> tuple[StoredObject, TxRecord]:
        """Mint one coin for `recipient` in a recorded system transaction (kind "faucet")."""
        if not 0 < amount <= FAUCET_MAX_MIST:
            raise BadRequest(f"amount must be 1..{FAUCET_MAX_MIST} MIST")
        async with self.lock:
            nonce = self.ledger.counts()["transactions"]
            grant = SystemTransaction("faucet", faucet_transaction(recipient, amount, nonce))
            coin = coin_object(grant.object_id(0), recipient, amount, 1, grant.digest)
            executed = grant.executed([coin], self.ledger.epoch())
            checkpoint, record = self.ledger.commit(executed)
        self._publish(checkpoint)
        log.info("faucet grant", recipient=recipient, amount=amount, digest=grant.digest)
        return coin, record

    async def advance_epoch(self, rotate: int | None = None) -> tuple[int, CheckpointRecord]:
        """Close the epoch (its last checkpoint names the next committee; `rotate`: validator
        whose key the next committee replaces); returns the new epoch and that checkpoint."""
        async with self.lock:
            epoch, checkpoint = self.ledger.advance_epoch(rotate)
        self._publish(checkpoint)
        log.info("epoch advanced", epoch=epoch, checkpoint=checkpoint.seq, rotated=rotate)
        return epoch, checkpoint

    async def heartbeat(self, interval: float) -> CheckpointRecord | None:
        """An empty certified checkpoint if none was committed for `interval` seconds (a real
        network checkpoints continuously, idle or not); None if one was."""
        async with self.lock:
            if time.monotonic() - self.last_checkpoint_at < interval:
                return None
            checkpoint = self.ledger.append_heartbeat()
        self._publish(checkpoint)
        return checkpoint

    async def keep_checkpointing(self, interval: float) -> None:
        """Run `heartbeat` so that no more than `interval` seconds pass without a checkpoint."""
        while True:
            await asyncio.sleep(max(0.0, self.last_checkpoint_at + interval - time.monotonic()))
            try:
                await self.heartbeat(interval)
            except Exception:  # a failed heartbeat is retried at the next interval
                log.exception("heartbeat checkpoint failed")
                await asyncio.sleep(interval)

    # -- subscriptions ------------------------------------------------------------------------
    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _publish(self, checkpoint: CheckpointRecord) -> None:
        del checkpoint  # subscribers read the ledger from their own cursor
        self.last_checkpoint_at = time.monotonic()
        for subscriber in list(self._subscribers):
            subscriber.notify()
