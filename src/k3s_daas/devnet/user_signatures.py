"""User signatures as a full node checks them: for ExecuteTransaction and for VerifySignature.

The devnet verifies Ed25519, Secp256k1, Secp256r1 and MultiSig committees of those. zkLogin and
passkey need a Groth16 verifier with the on-chain JWKs and WebAuthn parsing, which the devnet
does not carry: it says so (`SchemeUnimplemented`, answered UNIMPLEMENTED by VerifySignature and
INVALID_ARGUMENT by ExecuteTransaction) rather than accept or reject them silently.

VerifySignature follows sui-rpc-api `signature_verification_service.rs`: a missing or malformed
signature, message or address is INVALID_ARGUMENT; the message is `PersonalMessage` (BCS bytes),
`TransactionData`, or any other name tried as both; with an address, a mismatch is OK with
`is_valid=false` and "provided address `X` does not match derived address `Y`"; a signature that
does not verify is OK with `is_valid=false` and the verifier's reason.
"""

from __future__ import annotations

from typing import Final

from pysui.sui.sui_bcs import bcs
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.keys import (
    SimpleSignature,
    personal_message_digest,
    transaction_intent_digest,
)
from k3s_daas.chain.multisig import Member, MultiSig, MultiSigCommittee, member_name
from k3s_daas.chain.schemes import (
    MULTISIG_FLAG,
    PASSKEY_FLAG,
    REMOTE_SCHEMES,
    ZKLOGIN_FLAG,
    SignatureError,
)
from k3s_daas.devnet.errors import BadRequest, DevnetError
from k3s_daas.seal.encoding import read_uleb128
from k3s_daas.seal.sui import normalize_address

_UNSERVED: Final = (
    "{what} signatures are not verified by the k3s-daas devnet (it has no zkLogin verifier, "
    "JWKs or WebAuthn support); a Sui full node verifies them"
)


class SchemeUnimplemented(DevnetError):
    """A zkLogin or passkey signature (alone or in a MultiSig): the devnet cannot verify it."""

    reason = "unimplemented"

    def __init__(self, flag: int) -> None:
        super().__init__(_UNSERVED.format(what=REMOTE_SCHEMES.get(flag) or member_name(flag)))


def authenticate(digest: bytes, signature: bytes) -> str:
    """Verify a serialized user signature over an intent digest; the address it authenticates.

    SignatureError when it does not verify or is malformed; SchemeUnimplemented for zkLogin and
    passkey."""
    if not signature:
        raise SignatureError("empty signature")
    flag = signature[0]
    if flag in (ZKLOGIN_FLAG, PASSKEY_FLAG):
        raise SchemeUnimplemented(flag)
    if flag == MULTISIG_FLAG:
        multisig = MultiSig.parse(signature)
        _refuse_unserved_members(multisig)
        return multisig.verify(digest)
    return SimpleSignature.parse(signature).verify(digest)


def _refuse_unserved_members(multisig: MultiSig) -> None:
    for flag, _ in multisig.signatures:
        if flag in (ZKLOGIN_FLAG, PASSKEY_FLAG):
            raise SchemeUnimplemented(flag)


def derived_address(signature: bytes) -> str:
    """The address a well-formed signature claims (SignatureError when malformed)."""
    if signature and signature[0] == MULTISIG_FLAG:
        return MultiSig.parse(signature).address
    return SimpleSignature.parse(signature).address


# -- proto -> serialized bytes --------------------------------------------------------------------
def _strip_length_prefix(raw: bytes) -> bytes:
    """`UserSignature.bcs` may come with or without a ULEB128 length prefix (the proto says so)."""
    try:
        length, start = read_uleb128(raw)
    except ValueError:
        return raw
    if start + length == len(raw) and start > 0 and length > 0:
        inner = raw[start:]
        if _well_formed(inner) and not _well_formed(raw):
            return inner
    return raw


def _well_formed(raw: bytes) -> bool:
    try:
        derived_address(raw)
    except SignatureError:
        return raw[:1] in (bytes([ZKLOGIN_FLAG]), bytes([PASSKEY_FLAG]))
    return True


def _multisig(proto: v2.MultisigAggregatedSignature) -> bytes:
    committee = proto.committee or v2.MultisigCommittee()
    members = []
    for member in committee.members:
        key = member.public_key or v2.MultisigMemberPublicKey()
        if key.scheme is None or key.scheme.value in (ZKLOGIN_FLAG, PASSKEY_FLAG):
            raise SchemeUnimplemented(ZKLOGIN_FLAG if key.scheme is None else key.scheme.value)
        members.append(Member(key.scheme.value, bytes(key.public_key or b""), member.weight or 0))
    signatures = []
    for sig in proto.signatures:
        if sig.scheme is None or sig.scheme.value in (ZKLOGIN_FLAG, PASSKEY_FLAG):
            raise SchemeUnimplemented(ZKLOGIN_FLAG if sig.scheme is None else sig.scheme.value)
        signatures.append((sig.scheme.value, bytes(sig.signature or b"")))
    keys = MultiSigCommittee(tuple(members), committee.threshold or 0)
    return MultiSig(tuple(signatures), proto.bitmap or 0, keys).serialize()


def signature_bytes(signature: v2.UserSignature) -> bytes:
    """A proto UserSignature as serialized bytes (flag ‖ …): from `bcs`, else from its parts."""
    if signature.bcs is not None and signature.bcs.value:
        return _strip_length_prefix(bytes(signature.bcs.value))
    if signature.simple is not None:
        simple = signature.simple
        flag = simple.scheme.value if simple.scheme is not None else 0
        return bytes([flag]) + bytes(simple.signature or b"") + bytes(simple.public_key or b"")
    if signature.multisig is not None:
        return _multisig(signature.multisig)
    if signature.zklogin is not None:
        raise SchemeUnimplemented(ZKLOGIN_FLAG)
    if signature.passkey is not None:
        raise SchemeUnimplemented(PASSKEY_FLAG)
    raise BadRequest("signature: no bcs and no simple, multisig, zklogin or passkey form")


# -- VerifySignature ------------------------------------------------------------------------------
def _personal_message(value: bytes) -> bytes | None:
    """BCS `vector<u8>`: ULEB128 length ‖ bytes, all consumed."""
    try:
        length, start = read_uleb128(value)
    except ValueError:
        return None
    return value[start:] if start + length == len(value) else None


def _transaction(value: bytes) -> bytes | None:
    try:
        bcs.TransactionData.deserialize(value)
    except Exception:  # canoser raises assorted errors on garbage
        return None
    return value


def _signing_digest(message: v2.Bcs | None) -> bytes:
    if message is None or message.value is None:
        raise BadRequest("message is required")
    value = bytes(message.value)
    if message.name == "PersonalMessage":
        personal = _personal_message(value)
        if personal is None:
            raise BadRequest("message: not BCS of a PersonalMessage (ULEB128 length ‖ bytes)")
        return personal_message_digest(personal)
    if message.name == "TransactionData":
        if _transaction(value) is None:
            raise BadRequest("message: not BCS TransactionData")
        return transaction_intent_digest(value)
    personal = _personal_message(value)
    if personal is not None:
        return personal_message_digest(personal)
    if _transaction(value) is not None:
        return transaction_intent_digest(value)
    raise BadRequest("message: invalid message")


def verify_signature(request: v2.VerifySignatureRequest) -> v2.VerifySignatureResponse:
    """The devnet's VerifySignature (see the module docstring for the rules)."""
    if request.signature is None:
        raise BadRequest("signature is required")
    raw = signature_bytes(request.signature)
    if raw[:1] in (bytes([ZKLOGIN_FLAG]), bytes([PASSKEY_FLAG])):
        raise SchemeUnimplemented(raw[0])
    try:
        claimed = derived_address(raw)
    except SignatureError as exc:
        raise BadRequest(f"signature: invalid signature: {exc.message}") from None
    digest = _signing_digest(request.message)
    if request.address is not None:
        try:
            address = normalize_address(request.address)
        except ValueError as exc:
            raise BadRequest(f"address: invalid address: {exc}") from None
        if address != claimed:
            return v2.VerifySignatureResponse(
                is_valid=False,
                reason=f"provided address `{address}` does not match derived address `{claimed}`",
            )
    try:
        authenticate(digest, raw)
    except SignatureError as exc:
        return v2.VerifySignatureResponse(is_valid=False, reason=exc.message)
    return v2.VerifySignatureResponse(is_valid=True)


__all__ = [
    "SchemeUnimplemented",
    "authenticate",
    "derived_address",
    "signature_bytes",
    "verify_signature",
]
