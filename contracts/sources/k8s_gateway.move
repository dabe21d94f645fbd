/// Seal tokens: the on-chain half of a kubectl / kubelet credential. Only SHA-256 of the
/// holder's 32-byte secret is stored, so a token cannot be lifted off the public chain.
module k3s_daas::k8s_gateway;

use k3s_daas::nautilus::EnclaveConfig;
use k3s_daas::staking::{StakingPool, StakeRecord};
use std::string::String;
use sui::coin::Coin;
use sui::event;
use sui::sui::SUI;

const STAKE_TYPE_NODE: u8 = 0;
const TIER_BASIC: u8 = 0;
const TIER_STANDARD: u8 = 1;
const TIER_PREMIUM: u8 = 2;
const TOKEN_HASH_LENGTH: u64 = 32;

const EInsufficientStake: u64 = 1;
const ENotStaker: u64 = 2;
const ENotActive: u64 = 3;
const ENotNodeStake: u64 = 101;
const ENotUserStake: u64 = 102;
const EInvalidTokenHash: u64 = 103;
const ENoPermissions: u64 = 104;
const ENotTokenOwner: u64 = 105;
const EWrongStakeRecord: u64 = 106;
const ENoEnclave: u64 = 107;

/// Owned by the staker; no `store`, so it cannot be transferred away (only this module can
/// transfer it, which is why `mint` sends it to the sender instead of returning it).
public struct SealToken has key {
    id: UID,
    token_hash: vector<u8>,
    owner: address,
    node_id: String,
    stake_record: ID,
    stake_amount: u64,
    stake_type: u8,
    permissions: vector<String>,
    tier: u8,
    issued_at: u64,
    expires_at: u64,
    enclave: ID,
}

public struct SealTokenCreated has copy, drop {
    token_id: ID,
    stake_id: ID,
    owner: address,
    node_id: String,
    permissions: vector<String>,
    tier: u8,
    expires_at: u64,
    enclave: ID,
}

public struct SealTokenRotated has copy, drop {
    token_id: ID,
    owner: address,
    expires_at: u64,
}

public struct SealTokenRevoked has copy, drop {
    token_id: ID,
    owner: address,
}

/// The seed's tiers: ≥ min `pods:read`,`services:read`; ≥ standard adds `nodes:write`,
/// `pods:write`; ≥ premium adds `*:*`.
public fun calculate_permissions(pool: &StakingPool, amount: u64): vector<String> {
    let mut perms = vector[];
    if (amount >= pool.min_stake()) {
        perms.push_back(b"pods:read".to_string());
        perms.push_back(b"services:read".to_string());
    };
    if (amount >= pool.standard_threshold()) {
        perms.push_back(b"nodes:write".to_string());
        perms.push_back(b"pods:write".to_string());
    };
    if (amount >= pool.premium_threshold()) {
        perms.push_back(b"*:*".to_string());
    };
    perms
}

/// Tier of the TEE a token is served by: ≥ premium 2, ≥ standard 1, else 0.
public fun tier_for(pool: &StakingPool, amount: u64): u8 {
    if (amount >= pool.premium_threshold()) TIER_PREMIUM
    else if (amount >= pool.standard_threshold()) TIER_STANDARD
    else TIER_BASIC
}

/// Mint a kubelet token on the caller's own node stake; permissions follow the balance.
public fun create_worker_seal_token(
    pool: &StakingPool,
    config: &EnclaveConfig,
    record: &StakeRecord,
    token_hash: vector<u8>,
    ctx: &mut TxContext,
): ID {
    check_record(pool, record, ctx);
    assert!(record.is_node(), ENotNodeStake);
    let permissions = calculate_permissions(pool, record.balance_value());
    mint_on(pool, config, record, token_hash, permissions, ctx)
}

/// Mint a kubectl token on the caller's own user stake: `requested` ∩ what the stake allows.
public fun create_user_seal_token(
    pool: &StakingPool,
    config: &EnclaveConfig,
    record: &StakeRecord,
    token_hash: vector<u8>,
    requested: vector<String>,
    ctx: &mut TxContext,
): ID {
    check_record(pool, record, ctx);
    assert!(record.is_user(), ENotUserStake);
    let allowed = calculate_permissions(pool, record.balance_value());
    let permissions = intersect(&requested, &allowed);
    assert!(!permissions.is_empty(), ENoPermissions);
    mint_on(pool, config, record, token_hash, permissions, ctx)
}

/// Stake and mint in one call (one PTB command, one round trip for the worker). The new stake
/// is shared inside `staking`, so the token is minted from the values just staked: the sender's
/// own, active node stake of `amount` ≥ min_stake (what `check_record` asserts on a record).
public fun stake_and_create_worker_seal_token(
    pool: &mut StakingPool,
    config: &EnclaveConfig,
    payment: Coin<SUI>,
    node_id: String,
    token_hash: vector<u8>,
    ctx: &mut TxContext,
): ID {
    let amount = payment.value();
    let stake_id = k3s_daas::staking::new_node_stake(pool, payment, node_id, ctx);
    let permissions = calculate_permissions(pool, amount);
    mint(pool, config, stake_id, node_id, STAKE_TYPE_NODE, amount, token_hash, permissions, ctx)
}

/// New secret and a fresh lifetime; the old secret stops working in the same transaction.
public fun rotate_seal_token(
    token: &mut SealToken,
    pool: &StakingPool,
    record: &StakeRecord,
    new_hash: vector<u8>,
    ctx: &TxContext,
) {
    assert!(ctx.sender() == token.owner, ENotTokenOwner);
    assert!(token.stake_record == object::id(record), EWrongStakeRecord);
    assert!(record.is_active(), ENotActive);
    assert!(new_hash.length() == TOKEN_HASH_LENGTH, EInvalidTokenHash);
    let allowed = calculate_permissions(pool, record.balance_value());
    token.permissions = if (record.is_node()) allowed else intersect(&token.permissions, &allowed);
    token.token_hash = new_hash;
    token.stake_amount = record.balance_value();
    token.tier = tier_for(pool, record.balance_value());
    token.issued_at = ctx.epoch();
    token.expires_at = ctx.epoch() + pool.token_lifetime_epochs();
    event::emit(SealTokenRotated {
        token_id: object::id(token),
        owner: token.owner,
        expires_at: token.expires_at,
    });
}

/// The owner gives up the token; the object is deleted.
public fun revoke_seal_token(token: SealToken, ctx: &TxContext) {
    assert!(ctx.sender() == token.owner, ENotTokenOwner);
    let token_id = object::id(&token);
    let SealToken { id, owner, .. } = token;
    event::emit(SealTokenRevoked { token_id, owner });
    id.delete();
}

fun check_record(pool: &StakingPool, record: &StakeRecord, ctx: &TxContext) {
    assert!(ctx.sender() == record.staker(), ENotStaker);
    assert!(record.is_active(), ENotActive);
    assert!(record.balance_value() >= pool.min_stake(), EInsufficientStake);
}

/// The token of an existing stake record (checked by the caller).
fun mint_on(
    pool: &StakingPool,
    config: &EnclaveConfig,
    record: &StakeRecord,
    token_hash: vector<u8>,
    permissions: vector<String>,
    ctx: &mut TxContext,
): ID {
    let (id, node_id, kind) = (object::id(record), record.node_id(), record.stake_type());
    mint(pool, config, id, node_id, kind, record.balance_value(), token_hash, permissions, ctx)
}

/// The token of a stake (`stake_amount` = its balance now); owned by the sender, who staked.
fun mint(
    pool: &StakingPool,
    config: &EnclaveConfig,
    stake_record: ID,
    node_id: String,
    stake_type: u8,
    stake_amount: u64,
    token_hash: vector<u8>,
    permissions: vector<String>,
    ctx: &mut TxContext,
): ID {
    assert!(token_hash.length() == TOKEN_HASH_LENGTH, EInvalidTokenHash);
    let tier = tier_for(pool, stake_amount);
    let enclave = config.pick_enclave(tier);
    assert!(enclave.is_some(), ENoEnclave);
    let token = SealToken {
        id: object::new(ctx),
        token_hash,
        owner: ctx.sender(),
        node_id,
        stake_record,
        stake_amount,
        stake_type,
        permissions,
        tier,
        issued_at: ctx.epoch(),
        expires_at: ctx.epoch() + pool.token_lifetime_epochs(),
        enclave: enclave.destroy_some(),
    };
    let token_id = object::id(&token);
    event::emit(SealTokenCreated {
        token_id,
        stake_id: token.stake_record,
        owner: token.owner,
        node_id: token.node_id,
        permissions: token.permissions,
        tier,
        expires_at: token.expires_at,
        enclave: token.enclave,
    });
    transfer::transfer(token, ctx.sender());
    token_id
}

/// `requested` ∩ `allowed`, in request order, without duplicates.
fun intersect(requested: &vector<String>, allowed: &vector<String>): vector<String> {
    let mut out = vector[];
    let mut i = 0;
    while (i < requested.length()) {
        let perm = requested[i];
        if (allowed.contains(&perm) && !out.contains(&perm)) out.push_back(perm);
        i = i + 1;
    };
    out
}

// === Accessors ===

public fun token_hash(token: &SealToken): vector<u8> { token.token_hash }

public fun owner(token: &SealToken): address { token.owner }

public fun permissions(token: &SealToken): vector<String> { token.permissions }

public fun expires_at(token: &SealToken): u64 { token.expires_at }

public fun enclave(token: &SealToken): ID { token.enclave }

public fun tier(token: &SealToken): u8 { token.tier }

public fun node_id(token: &SealToken): String { token.node_id }

public fun stake_record(token: &SealToken): ID { token.stake_record }

public fun stake_amount(token: &SealToken): u64 { token.stake_amount }

public fun issued_at(token: &SealToken): u64 { token.issued_at }
