// Golden vectors from Mysten's TypeScript SDK (@mysten/sui): an oracle for the bytes the Python
// product builds and signs. Everything here is fixed (keys, object refs, arguments) and every
// signature scheme involved is deterministic, so two runs write the same file.
//
//   node .tools/golden.mjs OUT.json      # run by tests/fixtures/golden.py inside `make test`
//
// What it writes (read by tests/unit/test_golden_vectors.py):
//   keys[name]              fixed key pairs of the three schemes: secret, public key, address,
//                           `suiprivkey1…` string (flag: 0 Ed25519, 1 Secp256k1, 2 Secp256r1)
//   personal_messages[]     per key and message: intent message, its blake2b-256 digest and the
//                           serialized signature (flag || sig || pubkey, base64)
//   fixture                 the chain objects every transaction names (ids, versions, digests)
//   transactions[]          our package's PTBs, built here with `Transaction` from fixed inputs:
//                           BCS TransactionData, digest, intent digest, the sender's signature
//   multisigs[]             MultiSig committees of the three schemes: address, BCS public key, and a
//                           personal message signed by two members, combined (0x03 || BCS MultiSig)
//   certified.effects[]     TransactionEffects V2 with every ExecutionFailureStatus (and every
//                           object change, owner and unchanged-consensus kind): name, BCS hex
//   certified.objects[]     Objects of each MoveObjectType the SDK knows, and a package: BCS hex
// The PTBs mirror, command by command and input by input, what `chain/package.py` builds: the
// order of inputs is free in Sui, so it follows the Python order to make the bytes comparable.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { bcs } from "@mysten/sui/bcs";
import { messageWithIntent } from "@mysten/sui/cryptography";
import { Ed25519Keypair } from "@mysten/sui/keypairs/ed25519";
import { Secp256k1Keypair } from "@mysten/sui/keypairs/secp256k1";
import { Secp256r1Keypair } from "@mysten/sui/keypairs/secp256r1";
import { MultiSigPublicKey } from "@mysten/sui/multisig";
import { Inputs, Transaction, TransactionDataBuilder } from "@mysten/sui/transactions";
import { toBase58, toBase64, toHex } from "@mysten/sui/utils";
import { blake2b } from "@noble/hashes/blake2.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const SDK_MANIFEST = path.join(here, "node_modules", "@mysten", "sui", "package.json");
const SDK_VERSION = JSON.parse(readFileSync(SDK_MANIFEST, "utf8")).version;

const sha256 = (text) => new Uint8Array(createHash("sha256").update(text).digest());
const hex = (bytes) => toHex(bytes);
const blake2b256 = (bytes) => blake2b(bytes, { dkLen: 32 });
/** A fixed 32-byte value named by `label` (ids, digests, seeds, secrets). */
const fixed = (label) => sha256(`k3s-daas golden vectors: ${label}`);
const fixedId = (label) => "0x" + hex(fixed(label));
const fixedDigest = (label) => toBase58(fixed(label));

// -- keys ------------------------------------------------------------------------------------------
// The two ECDSA secrets are sui-rust-sdk's own test fixtures (secp256k1.rs / secp256r1.rs), so the
// Python side can also check these against the signatures published there.
const MYSTEN_K1_SECRET = Uint8Array.from([
  172, 12, 96, 180, 207, 143, 111, 151, 81, 57, 242, 89, 74, 5, 150, 51, 56, 111, 245, 150, 182,
  30, 149, 178, 29, 255, 188, 27, 48, 241, 151, 193,
]);
const MYSTEN_R1_SECRET = Uint8Array.from([
  167, 44, 116, 0, 51, 221, 254, 179, 210, 44, 93, 196, 125, 155, 85, 94, 29, 41, 13, 60, 59, 132,
  69, 84, 176, 217, 77, 49, 25, 113, 118, 125,
]);
const KEY_SPECS = {
  ed25519_user: [Ed25519Keypair, fixed("ed25519 user seed")],
  ed25519_admin: [Ed25519Keypair, fixed("ed25519 admin seed")],
  secp256k1_mysten: [Secp256k1Keypair, MYSTEN_K1_SECRET],
  secp256k1_user: [Secp256k1Keypair, fixed("secp256k1 user secret")],
  secp256r1_mysten: [Secp256r1Keypair, MYSTEN_R1_SECRET],
  secp256r1_user: [Secp256r1Keypair, fixed("secp256r1 user secret")],
};
const FLAGS = { ED25519: 0, Secp256k1: 1, Secp256r1: 2 };
const SCHEME_NAMES = { ED25519: "ed25519", Secp256k1: "secp256k1", Secp256r1: "secp256r1" };

const keypairs = {};
const keys = {};
for (const [name, [Keypair, secret]] of Object.entries(KEY_SPECS)) {
  const keypair = Keypair.fromSecretKey(secret);
  const scheme = keypair.getKeyScheme();
  keypairs[name] = keypair;
  keys[name] = {
    scheme: SCHEME_NAMES[scheme],
    flag: FLAGS[scheme],
    secret_key_hex: hex(secret),
    public_key_hex: hex(keypair.getPublicKey().toRawBytes()), // Ed25519 32 B; ECDSA 33 B SEC1
    sui_public_key_b64: keypair.getPublicKey().toSuiPublicKey(), // flag || public key
    address: keypair.toSuiAddress(), // blake2b-256(flag || public key)
    suiprivkey: keypair.getSecretKey(), // bech32 `suiprivkey1…` of flag || secret
  };
}

// -- personal messages -----------------------------------------------------------------------------
const MESSAGES = [
  new TextEncoder().encode("hello"),
  new Uint8Array(0),
  Uint8Array.from({ length: 300 }, (_, i) => i % 256), // a two-byte ULEB128 length
  new TextEncoder().encode(
    'k3s-daas/v1/register\n{"enclave":"' + hex(fixed("enclave key")) + '","kind":"register",' +
      '"node_id":"worker-1","nonce":"' + hex(fixed("nonce")).slice(0, 32) + '",' +
      '"timestamp":1764400000000,"token":"' + hex(fixed("token fingerprint")) + '"}',
  ),
];
const personalMessages = [];
for (const [name, keypair] of Object.entries(keypairs)) {
  for (const message of MESSAGES) {
    const intentMessage = messageWithIntent("PersonalMessage", bcs.byteVector().serialize(message).toBytes());
    const { signature } = await keypair.signPersonalMessage(message);
    personalMessages.push({
      key: name,
      message_hex: hex(message),
      intent_message_hex: hex(intentMessage), // [3,0,0] || ULEB128(len) || message
      digest_hex: hex(blake2b256(intentMessage)), // what Ed25519 signs; ECDSA signs SHA-256 of it
      signature_b64: signature,
    });
  }
}

// -- transactions ----------------------------------------------------------------------------------
const fixture = {
  package_id: fixedId("package"),
  clock: { object_id: "0x" + "6".padStart(64, "0"), initial_shared_version: 1 },
  pool: { object_id: fixedId("staking pool"), initial_shared_version: 3 },
  enclave_config: { object_id: fixedId("enclave config"), initial_shared_version: 5 },
  stake_record: { object_id: fixedId("stake record"), initial_shared_version: 4_294_967_311 },
  enclave: { object_id: fixedId("enclave"), initial_shared_version: 23 },
  admin_cap: { object_id: fixedId("admin cap"), version: 41, digest: fixedDigest("admin cap") },
  seal_token: { object_id: fixedId("seal token"), version: 57, digest: fixedDigest("seal token") },
  gas_coins: {
    a: { object_id: fixedId("gas a"), version: 9, digest: fixedDigest("gas a") },
    b: { object_id: fixedId("gas b"), version: 4_294_967_298, digest: fixedDigest("gas b") },
    c: { object_id: fixedId("gas c"), version: 12, digest: fixedDigest("gas c") },
  },
  gas_price: 1000,
  gas_budget: 50_000_000,
  node_id: "worker-1",
  permissions: ["pods:read", "services:read", "configmaps:*"],
  secret_hex: hex(fixed("token secret")), // the token's secret; only SHA-256 of it goes on chain
  commitment_hex: hex(sha256(fixed("token secret"))),
  endpoint: "https://10.0.0.1:8443",
  tier: 2,
  attestation_document_hex: hex(Uint8Array.from({ length: 200 }, (_, i) => (i * 7) % 256)),
  pcrs_hex: [0, 1, 2].map((i) => hex(new Uint8Array(48).fill(0x10 + i))),
};

const F = fixture;
const call = (name) => `${F.package_id}::${name}`;
const shared = (tx, obj, mutable) =>
  tx.object(Inputs.SharedObjectRef({ objectId: obj.object_id, initialSharedVersion: obj.initial_shared_version, mutable }));
const owned = (tx, obj) =>
  tx.object(Inputs.ObjectRef({ objectId: obj.object_id, version: obj.version, digest: obj.digest }));
const bytesArg = (tx, hexText) => tx.pure.vector("u8", Buffer.from(hexText, "hex"));
const commitment = (tx) => bytesArg(tx, F.commitment_hex);

/** `nautilus` calls start with the attestation, loaded by the framework (clock first). */
function attestation(tx) {
  const clock = shared(tx, F.clock, false);
  const document = bytesArg(tx, F.attestation_document_hex);
  return tx.moveCall({ target: "0x2::nitro_attestation::load_nitro_attestation", arguments: [document, clock] });
}

// One entry per function of `chain/package.py` that sends a transaction. `args` are what the
// Python method takes besides the signer; the test calls the method with them.
const TRANSACTIONS = [
  {
    name: "stake_and_create_worker_token", sender: "ed25519_user", gas: ["a"],
    args: { amount: 1_000_000_000, node_id: F.node_id },
    build(tx, a) {
      const pool = shared(tx, F.pool, true);
      const config = shared(tx, F.enclave_config, false);
      const [coin] = tx.splitCoins(tx.gas, [tx.pure.u64(a.amount)]);
      tx.moveCall({
        target: call("k8s_gateway::stake_and_create_worker_seal_token"),
        arguments: [pool, config, coin, tx.pure.string(a.node_id), commitment(tx)],
      });
    },
  },
  {
    name: "stake_for_node", sender: "ed25519_user", gas: ["a"],
    args: { amount: 2_500_000_000, node_id: F.node_id },
    build(tx, a) {
      const pool = shared(tx, F.pool, true);
      const [coin] = tx.splitCoins(tx.gas, [tx.pure.u64(a.amount)]);
      tx.moveCall({ target: call("staking::stake_for_node"), arguments: [pool, coin, tx.pure.string(a.node_id)] });
    },
  },
  {
    name: "create_worker_token", sender: "ed25519_user", gas: ["a"],
    args: { stake_record_id: F.stake_record.object_id },
    build(tx) {
      const pool = shared(tx, F.pool, false);
      const config = shared(tx, F.enclave_config, false);
      const record = shared(tx, F.stake_record, false);
      tx.moveCall({ target: call("k8s_gateway::create_worker_seal_token"), arguments: [pool, config, record, commitment(tx)] });
    },
  },
  {
    name: "stake_for_user", sender: "ed25519_user", gas: ["a"],
    args: { amount: 18_446_744_073_709_551_615n - 50_000_000n }, // near u64::MAX
    build(tx, a) {
      const pool = shared(tx, F.pool, true);
      const [coin] = tx.splitCoins(tx.gas, [tx.pure.u64(a.amount)]);
      tx.moveCall({ target: call("staking::stake_for_user"), arguments: [pool, coin] });
    },
  },
  {
    name: "create_user_token", sender: "ed25519_user", gas: ["a"],
    args: { stake_record_id: F.stake_record.object_id, permissions: F.permissions },
    build(tx, a) {
      const pool = shared(tx, F.pool, false);
      const config = shared(tx, F.enclave_config, false);
      const record = shared(tx, F.stake_record, false);
      tx.moveCall({
        target: call("k8s_gateway::create_user_seal_token"),
        arguments: [pool, config, record, commitment(tx), tx.pure.vector("string", a.permissions)],
      });
    },
  },
  {
    name: "slash", sender: "ed25519_admin", gas: ["b"],
    args: { stake_record_id: F.stake_record.object_id, amount: 250_000_000 },
    build(tx, a) {
      const cap = owned(tx, F.admin_cap);
      const pool = shared(tx, F.pool, true);
      const record = shared(tx, F.stake_record, true);
      tx.moveCall({ target: call("staking::slash"), arguments: [cap, pool, record, tx.pure.u64(a.amount)] });
    },
  },
  {
    name: "rotate_token", sender: "ed25519_user", gas: ["a"],
    args: { token_id: F.seal_token.object_id },
    build(tx) {
      const token = owned(tx, F.seal_token);
      const pool = shared(tx, F.pool, false);
      const record = shared(tx, F.stake_record, false);
      tx.moveCall({ target: call("k8s_gateway::rotate_seal_token"), arguments: [token, pool, record, commitment(tx)] });
    },
  },
  {
    // Two gas coins: the product pays with several when no single coin covers the budget.
    name: "revoke_token", sender: "ed25519_user", gas: ["b", "c"],
    args: { token_id: F.seal_token.object_id },
    build(tx) {
      tx.moveCall({ target: call("k8s_gateway::revoke_seal_token"), arguments: [owned(tx, F.seal_token)] });
    },
  },
  {
    name: "request_unstake", sender: "ed25519_user", gas: ["a"],
    args: { stake_record_id: F.stake_record.object_id },
    build(tx) {
      const pool = shared(tx, F.pool, true);
      const record = shared(tx, F.stake_record, true);
      tx.moveCall({ target: call("staking::request_unstake"), arguments: [pool, record] });
    },
  },
  {
    name: "withdraw", sender: "ed25519_user", gas: ["a"],
    args: { stake_record_id: F.stake_record.object_id },
    build(tx) {
      const pool = shared(tx, F.pool, true);
      const record = shared(tx, F.stake_record, true);
      tx.moveCall({ target: call("staking::withdraw"), arguments: [pool, record] });
    },
  },
  {
    name: "set_thresholds", sender: "ed25519_admin", gas: ["b"],
    args: { min_stake: 100_000_000, standard: 1_000_000_000, premium: 10_000_000_000 },
    build(tx, a) {
      const cap = owned(tx, F.admin_cap);
      const pool = shared(tx, F.pool, true);
      tx.moveCall({
        target: call("staking::set_thresholds"),
        arguments: [cap, pool, tx.pure.u64(a.min_stake), tx.pure.u64(a.standard), tx.pure.u64(a.premium)],
      });
    },
  },
  {
    name: "update_pcrs", sender: "ed25519_admin", gas: ["b"],
    args: { pcrs_hex: F.pcrs_hex },
    build(tx, a) {
      const cap = owned(tx, F.admin_cap);
      const config = shared(tx, F.enclave_config, true);
      tx.moveCall({ target: call("nautilus::update_pcrs"), arguments: [cap, config, ...a.pcrs_hex.map((p) => bytesArg(tx, p))] });
    },
  },
  {
    name: "register_enclave", sender: "ed25519_user", gas: ["a"],
    args: { document_hex: F.attestation_document_hex, endpoint: F.endpoint, tier: F.tier },
    build(tx, a) {
      const document = attestation(tx);
      const config = shared(tx, F.enclave_config, true);
      tx.moveCall({
        target: call("nautilus::register_enclave"),
        arguments: [config, document, tx.pure.string(a.endpoint), tx.pure.u8(a.tier)],
      });
    },
  },
  {
    name: "update_enclave", sender: "ed25519_user", gas: ["a"],
    args: { enclave_id: F.enclave.object_id, document_hex: F.attestation_document_hex, endpoint: F.endpoint },
    build(tx, a) {
      const document = attestation(tx);
      const enclave = shared(tx, F.enclave, true);
      const config = shared(tx, F.enclave_config, false);
      tx.moveCall({
        target: call("nautilus::update_enclave"),
        arguments: [enclave, config, document, tx.pure.string(a.endpoint)],
      });
    },
  },
];
// The user-stake transaction again, sent by ECDSA keys: transaction signatures of every scheme.
const stakeForUser = TRANSACTIONS.find((t) => t.name === "stake_for_user");
for (const sender of ["secp256k1_user", "secp256r1_user"]) {
  TRANSACTIONS.push({ ...stakeForUser, name: `stake_for_user_${sender.split("_")[0]}`, sender, args: { amount: 1_000_000_000 } });
}

const transactions = [];
for (const spec of TRANSACTIONS) {
  const keypair = keypairs[spec.sender];
  const tx = new Transaction();
  tx.setSender(keypair.toSuiAddress());
  tx.setGasPrice(F.gas_price);
  tx.setGasBudget(F.gas_budget);
  tx.setGasPayment(spec.gas.map((g) => F.gas_coins[g]).map((c) => ({ objectId: c.object_id, version: c.version, digest: c.digest })));
  spec.build(tx, spec.args);
  const txBytes = await tx.build(); // no client: every input is fully specified, nothing resolves
  const { signature } = await keypair.signTransaction(txBytes);
  transactions.push({
    name: spec.name,
    sender_key: spec.sender,
    gas_coins: spec.gas,
    args: spec.args,
    tx_bytes_hex: hex(txBytes), // BCS TransactionData (V1)
    digest: TransactionDataBuilder.getDigestFromBytes(txBytes), // base58 blake2b("TransactionData::" || bytes)
    intent_digest_hex: hex(blake2b256(messageWithIntent("TransactionData", txBytes))), // [0,0,0] || bytes
    signature_b64: signature,
  });
}

// -- MultiSig ----------------------------------------------------------------------------------------
// A 2-of-3 committee of one key per scheme (weights 1, 1, 1; and one with weights 2, 1, 1), and the
// combined signature of a personal message by two members: address formula and BCS layout.
const multisigs = [];
const MEMBERS = ["ed25519_user", "secp256k1_user", "secp256r1_user"];
for (const [weights, threshold, signers] of [
  [[1, 1, 1], 2, ["ed25519_user", "secp256r1_user"]],
  [[2, 1, 1], 3, ["ed25519_user", "secp256k1_user"]],
]) {
  const committee = MultiSigPublicKey.fromPublicKeys({
    threshold,
    publicKeys: MEMBERS.map((name, i) => ({ publicKey: keypairs[name].getPublicKey(), weight: weights[i] })),
  });
  const message = MESSAGES[3];
  const partial = [];
  for (const name of signers) partial.push((await keypairs[name].signPersonalMessage(message)).signature);
  multisigs.push({
    members: MEMBERS,
    weights,
    threshold,
    // In committee order: combinePartialSignatures keeps the order it is given, and verifiers
    // pair the signatures with the bitmap's members in ascending order.
    signers,
    address: committee.toSuiAddress(), // blake2b-256(0x03 || threshold u16 || flag_i || pk_i || w_i)
    public_key_b64: toBase64(committee.toRawBytes()), // BCS MultiSigPublicKey
    message_hex: hex(message),
    signature_b64: committee.combinePartialSignatures(partial), // 0x03 || BCS MultiSig
  });
}
// -- certified formats: effects and objects, decoded by chain/certified (R2 3/7) -------------------
const addr = (label) => fixedId(label);
const location = { module: { address: addr("pkg"), name: "staking" }, function: 3, instruction: 17, functionName: "slash" };
const u64s = { objectSize: 1, maxObjectSize: 2 };
const ARGUMENT_ERRORS = [
  "TypeMismatch", "InvalidBCSBytes", "InvalidUsageOfPureArg", "InvalidArgumentToPrivateEntryFunction",
  { IndexOutOfBounds: { idx: 4 } }, { SecondaryIndexOutOfBounds: { resultIdx: 5, secondaryIdx: 6 } },
  { InvalidResultArity: { resultIdx: 7 } }, "InvalidGasCoinUsage", "InvalidValueUsage", "InvalidObjectByValue",
  "InvalidObjectByMutRef", "SharedObjectOperationNotAllowed", "InvalidArgumentArity", "InvalidTransferObject",
  "InvalidMakeMoveVecNonObjectArgument", "ArgumentWithoutValue", "CannotMoveBorrowedValue",
  "CannotWriteToExtendedReference", "InvalidReferenceArgument", "InvalidTxContext",
];
const UPGRADE_ERRORS = [
  { UnableToFetchPackage: { packageId: addr("p1") } }, { NotAPackage: { objectId: addr("p2") } }, "IncompatibleUpgrade",
  { DigestDoesNotMatch: { digest: fixed("upgrade digest") } }, { UnknownUpgradePolicy: { policy: 9 } },
  { PackageIDDoesNotMatch: { packageId: addr("p3"), ticketId: addr("p4") } },
];
const variant = (v) => (typeof v === "string" ? { [v]: true } : v);
const FAILURES = [
  "InsufficientGas", "InvalidGasObject", "InvariantViolation", "FeatureNotYetSupported",
  { MoveObjectTooBig: u64s }, { MovePackageTooBig: u64s }, { CircularObjectOwnership: { object: addr("o") } },
  "InsufficientCoinBalance", "CoinBalanceOverflow", "PublishErrorNonZeroAddress", "SuiMoveVerificationError",
  { MovePrimitiveRuntimeError: location }, { MovePrimitiveRuntimeError: null },
  { MoveAbort: [location, 7] }, { MoveAbort: [{ ...location, functionName: null }, 2n ** 64n - 1n] },
  "VMVerificationOrDeserializationError", "VMInvariantViolation", "FunctionNotFound", "ArityMismatch",
  "TypeArityMismatch", "NonEntryFunctionInvoked",
  ...ARGUMENT_ERRORS.map((kind) => ({ CommandArgumentError: { argIdx: 1, kind: variant(kind) } })),
  ...["TypeNotFound", "ConstraintNotSatisfied"].map((kind) => ({ TypeArgumentError: { argumentIdx: 2, kind: variant(kind) } })),
  { UnusedValueWithoutDrop: { resultIdx: 1, secondaryIdx: 2 } }, { InvalidPublicFunctionReturnType: { idx: 3 } },
  "InvalidTransferObject", { EffectsTooLarge: { currentSize: 10, maxSize: 9 } },
  "PublishUpgradeMissingDependency", "PublishUpgradeDependencyDowngrade",
  ...UPGRADE_ERRORS.map((e) => ({ PackageUpgradeError: { upgradeError: variant(e) } })),
  { WrittenObjectsTooLarge: { currentSize: 10, maxSize: 9 } }, "CertificateDenied", "SuiMoveVerificationTimedout",
  "SharedObjectOperationNotAllowed", "InputObjectDeleted",
  { ExecutionCancelledDueToSharedObjectCongestion: { congested_objects: [addr("c1"), addr("c2")] } },
  { AddressDeniedForCoin: { address: addr("denied"), coinType: "0x2::sui::SUI" } },
  { CoinTypeGlobalPause: { coinType: "0xabc::usdc::USDC" } }, "ExecutionCancelledDueToRandomnessUnavailable",
  { MoveVectorElemTooBig: { valueSize: 1, maxScaledSize: 2 } }, { MoveRawValueTooBig: { valueSize: 3, maxScaledSize: 4 } },
  "InvalidLinkage", "InsufficientBalanceForWithdraw", { NonExclusiveWriteInputObjectModified: { id: addr("nx") } },
];
const digestOf = (label) => fixedDigest(label);
const owners = [
  { AddressOwner: addr("alice") }, { ObjectOwner: addr("parent") }, { Shared: { initialSharedVersion: 3 } },
  { Immutable: true }, { ConsensusAddressOwner: { startVersion: 4, owner: addr("bob") } },
];
const changedObjects = [
  ...owners.map((owner, i) => [addr(`changed ${i}`), {
    inputState: { Exist: [[i + 1, digestOf(`in ${i}`)], owners[(i + 1) % owners.length]] },
    outputState: { ObjectWrite: [digestOf(`out ${i}`), owner] },
    idOperation: { None: true },
  }]),
  [addr("created"), { inputState: { NotExist: true }, outputState: { ObjectWrite: [digestOf("new"), owners[0]] }, idOperation: { Created: true } }],
  [addr("package"), { inputState: { NotExist: true }, outputState: { PackageWrite: [1, digestOf("pkg")] }, idOperation: { Created: true } }],
  [addr("deleted"), { inputState: { Exist: [[2, digestOf("gone")], owners[0]] }, outputState: { NotExist: true }, idOperation: { Deleted: true } }],
  ...[{ Integer: 5 }, { IntegerTuple: [6, 7] }, { EventDigest: [[8, digestOf("event")]] }].map((value, i) => [addr(`accumulator ${i}`), {
    inputState: { NotExist: true },
    outputState: { AccumulatorWriteV1: { address: { address: addr("holder"), ty: "0x2::balance::Balance<0x2::sui::SUI>" }, operation: i ? { Split: true } : { Merge: true }, value } },
    idOperation: { None: true },
  }]),
];
const unchanged = [
  { ReadOnlyRoot: [5, digestOf("root")] }, { MutateConsensusStreamEnded: 6 }, { ReadConsensusStreamEnded: 7 },
  { Cancelled: 8 }, { PerEpochConfig: true },
].map((kind, i) => [addr(`unchanged ${i}`), kind]);
const effectsV2 = (status, full) => bcs.TransactionEffects.serialize({
  V2: {
    status,
    executedEpoch: 5,
    gasUsed: { computationCost: 1000, storageCost: 2000, storageRebate: 300, nonRefundableStorageFee: 4 },
    transactionDigest: digestOf("tx"),
    gasObjectIndex: full ? 0 : null,
    eventsDigest: full ? digestOf("events") : null,
    dependencies: full ? [digestOf("dep 1"), digestOf("dep 2")] : [],
    lamportVersion: 9,
    changedObjects: full ? changedObjects : changedObjects.slice(0, 1),
    unchangedConsensusObjects: full ? unchanged : [],
    auxDataDigest: full ? digestOf("aux") : null,
  },
}).toBytes();
const certifiedEffects = [
  { name: "success, every change kind", failure: null, bcs_hex: hex(effectsV2({ Success: true }, true)) },
  ...FAILURES.map((f, i) => {
    const error = variant(f);
    return { name: `failure ${i}`, failure: Object.keys(error)[0], bcs_hex: hex(effectsV2({ Failure: { error, command: i % 2 ? i : null } }, false)) };
  }),
];
const moveObject = (type, i) => ({
  Move: { type, hasPublicTransfer: i % 2 === 0, version: 10 + i, contents: Uint8Array.from([...fixed(`object ${i}`), i, i + 1]) },
});
const certifiedObjects = [
  ["Other(StructTag)", moveObject({ Other: { address: addr("pkg"), module: "staking", name: "StakeRecord", typeParams: [{ u64: true }, { vector: { u8: true } }] } }, 0)],
  ["GasCoin", moveObject({ GasCoin: true }, 1)],
  ["StakedSui", moveObject({ StakedSui: true }, 2)],
  ["Coin(T)", moveObject({ Coin: "0xabc::usdc::USDC" }, 3)],
  ["Package", {
    Package: {
      id: addr("package id"), version: 2,
      moduleMap: new Map([["staking", Uint8Array.from([1, 2, 3])], ["a", Uint8Array.from([4])], ["nautilus", new Uint8Array()]]),
      typeOriginTable: [{ moduleName: "staking", datatypeName: "StakeRecord", package: addr("package id") }],
      linkageTable: new Map([[addr("dep b"), { upgradedId: addr("dep b2"), upgradedVersion: 3 }], [addr("dep a"), { upgradedId: addr("dep a2"), upgradedVersion: 2 }]]),
    },
  }],
].map(([name, data], i) => ({
  name,
  bcs_hex: hex(bcs.Object.serialize({ data, owner: owners[i % owners.length], previousTransaction: digestOf("tx"), storageRebate: 100 + i }).toBytes()),
}));

const out = {
  generator: { package: "@mysten/sui", version: SDK_VERSION, node: process.version },
  keys,
  personal_messages: personalMessages,
  fixture,
  transactions,
  multisigs,
  certified: { effects: certifiedEffects, objects: certifiedObjects },
};
const outPath = process.argv[2];
if (!outPath) {
  console.error("usage: node .tools/golden.mjs OUT.json");
  process.exit(2);
}
// u64 arguments near the top of the range are bigints: written as decimal strings.
writeFileSync(outPath, JSON.stringify(out, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n");
