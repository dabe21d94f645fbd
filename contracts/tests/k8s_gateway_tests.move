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

fun hash(): vector<u8> {
    let mut v = vector[];
    let mut i = 0;
    while (i < 32) {
        v.push_back(i as u8);
        i = i + 1;
    };
    v
}

fun setup(): Scenario {
    let mut s = nautilus_tests::setup();
    nautilus_tests::register(&mut s, 0);
    s
}

fun stake(s: &mut Scenario, who: address, amount: u64, node: vector<u8>): ID {
    s.next_tx(who);
    let mut pool = s.take_shared<StakingPool>();
    let payment = coin::mint_for_testing<SUI>(amount, s.ctx());
    let id = if (node.is_empty()) staking::stake_for_user(&mut pool, payment, s.ctx())
    else staking::stake_for_node(&mut pool, payment, node.to_string(), s.ctx());
    ts::return_shared(pool);
    id
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

fun mint_user(s: &mut Scenario, who: address, record_id: ID, requested: vector<String>): ID {
    s.next_tx(who);
    let pool = s.take_shared<StakingPool>();
    let config = s.take_shared<EnclaveConfig>();
    let record = s.take_shared_by_id<StakeRecord>(record_id);
    let id = k8s_gateway::create_user_seal_token(&pool, &config, &record, hash(), requested, s.ctx());
    ts::return_shared(record);
    ts::return_shared(config);
    ts::return_shared(pool);
    id
}

fun rotate(s: &mut Scenario, who: address, owner: address, token_id: ID, record_id: ID) {
    s.next_tx(who);
    let mut token = s.take_from_address_by_id<SealToken>(owner, token_id);
    let pool = s.take_shared<StakingPool>();
    let record = s.take_shared_by_id<StakeRecord>(record_id);
    k8s_gateway::rotate_seal_token(&mut token, &pool, &record, hash(), s.ctx());
    ts::return_shared(record);
    ts::return_shared(pool);
    ts::return_to_address(owner, token);
}

#[test]
fun worker_token_carries_tier_permissions() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 1000, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash());
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(token.owner() == ALICE);
    assert!(token.tier() == 1);
    assert!(token.permissions().length() == 4);
    assert!(token.token_hash() == hash());
    assert!(token.expires_at() == 100);
    s.return_to_sender(token);
    s.end();
}

#[test]
fun one_call_stake_and_mint() {
    let mut s = setup();
    s.next_tx(ALICE);
    let mut pool = s.take_shared<StakingPool>();
    let config = s.take_shared<EnclaveConfig>();
    let payment = coin::mint_for_testing<SUI>(10000, s.ctx());
    let token_id = k8s_gateway::stake_and_create_worker_seal_token(
        &mut pool,
        &config,
        payment,
        b"worker-9".to_string(),
        hash(),
        s.ctx(),
    );
    ts::return_shared(config);
    ts::return_shared(pool);
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(token.permissions().contains(&b"*:*".to_string()));
    s.return_to_sender(token);
    s.end();
}

#[test]
fun user_token_is_requested_intersect_allowed() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 1000, b"");
    let token_id = mint_user(
        &mut s,
        BOB,
        record,
        vector[b"*:*".to_string(), b"pods:write".to_string(), b"pods:read".to_string()],
    );
    s.next_tx(BOB);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(token.permissions() == vector[b"pods:write".to_string(), b"pods:read".to_string()]);
    s.return_to_sender(token);
    s.end();
}

#[test]
fun rotate_then_revoke() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash());
    s.next_epoch(ADMIN);
    rotate(&mut s, ALICE, ALICE, token_id, record);
    s.next_tx(ALICE);
    let token = s.take_from_sender_by_id<SealToken>(token_id);
    assert!(token.expires_at() == 101);
    k8s_gateway::revoke_seal_token(token, s.ctx());
    s.end();
}

#[test]
fun calculate_permissions_follows_the_seed() {
    let mut s = setup();
    s.next_tx(ALICE);
    let pool = s.take_shared<StakingPool>();
    assert!(k8s_gateway::calculate_permissions(&pool, 99).is_empty());
    assert!(k8s_gateway::calculate_permissions(&pool, 100).length() == 2);
    assert!(k8s_gateway::calculate_permissions(&pool, 1000).length() == 4);
    assert!(k8s_gateway::calculate_permissions(&pool, 10000).length() == 5);
    assert!(k8s_gateway::tier_for(&pool, 10000) == 2);
    ts::return_shared(pool);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotStaker)]
fun mint_on_someone_elses_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    mint_worker(&mut s, BOB, record, hash());
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
    mint_worker(&mut s, ALICE, record, hash());
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EInsufficientStake)]
fun mint_after_partial_slash_below_minimum_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 150, b"worker-1");
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut pool = s.take_shared<StakingPool>();
    staking::set_thresholds(&cap, &mut pool, 200, 1000, 10000);
    ts::return_shared(pool);
    s.return_to_sender(cap);
    mint_worker(&mut s, ALICE, record, hash());
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotNodeStake)]
fun worker_token_on_user_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"");
    mint_worker(&mut s, ALICE, record, hash());
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotUserStake)]
fun user_token_on_node_stake_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    mint_user(&mut s, ALICE, record, vector[b"pods:read".to_string()]);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EInvalidTokenHash)]
fun short_token_hash_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    mint_worker(&mut s, ALICE, record, vector[1, 2, 3]);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENoPermissions)]
fun user_token_with_nothing_allowed_aborts() {
    let mut s = setup();
    let record = stake(&mut s, BOB, 100, b"");
    mint_user(&mut s, BOB, record, vector[b"*:*".to_string()]);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENotTokenOwner)]
fun rotate_by_another_address_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let token_id = mint_worker(&mut s, ALICE, record, hash());
    rotate(&mut s, BOB, ALICE, token_id, record);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::EWrongStakeRecord)]
fun rotate_with_another_record_aborts() {
    let mut s = setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    let other = stake(&mut s, ALICE, 100, b"worker-2");
    let token_id = mint_worker(&mut s, ALICE, record, hash());
    rotate(&mut s, ALICE, ALICE, token_id, other);
    s.end();
}

#[test, expected_failure(abort_code = k8s_gateway::ENoEnclave)]
fun mint_without_any_enclave_aborts() {
    let mut s = nautilus_tests::setup();
    let record = stake(&mut s, ALICE, 100, b"worker-1");
    mint_worker(&mut s, ALICE, record, hash());
    s.end();
}
