"""One method per function of our Move package: build the PTB, pick gas, sign, execute, decode.

Why here and not in each caller: gas coin selection, shared-object versions, the per-signer lock
(one process never spends one gas coin version twice) and abort decoding are the same for every
call, and the worker, the master, the CLI and the benchmarks all need them.
Minting draws the secret locally and sends only SHA-256(secret); the token string exists only in
the returned `MintedToken` (its repr hides it) and is never logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grpclib import GRPCError
from grpclib.const import Status

from k3s_daas.chain.client import ChainClient
from k3s_daas.chain.convert import checkpoint_events
from k3s_daas.chain.deployment import Deployment
from k3s_daas.chain.errors import ChainError, ObjectNotFound, TransactionRejected
from k3s_daas.chain.keys import SuiKeyPair, normalize_address
from k3s_daas.chain.records import ObjectChange, ObjectData, TxResult
from k3s_daas.chain.transactions import (
    ObjectRef,
    ProgrammableTransaction,
    encode_string,
    sign,
)
from k3s_daas.chain.views import (
    EnclaveConfigView,
    EnclaveView,
    ObjectView,
    SealTokenView,
    StakeRecordView,
    StakingPoolView,
)
from k3s_daas.log import get_logger
from k3s_daas.seal import constants as c
from k3s_daas.seal.permissions import Tier
from k3s_daas.seal.sui import COIN_SUI_TYPE, SUI_FRAMEWORK
from k3s_daas.seal.token import (
    format_token,
    new_secret,
    parse_token,
    secret_commitment,
    short_fingerprint,
)

log = get_logger(__name__)

V = TypeVar("V", bound=ObjectView)

#: Gas budget per transaction (MIST): 0.05 SUI. Our calls cost ~2-3 M MIST on the devnet and
#: well under this on Sui mainnet; the unused part is not charged. Documented in docs/chain.md.
DEFAULT_GAS_BUDGET = 50_000_000
#: At most this many coins are combined to pay (Sui merges them into the first).
MAX_GAS_COINS = 255
#: Parallel GetCheckpoint calls when scanning history (find_stake_for_node fallback).
SCAN_CONCURRENCY = 32


@dataclass(frozen=True)
class MintedToken:
    """A freshly minted or rotated token. `token` is the secret bearer string: never log it."""

    token: str = field(repr=False)
    token_id: str
    stake_record_id: str
    view: SealTokenView
    digest: str = ""

    @property
    def fingerprint(self) -> str:
        return short_fingerprint(self.token)


class K3sDaasPackage:
    """Our package on one chain (ids from the deployment, i.e. devnet.json)."""

    def __init__(
        self,
        client: ChainClient,
        deployment: Deployment,
        *,
        gas_budget: int = DEFAULT_GAS_BUDGET,
    ) -> None:
        self.client = client
        self.deployment = deployment
        self.package_id = normalize_address(deployment.package_id)
        self.gas_budget = gas_budget
        self._locks: dict[str, asyncio.Lock] = {}

    # -- types ---------------------------------------------------------------------------------
    def type_of(self, view: type[ObjectView]) -> str:
        return view.type_for(self.package_id)

    def event_type(self, module: str, name: str) -> str:
        """The full type of one of our events: events are matched by it, never by
        `Event.module` (the module of the call that emitted it)."""
        return f"{self.package_id}::{module}::{name}"

    # -- the transaction pipeline --------------------------------------------------------------
    def _lock(self, address: str) -> asyncio.Lock:
        lock = self._locks.get(address)
        if lock is None:
            lock = self._locks[address] = asyncio.Lock()
        return lock

    async def select_gas(self, owner: str, need: int) -> list[ObjectRef]:
        """Coins paying `need` MIST: the smallest single coin that covers it, else the largest
        coins together (Sui merges several gas coins into the first)."""
        coins = [
            o
            for o in await self.client.list_owned_objects(owner, COIN_SUI_TYPE)
            if o.balance is not None and o.digest
        ]
        enough = sorted(
            (o for o in coins if (o.balance or 0) >= need), key=lambda o: o.balance or 0
        )
        if enough:
            return [_ref(enough[0])]
        chosen: list[ObjectData] = []
        total = 0
        for coin in sorted(coins, key=lambda o: o.balance or 0, reverse=True)[:MAX_GAS_COINS]:
            chosen.append(coin)
            total += coin.balance or 0
            if total >= need:
                return [_ref(o) for o in chosen]
        raise ChainError(
            f"{owner} has {sum(o.balance or 0 for o in coins)} MIST in {len(coins)} coins; "
            f"{need} MIST needed (amount + gas budget): fund it (k3s-daas devnet faucet)",
            reason="insufficient_funds",
        )

    async def transact(
        self,
        signer: SuiKeyPair,
        build: Callable[[ProgrammableTransaction], Awaitable[None]],
        *,
        spend: int = 0,
    ) -> TxResult:
        """Build (with fresh object versions), pay, sign and execute one PTB for `signer`.

        Serialised per signer so this process never uses one gas coin version twice. A
        rejection for a stale object (another process spent the coin: Sui's "is not available
        for consumption") is retried once with freshly read versions: a rejected transaction did
        nothing, so this is safe. Inputs locked by another transaction are not retried: that
        lock holds until the other transaction is final, so the error says so.
        """
        sender = signer.address
        async with self._lock(sender):
            for attempt in range(2):
                ptb = ProgrammableTransaction()
                await build(ptb)
                gas = await self.select_gas(sender, self.gas_budget + spend)
                price = await self.client.reference_gas_price()
                tx_bytes = ptb.build(
                    sender=sender, gas=gas, gas_price=price, gas_budget=self.gas_budget
                )
                signed = sign(tx_bytes, signer)
                try:
                    return await self.client.execute(
                        signed.tx_bytes, signed.signatures, package_id=self.package_id
                    )
                except TransactionRejected as exc:
                    if attempt == 0 and exc.stale_object:
                        log.info("stale object; rebuilding once", digest=signed.digest)
                        continue
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _shared(self, ptb: ProgrammableTransaction, object_id: str, *, mutable: bool) -> Any:
        version = await self.client.initial_shared_version(object_id)
        return ptb.shared(object_id, version, mutable=mutable)

    async def _owned(self, ptb: ProgrammableTransaction, object_id: str) -> Any:
        obj = await self.client.get_object(object_id)
        if obj is None:
            raise ObjectNotFound(f"object {object_id} not found")
        return ptb.owned(_ref(obj))

    def _call(
        self, ptb: ProgrammableTransaction, module: str, function: str, args: list[Any]
    ) -> Any:
        return ptb.move_call(self.package_id, module, function, args)

    def _created(self, result: TxResult, view: type[ObjectView]) -> ObjectChange:
        found = result.created_of_type(self.type_of(view))
        if len(found) != 1:
            raise ChainError(
                f"transaction {result.digest} created {len(found)} {view.STRUCT} objects",
                reason="bad_effects",
            )
        if found[0].shared and found[0].initial_shared_version is not None:
            self.client.remember_shared(found[0].object_id, found[0].initial_shared_version)
        return found[0]

    async def _view_of(self, result: TxResult, object_id: str, view: type[V]) -> V:
        """The object as `result` left it: from the execute answer (its output objects), or
        one GetObject where a node sent none."""
        object_id = normalize_address(object_id)
        obj = result.objects.get(object_id) or await self.client.get_object(object_id)
        if obj is None:
            raise ObjectNotFound(f"object {object_id} not found after {result.digest}")
        return view.from_object(obj, self.package_id)

    # -- staking ---------------------------------------------------------------------------------
    async def stake_for_node(
        self, signer: SuiKeyPair, amount: int, node_id: str
    ) -> StakeRecordView:
        """Lock `amount` MIST for worker node `node_id` (split off the gas coin)."""

        async def build(ptb: ProgrammableTransaction) -> None:
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=True)
            coin = ptb.split_gas(amount)
            self._call(ptb, "staking", "stake_for_node", [pool, coin, ptb.string(node_id)])

        result = await self.transact(signer, build, spend=amount)
        record = self._created(result, StakeRecordView)
        return await self._view_of(result, record.object_id, StakeRecordView)

    async def stake_for_user(self, signer: SuiKeyPair, amount: int) -> StakeRecordView:
        """Lock `amount` MIST for a kubectl user (no node)."""

        async def build(ptb: ProgrammableTransaction) -> None:
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=True)
            coin = ptb.split_gas(amount)
            self._call(ptb, "staking", "stake_for_user", [pool, coin])

        result = await self.transact(signer, build, spend=amount)
        record = self._created(result, StakeRecordView)
        return await self._view_of(result, record.object_id, StakeRecordView)

    async def request_unstake(self, signer: SuiKeyPair, stake_record_id: str) -> StakeRecordView:
        """Start unbonding (frees the node id); returns the record as it is now."""

        async def build(ptb: ProgrammableTransaction) -> None:
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=True)
            record = await self._shared(ptb, stake_record_id, mutable=True)
            self._call(ptb, "staking", "request_unstake", [pool, record])

        result = await self.transact(signer, build)
        return await self._view_of(result, stake_record_id, StakeRecordView)

    async def withdraw(self, signer: SuiKeyPair, stake_record_id: str) -> int:
        """Pay a stake's balance back to its staker (a new coin): after unbonding, or at once for
        what a partial slash left (the stake stays slashed). Returns the MIST paid."""

        async def build(ptb: ProgrammableTransaction) -> None:
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=True)
            record = await self._shared(ptb, stake_record_id, mutable=True)
            self._call(ptb, "staking", "withdraw", [pool, record])

        result = await self.transact(signer, build)
        withdrawn = self.event_type("staking", "StakeWithdrawn")
        for event in result.events:
            if event.type == withdrawn:
                return int(event.fields["amount"])
        return 0

    async def slash(self, admin: SuiKeyPair, stake_record_id: str, amount: int = 0) -> None:
        """Admin: slash `amount` MIST (0 = all) of a stake; frees its node id, revokes its tokens
        in the master (which watches StakeSlashed)."""

        async def build(ptb: ProgrammableTransaction) -> None:
            cap = await self._owned(ptb, await self._admin_cap(admin))
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=True)
            record = await self._shared(ptb, stake_record_id, mutable=True)
            self._call(ptb, "staking", "slash", [cap, pool, record, ptb.u64(amount)])

        await self.transact(admin, build)

    async def set_thresholds(
        self, admin: SuiKeyPair, min_stake: int, standard: int, premium: int
    ) -> None:
        async def build(ptb: ProgrammableTransaction) -> None:
            cap = await self._owned(ptb, await self._admin_cap(admin))
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=True)
            args = [cap, pool, ptb.u64(min_stake), ptb.u64(standard), ptb.u64(premium)]
            self._call(ptb, "staking", "set_thresholds", args)

        await self.transact(admin, build)

    async def _admin_cap(self, admin: SuiKeyPair) -> str:
        if self.deployment.admin_cap_id:
            return self.deployment.admin_cap_id
        caps = await self.client.list_owned_objects(
            admin.address, self.package_id + "::staking::AdminCap"
        )
        if not caps:
            raise ChainError(f"{admin.address} owns no AdminCap", reason="not_admin")
        return caps[0].object_id

    # -- tokens ----------------------------------------------------------------------------------
    async def _minted(
        self, result: TxResult, secret: bytes, stake_record_id: str | None = None
    ) -> MintedToken:
        change = self._created(result, SealTokenView)
        view = await self._view_of(result, change.object_id, SealTokenView)
        token = format_token(view.id, secret)
        log.debug("seal token minted", token_id=view.id, fingerprint=short_fingerprint(token))
        return MintedToken(
            token, view.id, stake_record_id or view.stake_record, view, digest=result.digest
        )

    async def stake_and_create_worker_token(
        self, signer: SuiKeyPair, amount: int, node_id: str
    ) -> MintedToken:
        """Stake for a node and mint its token in ONE transaction (the one-call form)."""
        secret = new_secret()

        async def build(ptb: ProgrammableTransaction) -> None:
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=True)
            config = await self._shared(ptb, self.deployment.enclave_config_id, mutable=False)
            coin = ptb.split_gas(amount)
            args = [pool, config, coin, ptb.string(node_id), ptb.bytes_(secret_commitment(secret))]
            self._call(ptb, "k8s_gateway", "stake_and_create_worker_seal_token", args)

        result = await self.transact(signer, build, spend=amount)
        record = self._created(result, StakeRecordView)
        return await self._minted(result, secret, record.object_id)

    async def create_worker_token(self, signer: SuiKeyPair, stake_record_id: str) -> MintedToken:
        """Mint a worker token on an existing node stake."""
        secret = new_secret()

        async def build(ptb: ProgrammableTransaction) -> None:
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=False)
            config = await self._shared(ptb, self.deployment.enclave_config_id, mutable=False)
            record = await self._shared(ptb, stake_record_id, mutable=False)
            args = [pool, config, record, ptb.bytes_(secret_commitment(secret))]
            self._call(ptb, "k8s_gateway", "create_worker_seal_token", args)

        return await self._minted(await self.transact(signer, build), secret)

    async def create_user_token(
        self, signer: SuiKeyPair, stake_record_id: str, permissions: Sequence[str]
    ) -> MintedToken:
        """Mint a kubectl user token with requested ∩ earned permissions."""
        secret = new_secret()

        async def build(ptb: ProgrammableTransaction) -> None:
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=False)
            config = await self._shared(ptb, self.deployment.enclave_config_id, mutable=False)
            record = await self._shared(ptb, stake_record_id, mutable=False)
            args = [
                pool,
                config,
                record,
                ptb.bytes_(secret_commitment(secret)),
                ptb.strings(list(permissions)),
            ]
            self._call(ptb, "k8s_gateway", "create_user_seal_token", args)

        return await self._minted(await self.transact(signer, build), secret)

    async def rotate_token(self, signer: SuiKeyPair, token: str) -> MintedToken:
        """New secret, same object id, fresh expiry; the old token string stops working."""
        token_id = parse_token(token).object_id
        current = await self.get_seal_token(token_id)
        secret = new_secret()

        async def build(ptb: ProgrammableTransaction) -> None:
            obj = await self._owned(ptb, token_id)
            pool = await self._shared(ptb, self.deployment.pool_id, mutable=False)
            record = await self._shared(ptb, current.stake_record, mutable=False)
            args = [obj, pool, record, ptb.bytes_(secret_commitment(secret))]
            self._call(ptb, "k8s_gateway", "rotate_seal_token", args)

        result = await self.transact(signer, build)
        view = await self._view_of(result, current.id, SealTokenView)
        rotated = format_token(view.id, secret)
        log.debug("seal token rotated", token_id=view.id, fingerprint=short_fingerprint(rotated))
        return MintedToken(rotated, view.id, view.stake_record, view, digest=result.digest)

    async def revoke_token(self, signer: SuiKeyPair, token_id: str) -> None:
        """Delete the token object (accepts its id or the token string)."""
        if token_id.startswith("seal_"):
            token_id = parse_token(token_id).object_id
        await self.get_seal_token(token_id)  # a clear error for a wrong id or type

        async def build(ptb: ProgrammableTransaction) -> None:
            obj = await self._owned(ptb, token_id)
            self._call(ptb, "k8s_gateway", "revoke_seal_token", [obj])

        await self.transact(signer, build)

    # -- enclaves --------------------------------------------------------------------------------
    async def _attestation(self, ptb: ProgrammableTransaction, document: bytes) -> Any:
        clock = await self._shared(ptb, self.deployment.clock_id, mutable=False)
        return ptb.move_call(
            SUI_FRAMEWORK, "nitro_attestation", "load_nitro_attestation",
            [ptb.bytes_(document), clock],
        )  # fmt: skip

    async def register_enclave(
        self, operator: SuiKeyPair, document: bytes, endpoint: str, tier: Tier
    ) -> str:
        """Register a master enclave from its attestation document; returns the Enclave id."""

        async def build(ptb: ProgrammableTransaction) -> None:
            doc = await self._attestation(ptb, document)
            config = await self._shared(ptb, self.deployment.enclave_config_id, mutable=True)
            args = [config, doc, ptb.string(endpoint), ptb.u8(int(tier))]
            self._call(ptb, "nautilus", "register_enclave", args)

        result = await self.transact(operator, build)
        return self._created(result, EnclaveView).object_id

    async def update_enclave(
        self, operator: SuiKeyPair, enclave_id: str, document: bytes, endpoint: str
    ) -> None:
        """New attested key (after a restart) and endpoint; same Enclave id."""

        async def build(ptb: ProgrammableTransaction) -> None:
            doc = await self._attestation(ptb, document)
            enclave = await self._shared(ptb, enclave_id, mutable=True)
            config = await self._shared(ptb, self.deployment.enclave_config_id, mutable=False)
            self._call(
                ptb, "nautilus", "update_enclave", [enclave, config, doc, ptb.string(endpoint)]
            )

        await self.transact(operator, build)

    async def update_pcrs(self, admin: SuiKeyPair, pcrs: dict[int, bytes]) -> None:
        """Admin: set the expected PCR0-2 (bumps the config version)."""
        if set(pcrs) != {0, 1, 2}:
            raise ValueError("pcrs must give PCR0, PCR1 and PCR2")

        async def build(ptb: ProgrammableTransaction) -> None:
            cap = await self._owned(ptb, await self._admin_cap(admin))
            config = await self._shared(ptb, self.deployment.enclave_config_id, mutable=True)
            args = [cap, config, *(ptb.bytes_(pcrs[i]) for i in (0, 1, 2))]
            self._call(ptb, "nautilus", "update_pcrs", args)

        await self.transact(admin, build)

    # -- reads -----------------------------------------------------------------------------------
    async def get_view(self, view: type[V], object_id: str) -> V:
        obj = await self.client.get_object(object_id)
        if obj is None:
            raise ObjectNotFound(f"{view.STRUCT} {object_id} not found")
        return view.from_object(obj, self.package_id)

    async def get_views(self, view: type[V], object_ids: Sequence[str]) -> list[V | None]:
        """Many views in one BatchGetObjects (None where absent; wrong types raise)."""
        objs = await self.client.get_objects(object_ids)
        return [None if o is None else view.from_object(o, self.package_id) for o in objs]

    async def get_seal_token(self, object_id: str) -> SealTokenView:
        return await self.get_view(SealTokenView, object_id)

    async def get_stake_record(self, object_id: str) -> StakeRecordView:
        return await self.get_view(StakeRecordView, object_id)

    async def get_pool(self) -> StakingPoolView:
        return await self.get_view(StakingPoolView, self.deployment.pool_id)

    async def get_enclave_config(self) -> EnclaveConfigView:
        return await self.get_view(EnclaveConfigView, self.deployment.enclave_config_id)

    async def get_enclave(self, object_id: str) -> EnclaveView:
        return await self.get_view(EnclaveView, object_id)

    async def find_tokens(self, owner: str) -> list[SealTokenView]:
        """Every SealToken `owner` holds (tokens are owned objects, so one listing)."""
        objs = await self.client.list_owned_objects(owner, self.type_of(SealTokenView))
        return [SealTokenView.from_object(o, self.package_id) for o in objs]

    async def find_stake_for_node(self, node_id: str) -> StakeRecordView | None:
        """The live node stake for `node_id` (the pool's node_stakes table), or None.

        Reads the table through ListDynamicFields; where the node does not serve that RPC (the
        devnet today), it scans checkpoints from the tip down for the newest StakeCreated of
        that node: only the newest can be live, since a node id is freed before it is reused.
        """
        pool = await self.get_pool()
        try:
            fields = await self.client.list_dynamic_fields(pool.node_stakes_table)
        except GRPCError as exc:
            if exc.status != Status.UNIMPLEMENTED:
                raise ChainError(
                    f"ListDynamicFields: {exc.status.name}", reason="chain_error"
                ) from None
            return await self._scan_for_node(node_id)
        key = encode_string(node_id)
        for entry in fields:
            name = entry.name.value if entry.name is not None else None
            value = entry.value.value if entry.value is not None else None
            if name is not None and bytes(name) == key and value is not None and len(value) == 32:
                record = await self.get_stake_record("0x" + bytes(value).hex())
                return record if record.is_active else None
        return None

    async def _scan_for_node(self, node_id: str) -> StakeRecordView | None:
        tip = await self.client.latest_checkpoint()
        semaphore = asyncio.Semaphore(SCAN_CONCURRENCY)
        created = self.event_type("staking", "StakeCreated")

        async def stake_ids(seq: int) -> list[str]:
            async with semaphore:
                cp = await self.client.get_checkpoint(seq)
            if cp is None:
                return []
            # By type: a one-call stake + mint emits StakeCreated with module `k8s_gateway`.
            return [
                str(e.fields["stake_id"])
                for e in checkpoint_events(cp, self.package_id)
                if e.type == created and e.fields["node_id"] == node_id
            ]

        high = tip
        while high >= 0:
            low = max(0, high - SCAN_CONCURRENCY * 4 + 1)
            found = await asyncio.gather(*(stake_ids(s) for s in range(low, high + 1)))
            for ids in reversed(found):
                if ids:
                    record = await self.get_stake_record(ids[-1])
                    if record.is_active and record.stake_type == c.STAKE_TYPE_NODE:
                        return record
                    return None
            high = low - 1
        return None


def _ref(obj: ObjectData) -> ObjectRef:
    if obj.digest is None:
        raise ChainError(f"object {obj.object_id} answered without a digest", reason="bad_answer")
    return ObjectRef(obj.object_id, obj.version, obj.digest)


__all__ = ["DEFAULT_GAS_BUDGET", "K3sDaasPackage", "MintedToken"]
