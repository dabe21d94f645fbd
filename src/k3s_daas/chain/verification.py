"""Whose signature is this? Local for key schemes, the full node's `VerifySignature` for the rest.

Ed25519, Secp256k1 and Secp256r1 personal-message signatures are verified here (`chain.keys`):
cheap, and no round trip. MultiSig, zkLogin and passkey signatures need what only a full node
has (the on-chain JWKs, the zkLogin verifying key, WebAuthn rules), so they go to
`SignatureVerificationService.VerifySignature` with the expected address, and the node's verdict
decides. A node that does not serve a scheme answers UNIMPLEMENTED: `SignatureUnsupported`.

Request shape (sui-rpc-api `signature_verification_service.rs`): `message` is a `Bcs` named
`PersonalMessage` whose value is BCS of the bytes (ULEB128 length ‖ bytes); `signature` carries
the serialized signature in `bcs`; with `address` set the node checks it against the address it
derives. A bad signature is not an error: the answer is OK with `is_valid=false` and a reason
(an address mismatch reads "provided address `X` does not match derived address `Y`").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain.keys import normalize_address, signature_flag, verify_personal_message
from k3s_daas.chain.schemes import REMOTE_SCHEMES, SignatureError
from k3s_daas.chain.transport import Transport, answer_error
from k3s_daas.seal.encoding import uleb128

#: The node's reason when the signature is valid but for another address.
_ADDRESS_MISMATCH: Final = "does not match derived address"


class SignatureUnsupported(SignatureError):
    """The full node does not verify this scheme (it answered UNIMPLEMENTED)."""

    reason = "unsupported_signature"


@dataclass(frozen=True)
class Verdict:
    """The node's answer: valid or not, and why not."""

    is_valid: bool
    reason: str | None = None


class RemoteVerifier(Protocol):
    """What verifies composite signatures: `ChainClient` satisfies it."""

    async def verify_signature(self, message: bytes, signature: bytes, address: str) -> Verdict: ...


def verify_request(message: bytes, signature: bytes, address: str) -> v2.VerifySignatureRequest:
    """A VerifySignature request for a personal message and its expected signer."""
    return v2.VerifySignatureRequest(
        message=v2.Bcs(name="PersonalMessage", value=uleb128(len(message)) + message),
        signature=v2.UserSignature(bcs=v2.Bcs(name="UserSignatureBytes", value=signature)),
        address=address,
    )


async def verify_remotely(
    transport: Transport, timeout: float, message: bytes, signature: bytes, address: str
) -> Verdict:
    """Ask a full node (with failover: the call is a read) whether `address` signed `message`."""
    request = verify_request(message, signature, normalize_address(address))

    async def call(ch: Channel) -> v2.VerifySignatureResponse:
        stub = v2.SignatureVerificationServiceStub(ch)
        return await stub.verify_signature(request, timeout=timeout)

    try:
        response = await transport.read(call, "VerifySignature")
    except GRPCError as exc:
        if exc.status == Status.UNIMPLEMENTED:
            raise SignatureUnsupported(
                f"the full node cannot verify this signature: {exc.message or 'UNIMPLEMENTED'}"
            ) from None
        raise answer_error(exc, "VerifySignature") from None
    return Verdict(bool(response.is_valid), response.reason or None)


def needs_full_node(signature: bytes) -> bool:
    """Whether `signature`'s scheme is verified by the full node (MultiSig, zkLogin, passkey):
    only those wait on the network; the others are checked here at once."""
    return signature_flag(signature) in REMOTE_SCHEMES


async def verify_owner_signature(
    message: bytes, signature: bytes, owner: str, remote: RemoteVerifier | None
) -> None:
    """Raise SignatureError unless `owner` signed the personal message `message`.

    Reasons: `bad_signature`, `signer_mismatch`, `unsupported_signature` (no node can verify the
    scheme for us); `chain_unavailable` propagates as the chain client raises it.
    """
    if not needs_full_node(signature):
        verify_personal_message(message, signature, owner)  # normalizes `owner` itself
        return
    owner = normalize_address(owner)
    flag = signature_flag(signature)
    if remote is None:
        raise SignatureUnsupported(f"a {REMOTE_SCHEMES[flag]} signature needs a full node")
    verdict = await remote.verify_signature(message, signature, owner)
    if verdict.is_valid:
        return
    why = verdict.reason or "the full node says the signature is invalid"
    if _ADDRESS_MISMATCH in why:
        raise SignatureError(why, reason="signer_mismatch")
    raise SignatureError(why)


__all__ = [
    "RemoteVerifier",
    "SignatureUnsupported",
    "Verdict",
    "needs_full_node",
    "verify_owner_signature",
    "verify_remotely",
    "verify_request",
]
