/// Stake SUI for a worker node or a kubectl user; slashing with the AdminCap.
/// Constants mirror `src/k3s_daas/seal/constants.py` (a test holds them equal).
module k3s_daas::staking;

use std::string::String;
use sui::balance::{Self, Balance};
use sui::coin::{Self, Coin};
use sui::event;
use sui::sui::SUI;
use sui::table::{Self, Table};

// === Pool defaults (seed values) ===
const MIN_STAKE: u64 = 100;
const STANDARD_THRESHOLD: u64 = 1000;
const PREMIUM_THRESHOLD: u64 = 10000;
const TOKEN_LIFETIME_EPOCHS: u64 = 100;
const UNBONDING_EPOCHS: u64 = 2;
const MAX_NODE_ID_LENGTH: u64 = 63;

// === Stake types and statuses ===
const STAKE_TYPE_NODE: u8 = 0;
const STAKE_TYPE_USER: u8 = 1;
const STATUS_ACTIVE: u8 = 0;
const STATUS_WITHDRAWING: u8 = 1;
const STATUS_SLASHED: u8 = 2;
const STATUS_WITHDRAWN: u8 = 3;

// === Abort codes ===
const EInsufficientStake: u64 = 1;
const ENotStaker: u64 = 2;
const ENotActive: u64 = 3;
const ENotWithdrawing: u64 = 4;
const EUnbondingNotOver: u64 = 5;
const EInvalidNodeId: u64 = 6;
const ENodeAlreadyStaked: u64 = 7;
const ESlashTooLarge: u64 = 8;
const EInvalidThresholds: u64 = 9;
const ENothingToWithdraw: u64 = 10;

/// Held by the operator of the package: slashing, thresholds, enclave PCRs.
public struct AdminCap has key, store { id: UID }

/// Shared: pool settings, the running total and the slashed funds; one live stake per node id.
public struct StakingPool has key {
    id: UID,
    min_stake: u64,
    standard_threshold: u64,
    premium_threshold: u64,
    token_lifetime_epochs: u64,
    unbonding_epochs: u64,
    total_staked: u64,
    slashed: Balance<SUI>,
    node_stakes: Table<String, ID>,
}

/// Shared so that the admin can slash it. `key` only: it is never transferred, only shared.
public struct StakeRecord has key {
    id: UID,
    pool: ID,
    staker: address,
    node_id: String,
    stake_type: u8,
    balance: Balance<SUI>,
    amount: u64,
    status: u8,
    staked_epoch: u64,
    unbonding_epoch: u64,
}

public struct StakeCreated has copy, drop {
    stake_id: ID,
    staker: address,
    node_id: String,
    stake_type: u8,
    amount: u64,
}

public struct UnstakeRequested has copy, drop {
    stake_id: ID,
    staker: address,
    node_id: String,
    unbonding_epoch: u64,
}

public struct StakeWithdrawn has copy, drop {
    stake_id: ID,
    staker: address,
    amount: u64,
}

public struct StakeSlashed has copy, drop {
    stake_id: ID,
    staker: address,
    node_id: String,
    amount: u64,
    remaining: u64,
}

fun init(ctx: &mut TxContext) {
    transfer::transfer(AdminCap { id: object::new(ctx) }, ctx.sender());
    transfer::share_object(StakingPool {
        id: object::new(ctx),
        min_stake: MIN_STAKE,
        standard_threshold: STANDARD_THRESHOLD,
        premium_threshold: PREMIUM_THRESHOLD,
        token_lifetime_epochs: TOKEN_LIFETIME_EPOCHS,
        unbonding_epochs: UNBONDING_EPOCHS,
        total_staked: 0,
        slashed: balance::zero(),
        node_stakes: table::new(ctx),
    });
}

// === Staking ===

/// Stake for a worker node; one live stake per node id.
public fun stake_for_node(
    pool: &mut StakingPool,
    payment: Coin<SUI>,
    node_id: String,
    ctx: &mut TxContext,
): ID {
    new_node_stake(pool, payment, node_id, ctx)
}

/// Stake for a kubectl user (no node id).
public fun stake_for_user(pool: &mut StakingPool, payment: Coin<SUI>, ctx: &mut TxContext): ID {
    share_new_stake(pool, payment, b"".to_string(), STAKE_TYPE_USER, ctx)
}

/// Shares a node stake and returns its ID. `k8s_gateway::stake_and_create_worker_seal_token`
/// mints against it from the values it staked (the record itself is shared by then).
public(package) fun new_node_stake(
    pool: &mut StakingPool,
    payment: Coin<SUI>,
    node_id: String,
    ctx: &mut TxContext,
): ID {
    assert!(is_dns_label(&node_id), EInvalidNodeId);
    assert!(!pool.node_stakes.contains(node_id), ENodeAlreadyStaked);
    let stake_id = share_new_stake(pool, payment, node_id, STAKE_TYPE_NODE, ctx);
    pool.node_stakes.add(node_id, stake_id);
    stake_id
}

/// Packs the record and shares it in the same function: the idiom the `share_owned` lint asks
/// for (a fresh object is shared, never one handed in as a parameter).
fun share_new_stake(
    pool: &mut StakingPool,
    payment: Coin<SUI>,
    node_id: String,
    stake_type: u8,
    ctx: &mut TxContext,
): ID {
    let amount = payment.value();
    assert!(amount >= pool.min_stake, EInsufficientStake);
    pool.total_staked = pool.total_staked + amount;
    let record = StakeRecord {
        id: object::new(ctx),
        pool: object::id(pool),
        staker: ctx.sender(),
        node_id,
        stake_type,
        balance: payment.into_balance(),
        amount,
        status: STATUS_ACTIVE,
        staked_epoch: ctx.epoch(),
        unbonding_epoch: 0,
    };
    let stake_id = object::id(&record);
    event::emit(StakeCreated { stake_id, staker: record.staker, node_id, stake_type, amount });
    transfer::share_object(record);
    stake_id
}

/// Start unbonding; the node id is freed at once so the node can no longer use this stake.
public fun request_unstake(pool: &mut StakingPool, record: &mut StakeRecord, ctx: &TxContext) {
    assert!(ctx.sender() == record.staker, ENotStaker);
    assert!(record.status == STATUS_ACTIVE, ENotActive);
    record.status = STATUS_WITHDRAWING;
    record.unbonding_epoch = ctx.epoch() + pool.unbonding_epochs;
    free_node_id(pool, record);
    event::emit(UnstakeRequested {
        stake_id: object::id(record),
        staker: record.staker,
        node_id: record.node_id,
        unbonding_epoch: record.unbonding_epoch,
    });
}

/// Pay what is left of a stake back to its staker: after the unbonding period for an unstaked
/// stake (it becomes WITHDRAWN), at once for the remainder of a partially slashed one (it stays
/// SLASHED, so its tokens stay revoked; its node id was freed by the slash).
public fun withdraw(pool: &mut StakingPool, record: &mut StakeRecord, ctx: &mut TxContext) {
    assert!(ctx.sender() == record.staker, ENotStaker);
    if (record.status == STATUS_SLASHED) {
        assert!(record.balance.value() > 0, ENothingToWithdraw);
    } else {
        assert!(record.status == STATUS_WITHDRAWING, ENotWithdrawing);
        assert!(ctx.epoch() >= record.unbonding_epoch, EUnbondingNotOver);
        record.status = STATUS_WITHDRAWN;
    };
    let amount = record.balance.value();
    pool.total_staked = pool.total_staked - amount;
    let payout = coin::from_balance(record.balance.withdraw_all(), ctx);
    transfer::public_transfer(payout, record.staker);
    event::emit(StakeWithdrawn { stake_id: object::id(record), staker: record.staker, amount });
}

/// Slash `amount` (0 = everything) into the pool; the stake is revoked at once and for good.
/// One slash per stake: the staker may then `withdraw` the remainder at once.
public fun slash(
    _: &AdminCap,
    pool: &mut StakingPool,
    record: &mut StakeRecord,
    amount: u64,
    _ctx: &TxContext,
) {
    assert!(record.status != STATUS_SLASHED && record.status != STATUS_WITHDRAWN, ENotActive);
    let available = record.balance.value();
    let take = if (amount == 0) { available } else { amount };
    assert!(take <= available, ESlashTooLarge);
    pool.slashed.join(record.balance.split(take));
    pool.total_staked = pool.total_staked - take;
    record.status = STATUS_SLASHED;
    free_node_id(pool, record);
    event::emit(StakeSlashed {
        stake_id: object::id(record),
        staker: record.staker,
        node_id: record.node_id,
        amount: take,
        remaining: record.balance.value(),
    });
}

/// Change the tier thresholds; tokens already minted keep their permissions until rotated.
public fun set_thresholds(
    _: &AdminCap,
    pool: &mut StakingPool,
    min: u64,
    standard: u64,
    premium: u64,
) {
    assert!(0 < min && min <= standard && standard <= premium, EInvalidThresholds);
    pool.min_stake = min;
    pool.standard_threshold = standard;
    pool.premium_threshold = premium;
}

fun free_node_id(pool: &mut StakingPool, record: &StakeRecord) {
    if (record.stake_type == STAKE_TYPE_NODE && pool.node_stakes.contains(record.node_id)) {
        if (*pool.node_stakes.borrow(record.node_id) == object::id(record)) {
            pool.node_stakes.remove(record.node_id);
        };
    };
}

/// A Kubernetes node name: lower-case letters, digits and '-', not at either end, ≤ 63.
fun is_dns_label(s: &String): bool {
    let bytes = s.as_bytes();
    let n = bytes.length();
    if (n == 0 || n > MAX_NODE_ID_LENGTH) return false;
    let mut i = 0;
    while (i < n) {
        let b = bytes[i];
        let alnum = (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39);
        if (!alnum && (b != 0x2d || i == 0 || i == n - 1)) return false;
        i = i + 1;
    };
    true
}

// === Accessors ===

public fun min_stake(pool: &StakingPool): u64 { pool.min_stake }

public fun standard_threshold(pool: &StakingPool): u64 { pool.standard_threshold }

public fun premium_threshold(pool: &StakingPool): u64 { pool.premium_threshold }

public fun token_lifetime_epochs(pool: &StakingPool): u64 { pool.token_lifetime_epochs }

public fun total_staked(pool: &StakingPool): u64 { pool.total_staked }

public fun slashed_value(pool: &StakingPool): u64 { pool.slashed.value() }

public fun node_stake(pool: &StakingPool, node_id: String): Option<ID> {
    if (pool.node_stakes.contains(node_id)) option::some(*pool.node_stakes.borrow(node_id))
    else option::none()
}

public fun staker(record: &StakeRecord): address { record.staker }

public fun node_id(record: &StakeRecord): String { record.node_id }

public fun stake_type(record: &StakeRecord): u8 { record.stake_type }

public fun balance_value(record: &StakeRecord): u64 { record.balance.value() }

public fun amount(record: &StakeRecord): u64 { record.amount }

public fun status(record: &StakeRecord): u8 { record.status }

public fun is_active(record: &StakeRecord): bool { record.status == STATUS_ACTIVE }

public fun is_node(record: &StakeRecord): bool { record.stake_type == STAKE_TYPE_NODE }

public fun is_user(record: &StakeRecord): bool { record.stake_type == STAKE_TYPE_USER }

public fun unbonding_epoch(record: &StakeRecord): u64 { record.unbonding_epoch }

public fun unbonding_epochs(pool: &StakingPool): u64 { pool.unbonding_epochs }

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) { init(ctx) }
