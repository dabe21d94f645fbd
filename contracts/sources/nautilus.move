/// Registry of Nautilus enclaves (the masters): expected PCRs, and one Enclave object per master
/// holding the ephemeral key taken from its verified AWS Nitro attestation document.
///
/// `sui::nitro_attestation::load_nitro_attestation` is an `entry` function, so a transaction
/// calls it as its first command and passes the verified document to `register_enclave`.
module k3s_daas::nautilus;

use k3s_daas::staking::AdminCap;
use std::string::String;
use sui::event;
use sui::nitro_attestation::NitroAttestationDocument;

const PCR_LENGTH: u64 = 48;
const ENCLAVE_KEY_LENGTH: u64 = 32;
const MAX_ENDPOINT_LENGTH: u64 = 256;
const TIER_BASIC: u8 = 0;
const TIER_STANDARD: u8 = 1;
const TIER_PREMIUM: u8 = 2;

const EPcrMismatch: u64 = 201;
const EInvalidTier: u64 = 202;
const EInvalidPublicKey: u64 = 203;
const ENotOperator: u64 = 204;
const EInvalidPcrLength: u64 = 205;
const EInvalidEndpoint: u64 = 206;
const EInvalidAttestation: u64 = 207;

/// Expected PCR0-2 (empty until the admin calls `update_pcrs`) and the enclaves by tier.
public struct EnclaveConfig has key {
    id: UID,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    version: u64,
    basic: vector<ID>,
    standard: vector<ID>,
    premium: vector<ID>,
}

public struct Enclave has key {
    id: UID,
    operator: address,
    endpoint: String,
    tier: u8,
    public_key: vector<u8>,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    config_version: u64,
    registered_at_ms: u64,
}

public struct EnclaveRegistered has copy, drop {
    enclave_id: ID,
    operator: address,
    tier: u8,
    endpoint: String,
    public_key: vector<u8>,
}

public struct EnclaveUpdated has copy, drop {
    enclave_id: ID,
    public_key: vector<u8>,
}

public struct PcrsUpdated has copy, drop {
    version: u64,
}

fun init(ctx: &mut TxContext) {
    transfer::share_object(EnclaveConfig {
        id: object::new(ctx),
        pcr0: vector[],
        pcr1: vector[],
        pcr2: vector[],
        version: 0,
        basic: vector[],
        standard: vector[],
        premium: vector[],
    });
}

/// Register a master from its verified attestation document.
public fun register_enclave(
    config: &mut EnclaveConfig,
    document: NitroAttestationDocument,
    endpoint: String,
    tier: u8,
    ctx: &mut TxContext,
): ID {
    let (pcr0, pcr1, pcr2) = document_pcrs(&document);
    register_verified(
        config,
        pcr0,
        pcr1,
        pcr2,
        *document.public_key(),
        *document.timestamp(),
        endpoint,
        tier,
        ctx,
    )
}

/// A restarted master has a new ephemeral key: same Enclave object, new key.
public fun update_enclave(
    enclave: &mut Enclave,
    config: &EnclaveConfig,
    document: NitroAttestationDocument,
    endpoint: String,
    ctx: &TxContext,
) {
    let (pcr0, pcr1, pcr2) = document_pcrs(&document);
    update_verified(
        enclave,
        config,
        pcr0,
        pcr1,
        pcr2,
        *document.public_key(),
        *document.timestamp(),
        endpoint,
        ctx,
    )
}

/// The admin pins the measurements of the released master image; bumps `version`.
public fun update_pcrs(
    _: &AdminCap,
    config: &mut EnclaveConfig,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
) {
    assert!(
        pcr0.length() == PCR_LENGTH && pcr1.length() == PCR_LENGTH && pcr2.length() == PCR_LENGTH,
        EInvalidPcrLength,
    );
    config.pcr0 = pcr0;
    config.pcr1 = pcr1;
    config.pcr2 = pcr2;
    config.version = config.version + 1;
    event::emit(PcrsUpdated { version: config.version });
}

/// The newest enclave of the highest tier not above `tier`.
public fun pick_enclave(config: &EnclaveConfig, tier: u8): Option<ID> {
    if (tier >= TIER_PREMIUM && !config.premium.is_empty()) {
        return option::some(config.premium[config.premium.length() - 1])
    };
    if (tier >= TIER_STANDARD && !config.standard.is_empty()) {
        return option::some(config.standard[config.standard.length() - 1])
    };
    if (!config.basic.is_empty()) {
        return option::some(config.basic[config.basic.length() - 1])
    };
    option::none()
}

fun document_pcrs(document: &NitroAttestationDocument): (vector<u8>, vector<u8>, vector<u8>) {
    let entries = document.pcrs();
    let mut pcr0 = vector[];
    let mut pcr1 = vector[];
    let mut pcr2 = vector[];
    let mut i = 0;
    while (i < entries.length()) {
        let pcr_entry = &entries[i];
        let index = pcr_entry.index();
        if (index == 0) {
            pcr0 = *pcr_entry.value();
        } else if (index == 1) {
            pcr1 = *pcr_entry.value();
        } else if (index == 2) {
            pcr2 = *pcr_entry.value();
        };
        i = i + 1;
    };
    (pcr0, pcr1, pcr2)
}

fun check_fields(
    config: &EnclaveConfig,
    pcr0: &vector<u8>,
    pcr1: &vector<u8>,
    pcr2: &vector<u8>,
    public_key: &Option<vector<u8>>,
    endpoint: &String,
): vector<u8> {
    assert!(public_key.is_some(), EInvalidAttestation);
    // Fail closed: until `update_pcrs` has run the expected PCRs are empty and nothing matches.
    assert!(
        pcr0.length() == PCR_LENGTH
            && pcr0 == &config.pcr0 && pcr1 == &config.pcr1 && pcr2 == &config.pcr2,
        EPcrMismatch,
    );
    let key = *public_key.borrow();
    assert!(key.length() == ENCLAVE_KEY_LENGTH, EInvalidPublicKey);
    let n = endpoint.length();
    assert!(n > 0 && n <= MAX_ENDPOINT_LENGTH, EInvalidEndpoint);
    key
}

fun register_verified(
    config: &mut EnclaveConfig,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    public_key: Option<vector<u8>>,
    timestamp_ms: u64,
    endpoint: String,
    tier: u8,
    ctx: &mut TxContext,
): ID {
    let key = check_fields(config, &pcr0, &pcr1, &pcr2, &public_key, &endpoint);
    assert!(tier == TIER_BASIC || tier == TIER_STANDARD || tier == TIER_PREMIUM, EInvalidTier);
    let enclave = Enclave {
        id: object::new(ctx),
        operator: ctx.sender(),
        endpoint,
        tier,
        public_key: key,
        pcr0,
        pcr1,
        pcr2,
        config_version: config.version,
        registered_at_ms: timestamp_ms,
    };
    let enclave_id = object::id(&enclave);
    if (tier == TIER_PREMIUM) {
        config.premium.push_back(enclave_id);
    } else if (tier == TIER_STANDARD) {
        config.standard.push_back(enclave_id);
    } else {
        config.basic.push_back(enclave_id);
    };
    event::emit(EnclaveRegistered {
        enclave_id,
        operator: enclave.operator,
        tier,
        endpoint: enclave.endpoint,
        public_key: enclave.public_key,
    });
    transfer::share_object(enclave);
    enclave_id
}

fun update_verified(
    enclave: &mut Enclave,
    config: &EnclaveConfig,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    public_key: Option<vector<u8>>,
    timestamp_ms: u64,
    endpoint: String,
    ctx: &TxContext,
) {
    assert!(ctx.sender() == enclave.operator, ENotOperator);
    let key = check_fields(config, &pcr0, &pcr1, &pcr2, &public_key, &endpoint);
    enclave.public_key = key;
    enclave.pcr0 = pcr0;
    enclave.pcr1 = pcr1;
    enclave.pcr2 = pcr2;
    enclave.endpoint = endpoint;
    enclave.config_version = config.version;
    enclave.registered_at_ms = timestamp_ms;
    event::emit(EnclaveUpdated { enclave_id: object::id(enclave), public_key: enclave.public_key });
}

// === Accessors ===

public fun operator(enclave: &Enclave): address { enclave.operator }

public fun public_key(enclave: &Enclave): vector<u8> { enclave.public_key }

public fun endpoint(enclave: &Enclave): String { enclave.endpoint }

public fun tier(enclave: &Enclave): u8 { enclave.tier }

public fun config_version(enclave: &Enclave): u64 { enclave.config_version }

public fun version(config: &EnclaveConfig): u64 { config.version }

public fun expected_pcrs(config: &EnclaveConfig): (vector<u8>, vector<u8>, vector<u8>) {
    (config.pcr0, config.pcr1, config.pcr2)
}

// === Test-only entry points ===
//
// Real attestation documents cannot be produced in a Move unit test (a `NitroAttestationDocument`
// only comes out of `load_nitro_attestation`, which checks an AWS signature). These enter the same
// checks as `register_enclave` / `update_enclave` with the fields a verified document would carry.

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) { init(ctx) }

#[test_only]
public fun register_for_testing(
    config: &mut EnclaveConfig,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    public_key: Option<vector<u8>>,
    endpoint: String,
    tier: u8,
    ctx: &mut TxContext,
): ID {
    register_verified(config, pcr0, pcr1, pcr2, public_key, 0, endpoint, tier, ctx)
}

#[test_only]
public fun update_for_testing(
    enclave: &mut Enclave,
    config: &EnclaveConfig,
    pcr0: vector<u8>,
    pcr1: vector<u8>,
    pcr2: vector<u8>,
    public_key: Option<vector<u8>>,
    endpoint: String,
    ctx: &TxContext,
) {
    update_verified(enclave, config, pcr0, pcr1, pcr2, public_key, 0, endpoint, ctx)
}
