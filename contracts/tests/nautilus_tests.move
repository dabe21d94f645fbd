#[test_only]
module k3s_daas::nautilus_tests;

use k3s_daas::nautilus::{Self, Enclave, EnclaveConfig};
use k3s_daas::staking::{Self, AdminCap};
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xA;
const OPERATOR: address = @0xD;
const OTHER: address = @0xE;

public fun pcr(byte: u8): vector<u8> {
    let mut v = vector[];
    let mut i = 0;
    while (i < 48) {
        v.push_back(byte);
        i = i + 1;
    };
    v
}

public fun key32(): vector<u8> {
    let mut v = vector[];
    let mut i = 0;
    while (i < 32) {
        v.push_back(7);
        i = i + 1;
    };
    v
}

/// Package set-up with PCRs 0x01.., 0x02.., 0x03.. as the expected measurements.
public fun setup(): Scenario {
    let mut s = ts::begin(ADMIN);
    staking::init_for_testing(s.ctx());
    nautilus::init_for_testing(s.ctx());
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut config = s.take_shared<EnclaveConfig>();
    nautilus::update_pcrs(&cap, &mut config, pcr(1), pcr(2), pcr(3));
    ts::return_shared(config);
    s.return_to_sender(cap);
    s
}

public fun register(s: &mut Scenario, tier: u8): ID {
    register_with(s, pcr(1), option::some(key32()), b"https://127.0.0.1:8443", tier)
}

fun register_with(
    s: &mut Scenario,
    pcr0: vector<u8>,
    key: Option<vector<u8>>,
    endpoint: vector<u8>,
    tier: u8,
): ID {
    s.next_tx(OPERATOR);
    let mut config = s.take_shared<EnclaveConfig>();
    let id = nautilus::register_for_testing(
        &mut config,
        pcr0,
        pcr(2),
        pcr(3),
        key,
        endpoint.to_string(),
        tier,
        s.ctx(),
    );
    ts::return_shared(config);
    id
}

#[test]
fun register_and_pick_by_tier() {
    let mut s = setup();
    let basic = register(&mut s, 0);
    let premium = register(&mut s, 2);
    s.next_tx(OPERATOR);
    let config = s.take_shared<EnclaveConfig>();
    assert!(config.pick_enclave(0) == option::some(basic));
    assert!(config.pick_enclave(1) == option::some(basic)); // standard falls back to basic
    assert!(config.pick_enclave(2) == option::some(premium));
    ts::return_shared(config);
    let enclave = s.take_shared_by_id<Enclave>(premium);
    assert!(enclave.public_key() == key32());
    assert!(enclave.tier() == 2);
    ts::return_shared(enclave);
    s.end();
}

#[test]
fun operator_updates_its_key() {
    let mut s = setup();
    let id = register(&mut s, 0);
    s.next_tx(OPERATOR);
    let config = s.take_shared<EnclaveConfig>();
    let mut enclave = s.take_shared_by_id<Enclave>(id);
    let mut new_key = key32();
    *&mut new_key[0] = 9;
    nautilus::update_for_testing(&mut enclave, &config, option::some(new_key), b"https://m:1".to_string(), s.ctx());
    assert!(enclave.public_key() == new_key);
    ts::return_shared(enclave);
    ts::return_shared(config);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EPcrMismatch)]
fun wrong_pcr_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(9), option::some(key32()), b"https://m", 0);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidTier)]
fun unknown_tier_aborts() {
    let mut s = setup();
    register(&mut s, 3);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidPublicKey)]
fun short_key_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(1), option::some(vector[1, 2, 3]), b"https://m", 0);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidAttestation)]
fun document_without_key_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(1), option::none(), b"https://m", 0);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidEndpoint)]
fun empty_endpoint_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(1), option::some(key32()), b"", 0);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::ENotOperator)]
fun update_by_another_address_aborts() {
    let mut s = setup();
    let id = register(&mut s, 0);
    s.next_tx(OTHER);
    let config = s.take_shared<EnclaveConfig>();
    let mut enclave = s.take_shared_by_id<Enclave>(id);
    nautilus::update_for_testing(&mut enclave, &config, option::some(key32()), b"https://x".to_string(), s.ctx());
    ts::return_shared(enclave);
    ts::return_shared(config);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidPcrLength)]
fun short_pcr_update_aborts() {
    let mut s = setup();
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut config = s.take_shared<EnclaveConfig>();
    nautilus::update_pcrs(&cap, &mut config, vector[1], pcr(2), pcr(3));
    ts::return_shared(config);
    s.return_to_sender(cap);
    s.end();
}
