/// Enclave registry tests. A `NitroAttestationDocument` can only come out of
/// `sui::nitro_attestation::load_nitro_attestation` (an AWS-signed document), so registration and
/// update go through `register_for_testing` / `update_for_testing`, which run the same checks on
/// the fields a verified document carries (PCR0-2, public key, timestamp).
#[test_only]
module k3s_daas::nautilus_tests;

use k3s_daas::nautilus::{Self, Enclave, EnclaveConfig};
use k3s_daas::staking::{Self, AdminCap};
use sui::test_scenario::{Self as ts, Scenario};

const ADMIN: address = @0xA;
const OPERATOR: address = @0xD;
const OTHER: address = @0xE;

/// `n` copies of `byte`.
public fun bytes(byte: u8, n: u64): vector<u8> {
    let mut v = vector[];
    let mut i = 0;
    while (i < n) {
        v.push_back(byte);
        i = i + 1;
    };
    v
}

/// A 48-byte PCR value.
public fun pcr(byte: u8): vector<u8> { bytes(byte, 48) }

/// A 32-byte Ed25519 public key.
public fun enclave_key(byte: u8): vector<u8> { bytes(byte, 32) }

/// Package set-up before the admin pinned any PCRs.
fun publish(): Scenario {
    let mut s = ts::begin(ADMIN);
    staking::init_for_testing(s.ctx());
    nautilus::init_for_testing(s.ctx());
    s
}

fun update_pcrs(s: &mut Scenario, pcr0: vector<u8>, pcr1: vector<u8>, pcr2: vector<u8>) {
    s.next_tx(ADMIN);
    let cap = s.take_from_sender<AdminCap>();
    let mut config = s.take_shared<EnclaveConfig>();
    nautilus::update_pcrs(&cap, &mut config, pcr0, pcr1, pcr2);
    ts::return_shared(config);
    s.return_to_sender(cap);
}

/// Package set-up with PCRs 0x01.., 0x02.., 0x03.. as the expected measurements.
public fun setup(): Scenario {
    let mut s = publish();
    update_pcrs(&mut s, pcr(1), pcr(2), pcr(3));
    s
}

/// Register an enclave of `tier` with the expected PCRs (as OPERATOR).
public fun register(s: &mut Scenario, tier: u8): ID {
    register_with(s, pcr(1), option::some(enclave_key(7)), b"https://127.0.0.1:8443", tier)
}

fun register_with(
    s: &mut Scenario,
    pcr0: vector<u8>,
    public_key: Option<vector<u8>>,
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
        public_key,
        endpoint.to_string(),
        tier,
        s.ctx(),
    );
    ts::return_shared(config);
    id
}

fun update_with(
    s: &mut Scenario,
    who: address,
    id: ID,
    pcr2: vector<u8>,
    public_key: Option<vector<u8>>,
    endpoint: vector<u8>,
) {
    s.next_tx(who);
    let config = s.take_shared<EnclaveConfig>();
    let mut enclave = s.take_shared_by_id<Enclave>(id);
    nautilus::update_for_testing(
        &mut enclave,
        &config,
        pcr(1),
        pcr(2),
        pcr2,
        public_key,
        endpoint.to_string(),
        s.ctx(),
    );
    ts::return_shared(enclave);
    ts::return_shared(config);
}

// === init / update_pcrs ===

#[test]
fun config_starts_empty_and_update_pcrs_bumps_the_version() {
    let mut s = publish();
    s.next_tx(ADMIN);
    let config = s.take_shared<EnclaveConfig>();
    let (p0, p1, p2) = config.expected_pcrs();
    assert!(p0.is_empty() && p1.is_empty() && p2.is_empty());
    assert!(config.version() == 0);
    assert!(config.pick_enclave(2).is_none());
    ts::return_shared(config);
    update_pcrs(&mut s, pcr(1), pcr(2), pcr(3));
    update_pcrs(&mut s, pcr(4), pcr(5), pcr(6));
    s.next_tx(ADMIN);
    let config = s.take_shared<EnclaveConfig>();
    let (p0, _, p2) = config.expected_pcrs();
    assert!(p0 == pcr(4) && p2 == pcr(6));
    assert!(config.version() == 2);
    ts::return_shared(config);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidPcrLength)]
fun short_pcr_update_aborts() {
    let mut s = publish();
    update_pcrs(&mut s, vector[1], pcr(2), pcr(3));
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidPcrLength)]
fun long_pcr_update_aborts() {
    let mut s = publish();
    update_pcrs(&mut s, pcr(1), pcr(2), bytes(3, 49));
    s.end();
}

// === register_enclave ===

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
    assert!(enclave.public_key() == enclave_key(7));
    assert!(enclave.tier() == 2);
    assert!(enclave.operator() == OPERATOR);
    assert!(enclave.config_version() == 1);
    assert!(enclave.endpoint() == b"https://127.0.0.1:8443".to_string());
    ts::return_shared(enclave);
    s.end();
}

#[test]
fun the_newest_enclave_of_a_tier_is_picked() {
    let mut s = setup();
    register(&mut s, 1);
    let newer = register(&mut s, 1);
    s.next_tx(OPERATOR);
    let config = s.take_shared<EnclaveConfig>();
    assert!(config.pick_enclave(2) == option::some(newer));
    assert!(config.pick_enclave(0).is_none()); // never upwards
    ts::return_shared(config);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidAttestation)]
fun document_without_key_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(1), option::none(), b"https://m", 0);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EPcrMismatch)]
fun wrong_pcr_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(9), option::some(enclave_key(7)), b"https://m", 0);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EPcrMismatch)]
fun nothing_registers_before_the_pcrs_are_pinned() {
    let mut s = publish();
    s.next_tx(OPERATOR);
    let mut config = s.take_shared<EnclaveConfig>();
    nautilus::register_for_testing(
        &mut config,
        vector[],
        vector[],
        vector[],
        option::some(enclave_key(7)),
        b"https://m".to_string(),
        0,
        s.ctx(),
    );
    ts::return_shared(config);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidPublicKey)]
fun short_key_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(1), option::some(vector[1, 2, 3]), b"https://m", 0);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidTier)]
fun unknown_tier_aborts() {
    let mut s = setup();
    register(&mut s, 3);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidEndpoint)]
fun empty_endpoint_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(1), option::some(enclave_key(7)), b"", 0);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidEndpoint)]
fun endpoint_longer_than_256_aborts() {
    let mut s = setup();
    register_with(&mut s, pcr(1), option::some(enclave_key(7)), bytes(0x61, 257), 0);
    s.end();
}

// === update_enclave ===

#[test]
fun operator_updates_its_key_and_endpoint() {
    let mut s = setup();
    let id = register(&mut s, 0);
    update_with(&mut s, OPERATOR, id, pcr(3), option::some(enclave_key(9)), b"https://m:1");
    s.next_tx(OPERATOR);
    let enclave = s.take_shared_by_id<Enclave>(id);
    assert!(enclave.public_key() == enclave_key(9));
    assert!(enclave.endpoint() == b"https://m:1".to_string());
    ts::return_shared(enclave);
    s.end();
}

#[test, expected_failure(abort_code = nautilus::ENotOperator)]
fun update_by_another_address_aborts() {
    let mut s = setup();
    let id = register(&mut s, 0);
    update_with(&mut s, OTHER, id, pcr(3), option::some(enclave_key(9)), b"https://x");
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidAttestation)]
fun update_without_key_aborts() {
    let mut s = setup();
    let id = register(&mut s, 0);
    update_with(&mut s, OPERATOR, id, pcr(3), option::none(), b"https://x");
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EPcrMismatch)]
fun update_with_wrong_pcr_aborts() {
    let mut s = setup();
    let id = register(&mut s, 0);
    update_with(&mut s, OPERATOR, id, pcr(8), option::some(enclave_key(9)), b"https://x");
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidPublicKey)]
fun update_with_short_key_aborts() {
    let mut s = setup();
    let id = register(&mut s, 0);
    update_with(&mut s, OPERATOR, id, pcr(3), option::some(bytes(9, 31)), b"x");
    s.end();
}

#[test, expected_failure(abort_code = nautilus::EInvalidEndpoint)]
fun update_with_empty_endpoint_aborts() {
    let mut s = setup();
    let id = register(&mut s, 0);
    update_with(&mut s, OPERATOR, id, pcr(3), option::some(enclave_key(9)), b"");
    s.end();
}
