/// One test per happy path and one `expected_failure` per abort path of every `staking` function.
#[test_only]
module k3s_daas::staking_tests;

use k3s_daas::staking::{Self, AdminCap, StakingPool, StakeRecord};
use sui::coin::{Self, Coin};
use sui::sui::SUI;
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xA;
const ALICE: address = @0xB;
const BOB: address = @0xC;

fun setup(): Scenario {
    let mut s = ts::begin(ADMIN);
    staking::init_for_testing(s.ctx());
    s
}

/// `n` times the letter `a`.
fun name_of_length(n: u64): vector<u8> {
    let mut v = vector[];
    let mut i = 0;
    while (i < n) {
        v.push_back(0x61);
        i = i + 1;
    };
    v
}

public fun stake_node(s: &mut Scenario, who: address, amount: u64, node: vector<u8>): ID {
    s.next_tx(who);
    let mut pool = s.take_shared<StakingPool>();
    let payment = coin::mint_for_testing<SUI>(amount, s.ctx());
    let id = staking::stake_for_node(&mut pool, payment, node.to_string(), s.ctx());
    ts::return_shared(pool);
    id
}

fun stake_user(s: &mut Scenario, who: address, amount: u64): ID {
    s.next_tx(who);
    let mut pool = s.take_shared<StakingPool>();
    let payment = coin::mint_for_testing<SUI>(amount, s.ctx());
    let id = staking::stake_for_user(&mut pool, payment, s.ctx());
    ts::return_shared(pool);
    id
}

fun unstake(s: &mut Scenario, who: address, id: ID) {
    s.next_tx(who);
    let mut pool = s.take_shared<StakingPool>();
    let mut record = s.take_shared_by_id<StakeRecord>(id);
    staking::request_unstake(&mut pool, &mut record, s.ctx());
    ts::return_shared(record);
    ts::return_shared(pool);
}

fun withdraw(s: &mut Scenario, who: address, id: ID) {
    s.next_tx(who);
    let mut pool = s.take_shared<StakingPool>();
    let mut record = s.take_shared_by_id<StakeRecord>(id);
    staking::withdraw(&mut pool, &mut record, s.ctx());
    ts::return_shared(record);
    ts::return_shared(pool);
}

fun slash(s: &mut Scenario, id: ID, amount: u64) {
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut pool = s.take_shared<StakingPool>();
    let mut record = s.take_shared_by_id<StakeRecord>(id);
    staking::slash(&cap, &mut pool, &mut record, amount, s.ctx());
    ts::return_shared(record);
    ts::return_shared(pool);
    s.return_to_sender(cap);
}

fun set_thresholds(s: &mut Scenario, min: u64, standard: u64, premium: u64) {
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut pool = s.take_shared<StakingPool>();
    staking::set_thresholds(&cap, &mut pool, min, standard, premium);
    ts::return_shared(pool);
    s.return_to_sender(cap);
}

// === init ===

#[test]
fun init_shares_the_pool_with_seed_values_and_gives_the_cap_to_the_publisher() {
    let mut s = setup();
    s.next_tx(ADMIN);
    let pool = s.take_shared<StakingPool>();
    assert!(pool.min_stake() == 100);
    assert!(pool.standard_threshold() == 1000);
    assert!(pool.premium_threshold() == 10000);
    assert!(pool.token_lifetime_epochs() == 100);
    assert!(pool.unbonding_epochs() == 2);
    assert!(pool.total_staked() == 0);
    ts::return_shared(pool);
    let cap = s.take_from_sender<AdminCap>();
    s.return_to_sender(cap);
    s.end();
}

// === stake_for_node ===

#[test]
fun stake_for_node_records_the_stake() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 1000, b"worker-1");
    s.next_tx(ALICE);
    let record = s.take_shared_by_id<StakeRecord>(id);
    let pool = s.take_shared<StakingPool>();
    assert!(record.staker() == ALICE);
    assert!(record.balance_value() == 1000);
    assert!(record.amount() == 1000);
    assert!(record.is_active() && record.is_node());
    assert!(record.node_id() == b"worker-1".to_string());
    assert!(pool.total_staked() == 1000);
    assert!(pool.node_stake(b"worker-1".to_string()) == option::some(id));
    ts::return_shared(record);
    ts::return_shared(pool);
    s.end();
}

#[test]
fun a_63_character_node_id_is_accepted() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 100, name_of_length(63));
    stake_node(&mut s, ALICE, 100, b"0");
    s.end();
}

#[test, expected_failure(abort_code = staking::EInsufficientStake)]
fun stake_for_node_below_minimum_aborts() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 99, b"worker-1");
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidNodeId)]
fun empty_node_id_aborts() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 100, b"");
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidNodeId)]
fun a_64_character_node_id_aborts() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 100, name_of_length(64));
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidNodeId)]
fun upper_case_node_id_aborts() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 100, b"Worker-1");
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidNodeId)]
fun node_id_starting_with_dash_aborts() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 100, b"-worker");
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidNodeId)]
fun node_id_ending_in_dash_aborts() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 100, b"worker-");
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidNodeId)]
fun node_id_with_a_dot_aborts() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 100, b"worker.1");
    s.end();
}

#[test, expected_failure(abort_code = staking::ENodeAlreadyStaked)]
fun second_stake_for_a_node_aborts() {
    let mut s = setup();
    stake_node(&mut s, ALICE, 100, b"worker-1");
    stake_node(&mut s, BOB, 100, b"worker-1");
    s.end();
}

// === stake_for_user ===

#[test]
fun stake_for_user_has_no_node() {
    let mut s = setup();
    let id = stake_user(&mut s, BOB, 100);
    s.next_tx(BOB);
    let record = s.take_shared_by_id<StakeRecord>(id);
    assert!(record.is_user());
    assert!(record.staker() == BOB);
    assert!(record.node_id() == b"".to_string());
    ts::return_shared(record);
    s.end();
}

#[test, expected_failure(abort_code = staking::EInsufficientStake)]
fun stake_for_user_below_minimum_aborts() {
    let mut s = setup();
    stake_user(&mut s, BOB, 99);
    s.end();
}

// === request_unstake ===

#[test]
fun request_unstake_starts_unbonding_and_frees_the_node() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 500, b"worker-1");
    s.next_epoch(ADMIN);
    unstake(&mut s, ALICE, id);
    s.next_tx(ALICE);
    let record = s.take_shared_by_id<StakeRecord>(id);
    let pool = s.take_shared<StakingPool>();
    assert!(record.status() == 1);
    assert!(record.unbonding_epoch() == 3);
    assert!(pool.node_stake(b"worker-1".to_string()).is_none());
    ts::return_shared(record);
    ts::return_shared(pool);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotStaker)]
fun unstake_by_someone_else_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    unstake(&mut s, BOB, id);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotActive)]
fun unstake_twice_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    unstake(&mut s, ALICE, id);
    unstake(&mut s, ALICE, id);
    s.end();
}

// === withdraw ===

#[test]
fun withdraw_after_unbonding_pays_the_staker() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 500, b"worker-1");
    unstake(&mut s, ALICE, id);
    s.next_epoch(ADMIN);
    s.next_epoch(ADMIN);
    withdraw(&mut s, ALICE, id);
    s.next_tx(ALICE);
    let payout = s.take_from_sender<Coin<SUI>>();
    assert!(payout.value() == 500);
    s.return_to_sender(payout);
    let pool = s.take_shared<StakingPool>();
    let record = s.take_shared_by_id<StakeRecord>(id);
    assert!(pool.total_staked() == 0);
    assert!(record.status() == 3);
    assert!(record.balance_value() == 0);
    ts::return_shared(record);
    ts::return_shared(pool);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotStaker)]
fun withdraw_by_someone_else_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    unstake(&mut s, ALICE, id);
    s.next_epoch(ADMIN);
    s.next_epoch(ADMIN);
    withdraw(&mut s, BOB, id);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotWithdrawing)]
fun withdraw_an_active_stake_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    withdraw(&mut s, ALICE, id);
    s.end();
}

#[test, expected_failure(abort_code = staking::EUnbondingNotOver)]
fun withdraw_during_unbonding_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    unstake(&mut s, ALICE, id);
    s.next_epoch(ADMIN);
    withdraw(&mut s, ALICE, id);
    s.end();
}

#[test]
fun the_remainder_of_a_partial_slash_is_withdrawn_at_once_and_the_stake_stays_slashed() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 1000, b"worker-1");
    slash(&mut s, id, 400);
    withdraw(&mut s, ALICE, id); // same epoch: no unbonding wait
    s.next_tx(ALICE);
    let payout = s.take_from_sender<Coin<SUI>>();
    assert!(payout.value() == 600);
    s.return_to_sender(payout);
    let pool = s.take_shared<StakingPool>();
    let record = s.take_shared_by_id<StakeRecord>(id);
    assert!(record.status() == 2); // still SLASHED: revoked for good
    assert!(!record.is_active());
    assert!(record.balance_value() == 0);
    assert!(record.amount() == 1000);
    assert!(pool.total_staked() == 0);
    assert!(pool.slashed_value() == 400);
    assert!(pool.node_stake(b"worker-1".to_string()).is_none());
    ts::return_shared(record);
    ts::return_shared(pool);
    s.end();
}

#[test]
fun a_stake_slashed_while_unbonding_pays_the_rest_before_the_unbonding_ends() {
    let mut s = setup();
    let id = stake_user(&mut s, ALICE, 1000);
    unstake(&mut s, ALICE, id);
    slash(&mut s, id, 300);
    withdraw(&mut s, ALICE, id);
    s.next_tx(ALICE);
    let payout = s.take_from_sender<Coin<SUI>>();
    assert!(payout.value() == 700);
    s.return_to_sender(payout);
    let pool = s.take_shared<StakingPool>();
    assert!(pool.total_staked() == 0);
    ts::return_shared(pool);
    s.end();
}

#[test]
fun withdrawing_a_slashed_remainder_leaves_the_next_stake_of_the_node_alone() {
    let mut s = setup();
    let first = stake_node(&mut s, ALICE, 1000, b"worker-1");
    slash(&mut s, first, 100);
    let second = stake_node(&mut s, BOB, 500, b"worker-1");
    withdraw(&mut s, ALICE, first);
    s.next_tx(BOB);
    let pool = s.take_shared<StakingPool>();
    assert!(pool.node_stake(b"worker-1".to_string()) == option::some(second));
    assert!(pool.total_staked() == 500);
    ts::return_shared(pool);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotStaker)]
fun withdraw_a_slashed_remainder_by_someone_else_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 1000, b"worker-1");
    slash(&mut s, id, 400);
    withdraw(&mut s, BOB, id);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENothingToWithdraw)]
fun withdraw_a_slashed_remainder_twice_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 1000, b"worker-1");
    slash(&mut s, id, 400);
    withdraw(&mut s, ALICE, id);
    withdraw(&mut s, ALICE, id);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENothingToWithdraw)]
fun withdraw_a_fully_slashed_stake_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 1000, b"worker-1");
    unstake(&mut s, ALICE, id);
    slash(&mut s, id, 0);
    s.next_epoch(ADMIN);
    s.next_epoch(ADMIN);
    withdraw(&mut s, ALICE, id);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotWithdrawing)]
fun withdraw_twice_after_unbonding_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    unstake(&mut s, ALICE, id);
    s.next_epoch(ADMIN);
    s.next_epoch(ADMIN);
    withdraw(&mut s, ALICE, id);
    withdraw(&mut s, ALICE, id);
    s.end();
}

// === slash ===

#[test]
fun partial_slash_keeps_the_rest_and_frees_the_node() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 1000, b"worker-1");
    slash(&mut s, id, 400);
    s.next_tx(ADMIN);
    let record = s.take_shared_by_id<StakeRecord>(id);
    let pool = s.take_shared<StakingPool>();
    assert!(record.status() == 2);
    assert!(record.balance_value() == 600);
    assert!(record.amount() == 1000);
    assert!(pool.slashed_value() == 400);
    assert!(pool.total_staked() == 600);
    assert!(pool.node_stake(b"worker-1".to_string()).is_none());
    ts::return_shared(record);
    ts::return_shared(pool);
    // the node id is free again
    stake_node(&mut s, BOB, 100, b"worker-1");
    s.end();
}

#[test]
fun slash_zero_takes_everything_even_while_withdrawing() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 1000, b"worker-1");
    unstake(&mut s, ALICE, id);
    slash(&mut s, id, 0);
    s.next_tx(ADMIN);
    let record = s.take_shared_by_id<StakeRecord>(id);
    let pool = s.take_shared<StakingPool>();
    assert!(record.status() == 2);
    assert!(record.balance_value() == 0);
    assert!(pool.slashed_value() == 1000);
    ts::return_shared(record);
    ts::return_shared(pool);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotActive)]
fun slash_twice_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    slash(&mut s, id, 0);
    slash(&mut s, id, 0);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotActive)]
fun slash_a_withdrawn_stake_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    unstake(&mut s, ALICE, id);
    s.next_epoch(ADMIN);
    s.next_epoch(ADMIN);
    withdraw(&mut s, ALICE, id);
    slash(&mut s, id, 0);
    s.end();
}

#[test, expected_failure(abort_code = staking::ENotActive)]
fun slash_after_the_remainder_was_withdrawn_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 1000, b"worker-1");
    slash(&mut s, id, 400);
    withdraw(&mut s, ALICE, id);
    slash(&mut s, id, 0);
    s.end();
}

#[test, expected_failure(abort_code = staking::ESlashTooLarge)]
fun slash_more_than_the_balance_aborts() {
    let mut s = setup();
    let id = stake_node(&mut s, ALICE, 100, b"worker-1");
    slash(&mut s, id, 101);
    s.end();
}

// === set_thresholds ===

#[test]
fun thresholds_can_be_changed() {
    let mut s = setup();
    set_thresholds(&mut s, 10, 20, 30);
    s.next_tx(ADMIN);
    let pool = s.take_shared<StakingPool>();
    assert!(pool.min_stake() == 10);
    assert!(pool.standard_threshold() == 20);
    assert!(pool.premium_threshold() == 30);
    ts::return_shared(pool);
    // equal thresholds are allowed
    set_thresholds(&mut s, 5, 5, 5);
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidThresholds)]
fun thresholds_out_of_order_abort() {
    let mut s = setup();
    set_thresholds(&mut s, 100, 50, 1000);
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidThresholds)]
fun premium_below_standard_aborts() {
    let mut s = setup();
    set_thresholds(&mut s, 100, 1000, 999);
    s.end();
}

#[test, expected_failure(abort_code = staking::EInvalidThresholds)]
fun zero_minimum_aborts() {
    let mut s = setup();
    set_thresholds(&mut s, 0, 10, 20);
    s.end();
}
