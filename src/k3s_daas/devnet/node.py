"""The running devnet: ledger + executor behind ONE writer, and the checkpoint fan-out.

Every state change (ExecuteTransaction, faucet grants, epoch changes) takes `DevnetNode.lock`, so
the executor always sees a consistent view and versions are sequenced; each change is one SQLite
transaction. Subscribers get each new checkpoint's sequence number after it is committed.
"""

from __future__ import annotations

import asyncio
import time

import base58
from pysui.sui.sui_bcs import bcs as sbcs

from k3s_daas.chain.keys import blake2b256, transaction_digest
from k3s_daas.devnet.errors import BadRequest
from k3s_daas.devnet.executor import Executor
from k3s_daas.devnet.ids import FAUCET_MAX_MIST
from k3s_daas.devnet.ledger import (
    CheckpointRecord,
    Ledger,
    PendingTx,
    TxRecord,
    canonical_json,
    pending_from_effects,
)
from k3s_daas.devnet.objects import Effects, StoredObject
from k3s_daas.devnet.package import coin_object
from k3s_daas.log import get_logger

log = get_logger(__name__)

MAX_TX_BYTES = 128 * 1024


def derive_object_id(tx_digest: str, index: int) -> str:
    """Sui's rule: blake2b-256(tx digest bytes ‖ creation index as u64 LE)."""
    return "0x" + blake2b256(base58.b58decode(tx_digest) + index.to_bytes(8, "little")).hex()


def system_digest(salt: bytes, body: bytes) -> str:
    """Digest of a devnet system transaction (genesis, faucet): not a TransactionData digest."""
    return str(base58.b58encode(blake2b256(salt + body)).decode())


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


def gas_object_of(tx_bytes: bytes) -> str | None:
    """The first gas coin of a BCS TransactionData (the one effects report as gas object)."""
    try:
        data = sbcs.TransactionData.deserialize(tx_bytes).value
        payment = data.GasData.Payment
        return str(payment[0].ObjectID.to_address_str()) if payment else None
    except Exception:
        return None


class DevnetNode:
    """The chain as the gRPC services and the faucet see it."""

    def __init__(self, ledger: Ledger, executor: Executor) -> None:
        self.ledger = ledger
        self.executor = executor
        self.lock = asyncio.Lock()
        self._subscribers: set[Subscriber] = set()
        self.started = time.time()

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
            effects = self.executor.execute(tx_bytes, signatures, self.ledger)
            pending = pending_from_effects(effects, gas_object_of(tx_bytes))
            checkpoint, record = self.ledger.commit(pending)
        self._publish(checkpoint)
        log.info(
            "transaction committed",
            digest=record.digest,
            checkpoint=checkpoint.seq,
            success=effects.status.success,
        )
        return record

    def simulate(self, tx_data: sbcs.TransactionData) -> tuple[Effects, TxRecord]:
        """Dry run: the executor's effects and what the ledger would record (nothing written)."""
        effects = self.executor.simulate(tx_data, self.ledger)
        tx_bytes = tx_data.serialize()
        pending = pending_from_effects(effects, gas_object_of(tx_bytes))
        return effects, self.ledger.preview(pending)

    async def faucet(self, recipient: str, amount: int) -> tuple[StoredObject, TxRecord]:
        """Mint one coin for `recipient` in a recorded system transaction (kind "faucet")."""
        if not 0 < amount <= FAUCET_MAX_MIST:
            raise BadRequest(f"amount must be 1..{FAUCET_MAX_MIST} MIST")
        async with self.lock:
            nonce = self.ledger.counts()["transactions"]
            body = canonical_json(
                {"kind": "faucet", "recipient": recipient, "amount": amount, "nonce": nonce}
            ).encode()
            digest = system_digest(b"DevnetFaucetTransaction::", body)
            coin = coin_object(derive_object_id(digest, 0), recipient, amount, 1, digest)
            pending = PendingTx(
                digest=digest,
                kind="faucet",
                sender=recipient,
                tx_bytes=body,
                signatures=[],
                status={"success": True},
                gas_used={"computation": 0, "storage": 0, "rebate": 0},
                gas_object=None,
                lamport_version=1,
                created=[coin],
            )
            checkpoint, record = self.ledger.commit(pending)
        self._publish(checkpoint)
        log.info("faucet grant", recipient=recipient, amount=amount, digest=digest)
        return coin, record

    async def advance_epoch(self) -> CheckpointRecord:
        async with self.lock:
            checkpoint = self.ledger.advance_epoch()
        self._publish(checkpoint)
        log.info("epoch advanced", epoch=checkpoint.epoch, checkpoint=checkpoint.seq)
        return checkpoint

    # -- subscriptions ------------------------------------------------------------------------
    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _publish(self, checkpoint: CheckpointRecord) -> None:
        del checkpoint  # subscribers read the ledger from their own cursor
        for subscriber in list(self._subscribers):
            subscriber.notify()
