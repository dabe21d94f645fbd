/// One test per happy path and one `expected_failure` per abort path of every `k8s_gateway`
/// function. Enclaves are registered through `nautilus::register_for_testing`.
#[test_only]
module k3s_daas::k8s_gateway_tests;

use k3s_daas::k8s_gateway::{Self, SealToken};
use k3s_daas::nautilus::EnclaveConfig;
use k3s_daas::nautilus_tests;
use k3s_daas::staking::{Self, AdminCap, StakingPool, StakeRecord};
use std::string::String;
use sui::coin;
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xA;
const ALICE: address = @0xB;
const BOB: address = @0xC;

/// A 32-byte token hash.
fun hash(byte: u8): vector<u8> { nautilus_tests::bytes(byte, 32) }

/// Package with pinned PCRs and one basic-tier enclave.
fun setup(): Scenario {
    let mut s = nautilus_tests::setup();
    nautilus_tests::register(&mut s, 0);
    s
}

/// Stake for node `node`, or a user stake when `node` is empty.
fun stake(s: &mut Scenario, who: address, amount: u64, node: vector<u8>): ID {
    s.next_tx(who);
    let mut pool = s.take_shared<StakingPool>();
    let payment = coin::mint_for_testing<SUI>(amount, s.ctx());
    let id = if (node.is_empty()) staking::stake_for_user(&mut pool, payment, s.ctx())
    else staking::stake_for_node(&mut pool, payment, node.to_string(), s.ctx());
    ts::return_shared(pool);
    id
}

fun unstake(s: &mut Scenario, who: address, record_id: ID) {
    s.next_tx(who);
    let mut pool = s.take_shared<StakingPool>();
    let mut record = s.take_shared_by_id<StakeRecord>(record_id);
    staking::request_unstake(&mut pool, &mut record, s.ctx());
    ts::return_shared(record);
    ts::return_shared(pool);
}

/// Raise the pool minimum above what was staked: the only way an ACTIVE stake is below it.
fun raise_minimum(s: &mut Scenario, min: u64) {
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut pool = s.take_shared<StakingPool>();
    staking::set_thresholds(&cap, &mut pool, min, 1000, 10000);
    ts::return_shared(pool);
    s.return_to_sender(cap);
}

fun mint_worker(s: &mut Scenario, who: address, record_id: ID, token_hash: vector<u8>): ID {
    s.next_tx(who);
    let pool = s.take_shared<StakingPool>();
    let config = s.take_shared<EnclaveConfig>();
    let record = s.take_shared_by_id<StakeRecord>(record_id);
    let id = k8s_gateway::create_worker_seal_token(&pool, &config, &record, token_hash, s.ctx());
    ts::return_shared(record);
    ts::return_shared(config);
    ts::return_shared(pool);
    id
}

fun mint_user(
    s: &mut Scenario,
    who: address,
    record_id: ID,
    token_hash: vector<u8>,
    requested: vector<String>,
): ID {
    s.next_tx(who);
    let pool = s.take_shared<StakingPool>();
    let config = s.take_shared<EnclaveConfig>();
    let record = s.take_shared_by_id<StakeRecord>(record_id);
    let id = k8s_gateway::create_user_seal_token(
        &pool,
        &config,
        &record,
        token_hash,
        requested,
        s.ctx(),
    );
    ts::return_shared(record);
    ts::return_shared(config);
    ts::return_shared(pool);
    id
}

fun stake_and_mint(
    s: &mut Scenario,
    who: address,
    amount: u64,
    node: vector<u8>,
    token_hash: vector<u8>,
): ID {
    s.next_tx(who);
    let mut pool = s.take_shared<StakingPool>();
    let config = s.take_shared<EnclaveConfig>();
    let payment = coin::mint_for_testing<SUI>(amount, s.ctx());
    let token_id = k8s_gateway::stake_and_create_worker_seal_token(
        &mut pool,
        &config,
        payment,
        node.to_string(),
        token_hash,
        s.ctx(),
    );
    ts::return_shared(config);
    ts::return_shared(pool);
    token_id
}

fun rotate(
    s: &mut Scenario,
    who: address,
    owner: address,
    token_id: ID,
    record_id: ID,
    new_hash: vector<u8>,
) {
    s.next_tx(who);
    let mut token = s.take_from_address_by_id<SealToken>(owner, token_id);
    let pool = s.take_shared<StakingPool>();
    let record = s.take_shared_by_id<StakeRecord>(record_id);
    k8s_gateway::rotate_seal_token(&mut token, &pool, &record, new_hash, s.ctx());
    ts::return_shared(record);
    ts::return_shared(pool);
    ts::return_to_address(owner, token);
}

fun read_only(): vector<String> { vector[b"pods:read".to_string()] }

// === calculate_permissions / tier_for ===

#[test]
fun calculate_permissions_and_tier_follow_the_seed() {
    let mut s = setup();
    s.next_tx(ALICE);
    let pool = s.take_shared<StakingPool>();
    let mut expected = vector[b"pods:read".to_string(), b"services:read".to_string()];
    assert!(k8s_gateway::calculate_permissions(&pool, 99).is_empty());
    assert!(k8s_gateway::calculate_permissions(&pool, 100) == expected);
    assert!(k8s_gateway::calculate_permissions(&pool, 999) == expected);
    expected.push_back(b"nodes:write".to_string());
    expected.push_back(b"pods:write".to_string());
    assert!(k8s_gateway::calculate_permissions(&pool, 1000) == expected);
    expected.push_back(b"*:*".to_string());
    assert!(k8s_gateway::calculate_permissions(&pool, 10000) == expected);
    assert!(k8s_gateway::tier_for(&pool, 99) == 0);
    assert!(k8s_gateway::tier_for(&pool, 999) == 0);
    assert!(k8s_gateway::tier_for(&pool, 1000) == 1);
    assert!(k8s_gateway::tier_for(&pool, 9999) == 1);
    assert!(k8s_gateway::tier_for(&pool, 10000) == 2);
    ts::return_shared(pool);
    s.end();
}

// === create_worker_seal_token ===

#[test]
fun worker_token_carries_tier_permissions() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 1000, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(token.owner() == ALICE);
    assert!(token.node_id() == b"worker-1".to_string());
    assert!(token.stake_record() == record);
    assert!(token.stake_amount() == 1000);
    assert!(token.tier() == 1);
    assert!(token.permissions().length() == 4);
    assert!(token.token_hash() == hash(1));
    assert!(token.issued_at() == 0);
    assert!(token.expires_at() == 100);
    s.return_to_sender(token);
    s.end();
}

#[test]
fun premium_stake_gets_the_premium_enclave_and_standard_falls_back() {
    let mut s = setup();
    let basic = nautilus_tests::register(&mut s, 0);
    let premium = nautilus_tests::register(&mut s, 2);
    let rich = stake(&mut s, ALICE, 10000, b"worker-1");
    let rich_token = mint_worker(&mut s, ALICE, rich, hash(1));
    let mid = stake(&mut s, ALICE, 1000, b"worker-2");
    let mid_token = mint_worker(&mut s, ALICE, mid, hash(2));
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(rich_token);
    assert!(token.enclave() == premium);
    s.return_to_sender(token);
    let token = s.take_from_sender_by_id<SealToken>(mid_token);
    assert!(token.enclave() == basic);
    s.return_to_sender(token);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotStaker)]
fun mint_on_someone_elses_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    mint_worker(&mut s, BOB, record, hash(1));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotNodeStake)]
fun worker_token_on_user_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"");
    mint_worker(&mut s, ALICE, record, hash(1));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotActive)]
fun mint_on_slashed_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut pool = s.take_shared<StakingPool>();
    let mut rec = s.take_shared_by_id<StakeRecord>(record);
    staking::slash(&cap, &mut pool, &mut rec, 0, s.ctx());
    ts::return_shared(rec);
    ts::return_shared(pool);
    s.return_to_sender(cap);
    mint_worker(&mut s, ALICE, record, hash(1));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EInsufficientStake)]
fun worker_token_below_a_raised_minimum_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 150, b"worker-1");
    raise_minimum(&mut s, 200);
    mint_worker(&mut s, ALICE, record, hash(1));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EInvalidTokenHash)]
fun short_token_hash_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    mint_worker(&mut s, ALICE, record, vector[1, 2, 3]);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENoEnclave)]
fun mint_without_any_enclave_aborts() {
    let mut s = nautilus_tests::setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    mint_worker(&mut s, ALICE, record, hash(1));
    s.end();
}

// === create_user_seal_token ===

#[test]
fun user_token_is_requested_intersect_allowed() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 1000, b"");
    let token_id = mint_user(
        &mut s,
        BOB,
        record,
        hash(1),
        vector[
            b"*:*".to_string(),
            b"pods:write".to_string(),
            b"pods:read".to_string(),
            b"pods:write".to_string(),
        ],
    );
    s.next_tx(BOB);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(token.permissions() == vector[b"pods:write".to_string(), b"pods:read".to_string()]);
    assert!(token.node_id() == b"".to_string());
    assert!(token.tier() == 1);
    s.return_to_sender(token);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotStaker)]
fun user_token_on_someone_elses_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 100, b"");
    mint_user(&mut s, ALICE, record, hash(1), read_only());
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotUserStake)]
fun user_token_on_node_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    mint_user(&mut s, ALICE, record, hash(1), read_only());
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotActive)]
fun user_token_on_unbonding_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 100, b"");
    unstake(&mut s, BOB, record);
    mint_user(&mut s, BOB, record, hash(1), read_only());
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EInsufficientStake)]
fun user_token_below_a_raised_minimum_aborts() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 150, b"");
    raise_minimum(&mut s, 200);
    mint_user(&mut s, BOB, record, hash(1), read_only());
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EInvalidTokenHash)]
fun user_token_with_long_hash_aborts() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 100, b"");
    mint_user(&mut s, BOB, record, nautilus_tests::bytes(1, 33), read_only());
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENoPermissions)]
fun user_token_with_nothing_allowed_aborts() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 100, b"");
    mint_user(&mut s, BOB, record, hash(1), vector[b"*:*".to_string()]);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENoEnclave)]
fun user_token_without_any_enclave_aborts() {
    let mut s = nautilus_tests::setup();
    let record = stake(&mut s, BOB, 100, b"");
    mint_user(&mut s, BOB, record, hash(1), read_only());
    s.end();
}

// === stake_and_create_worker_seal_token ===

#[test]
fun one_call_stake_and_mint() {
    let mut s = setup();
    let token_id = stake_and_mint(&mut s, ALICE, 10000, b"worker-9", hash(1));
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    let wildcard = b"*:*".to_string();
    assert!(token.permissions().contains(&wildcard));
    assert!(token.tier() == 2);
    assert!(token.stake_amount() == 10000 && token.owner() == ALICE);
    assert!(token.node_id() == b"worker-9".to_string());
    let record_id = token.stake_record();
    s.return_to_sender(token);
    let pool = s.take_shared<StakingPool>();
    assert!(pool.node_stake(b"worker-9".to_string()) == option::some(record_id));
    ts::return_shared(pool);
    let record = s.take_shared_by_id<StakeRecord>(record_id);
    assert!(record.staker() == ALICE && record.balance_value() == 10000);
    ts::return_shared(record);
    s.end();
}

#[test, expected_failure(abort_code = staking::EInsufficientStake)]
fun stake_and_mint_below_minimum_aborts() {
    let mut s = setup();
    stake_and_mint(&mut s, ALICE, 99, b"worker-1", hash(1));
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidNodeId)]
fun stake_and_mint_with_bad_node_id_aborts() {
    let mut s = setup();
    stake_and_mint(&mut s, ALICE, 100, b"worker_1", hash(1));
    s.end();
}

#[test, expected_failure(abort_code = staking::ENodeAlreadyStaked)]
fun stake_and_mint_for_a_staked_node_aborts() {
    let mut s = setup();
    stake(&mut s, BOB, 100, b"worker-1");
    stake_and_mint(&mut s, ALICE, 100, b"worker-1", hash(1));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EInvalidTokenHash)]
fun stake_and_mint_with_short_hash_aborts() {
    let mut s = setup();
    stake_and_mint(&mut s, ALICE, 100, b"worker-1", vector[]);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENoEnclave)]
fun stake_and_mint_without_any_enclave_aborts() {
    let mut s = nautilus_tests::setup();
    stake_and_mint(&mut s, ALICE, 100, b"worker-1", hash(1));
    s.end();
}

// === rotate_seal_token ===

#[test]
fun rotate_renews_the_hash_and_the_lifetime() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    s.next_epoch(ADMIN);
    rotate(&mut s, ALICE, ALICE, token_id, record, hash(2));
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(token.token_hash() == hash(2));
    assert!(token.issued_at() == 1);
    assert!(token.expires_at() == 101);
    s.return_to_sender(token);
    s.end();
}

#[test]
fun rotate_recomputes_user_permissions_after_a_threshold_change() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 1000, b"");
    let token_id = mint_user(
        &mut s,
        BOB,
        record,
        hash(1),
        vector[b"pods:write".to_string(), b"pods:read".to_string()],
    );
    // standard now needs 5000: the stake of 1000 only allows the basic permissions
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut pool = s.take_shared<StakingPool>();
    staking::set_thresholds(&cap, &mut pool, 100, 5000, 10000);
    ts::return_shared(pool);
    s.return_to_sender(cap);
    rotate(&mut s, BOB, BOB, token_id, record, hash(2));
    s.next_tx(BOB);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(token.permissions() == read_only());
    assert!(token.tier() == 0);
    s.return_to_sender(token);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotTokenOwner)]
fun rotate_by_another_address_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    rotate(&mut s, BOB, ALICE, token_id, record, hash(2));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EWrongStakeRecord)]
fun rotate_with_another_record_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let other = stake(&mut s, ALICE, 100, b"worker-2");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    rotate(&mut s, ALICE, ALICE, token_id, other, hash(2));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotActive)]
fun rotate_after_unstake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    unstake(&mut s, ALICE, record);
    rotate(&mut s, ALICE, ALICE, token_id, record, hash(2));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotActive)]
fun rotate_after_a_partial_slash_and_the_remainder_withdrawn_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 1000, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut pool = s.take_shared<StakingPool>();
    let mut rec = s.take_shared_by_id<StakeRecord>(record);
    staking::slash(&cap, &mut pool, &mut rec, 400, s.ctx());
    ts::return_shared(rec);
    ts::return_shared(pool);
    s.return_to_sender(cap);
    s.next_tx(ALICE);
    let mut pool = s.take_shared<StakingPool>();
    let mut rec = s.take_shared_by_id<StakeRecord>(record);
    staking::withdraw(&mut pool, &mut rec, s.ctx());
    ts::return_shared(rec);
    ts::return_shared(pool);
    rotate(&mut s, ALICE, ALICE, token_id, record, hash(2));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EInvalidTokenHash)]
fun rotate_with_short_hash_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    rotate(&mut s, ALICE, ALICE, token_id, record, vector[7]);
    s.end();
}

// === revoke_seal_token ===

#[test]
fun owner_revokes_the_token() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    k8s_gateway::revoke_seal_token(token, s.ctx());
    let effects = s.next_tx(ALICE);
    assert!(effects.deleted().contains(&token_id));
    assert!(!ts::has_most_recent_for_address<SealToken>(ALICE));
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotTokenOwner)]
fun revoke_by_another_address_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash(1));
    s.next_tx(BOB);
    let token = s.take_from_address_by_id<SealToken>(ALICE, token_id);
    k8s_gateway::revoke_seal_token(token, s.ctx());
    s.end();
}
