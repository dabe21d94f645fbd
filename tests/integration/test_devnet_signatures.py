"""User signatures of every scheme on the devnet, as a Sui full node treats them.

- ExecuteTransaction: Ed25519, Secp256k1, Secp256r1 and MultiSig senders stake and mint.
- VerifySignature (sui.rpc.v2 SignatureVerificationService): valid and invalid signatures of the
  three key schemes and of a 2-of-3 MultiSig, the address check, the message forms; zkLogin and
  passkey answer UNIMPLEMENTED with a sentence; malformed requests INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from harness.devnet import DevnetProcess
from k3s_daas.chain import (
    ChainClient,
    K3sDaasPackage,
    MultiSig,
    SignatureUnsupported,
    SuiKeyPair,
    TransactionRejected,
)
from k3s_daas.chain.keys import transaction_intent_digest
from k3s_daas.chain.verification import verify_request
from k3s_daas.seal.encoding import uleb128
from k3s_daas.seal.permissions import Tier
from tests.fixtures.sui_wallet import MultiSigWallet
from tests.integration.test_chain_flow import register_enclaves

SCHEMES = ("ed25519", "secp256k1", "secp256r1")
MESSAGE = b"k3s-daas/v1/heartbeat\n{}"


@pytest.fixture(scope="module")
def enclaves(devnet: DevnetProcess) -> dict[Tier, str]:
    return register_enclaves(devnet)


@pytest.fixture
async def chain(devnet: DevnetProcess) -> AsyncIterator[ChainClient]:
    async with ChainClient.from_deployment(devnet.deployment) as client:
        yield client


@pytest.fixture
async def channel(devnet: DevnetProcess) -> AsyncIterator[Channel]:
    ch = Channel(devnet.grpc_host, devnet.grpc_port)
    yield ch
    ch.close()


# -- transactions ---------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_wallet_of_each_scheme_stakes_and_mints(
    devnet: DevnetProcess, enclaves: dict[Tier, str], chain: ChainClient, scheme: str
) -> None:
    key = SuiKeyPair.generate(scheme)
    devnet.faucet(key.address)
    package = K3sDaasPackage(chain, devnet.deployment)
    minted = await package.stake_and_create_worker_token(key, 1_000, f"node-{scheme}")
    assert minted.view.owner == key.address
    record = await package.stake_for_user(key, 100)
    assert record.staker == key.address


async def test_a_multisig_wallet_stakes(devnet: DevnetProcess, chain: ChainClient) -> None:
    wallet, members = MultiSigWallet.two_of_three()
    devnet.faucet(wallet.address)
    package = K3sDaasPackage(chain, devnet.deployment)
    record = await package.stake_for_user(wallet, 100)  # type: ignore[arg-type]  # a duck-typed MultiSig signer: address + sign_transaction
    assert record.staker == wallet.address
    alone = MultiSigWallet(wallet.committee, [members[0]])  # weight 1 < threshold 2
    with pytest.raises(TransactionRejected, match="threshold"):
        await package.stake_for_user(alone, 100)  # type: ignore[arg-type]  # as above


async def test_a_high_s_transaction_signature_is_rejected(
    devnet: DevnetProcess, chain: ChainClient
) -> None:
    key = SuiKeyPair.generate("secp256k1")
    devnet.faucet(key.address)
    package = K3sDaasPackage(chain, devnet.deployment)

    class HighS:
        address = key.address

        def sign_transaction(self, tx_bytes: bytes) -> bytes:
            sig = key.sign_transaction(tx_bytes)
            order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
            s = order - int.from_bytes(sig[33:65], "big")
            return sig[:33] + s.to_bytes(32, "big") + sig[65:]

    with pytest.raises(TransactionRejected, match="must be low") as info:
        await package.stake_for_user(HighS(), 100)  # type: ignore[arg-type]  # a signer that emits high S
    assert info.value.status == "INVALID_ARGUMENT"


# -- VerifySignature ------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", SCHEMES)
async def test_verify_signature_of_each_key_scheme(chain: ChainClient, scheme: str) -> None:
    key = SuiKeyPair.generate(scheme)
    signature = key.sign_personal_message(MESSAGE)
    assert (await chain.verify_signature(MESSAGE, signature, key.address)).is_valid
    tampered = await chain.verify_signature(MESSAGE + b"!", signature, key.address)
    assert not tampered.is_valid and tampered.reason
    other = SuiKeyPair.generate().address
    mismatch = await chain.verify_signature(MESSAGE, signature, other)
    assert not mismatch.is_valid
    assert mismatch.reason == (
        f"provided address `{other}` does not match derived address `{key.address}`"
    )


async def test_verify_signature_of_a_two_of_three_multisig(chain: ChainClient) -> None:
    wallet, members = MultiSigWallet.two_of_three()
    committee = wallet.committee
    for pair in ([0, 1], [1, 2], [2, 0]):
        parts = [members[i].sign_personal_message(MESSAGE) for i in pair]
        signature = MultiSig.combine(committee, parts).serialize()
        verdict = await chain.verify_signature(MESSAGE, signature, committee.address)
        assert verdict.is_valid, verdict.reason
    alone = MultiSig.combine(committee, [members[1].sign_personal_message(MESSAGE)]).serialize()
    below = await chain.verify_signature(MESSAGE, alone, committee.address)
    assert not below.is_valid and "threshold" in (below.reason or "")
    wrong = await chain.verify_signature(MESSAGE, alone, members[1].address)
    assert not wrong.is_valid and "does not match derived address" in (wrong.reason or "")


@pytest.mark.parametrize(("flag", "what"), [(0x05, "zkLogin"), (0x06, "passkey")])
async def test_zklogin_and_passkey_are_unimplemented_with_a_reason(
    chain: ChainClient, channel: Channel, flag: int, what: str
) -> None:
    signature = bytes([flag]) + bytes(400)
    with pytest.raises(SignatureUnsupported, match=f"{what} signatures are not verified"):
        await chain.verify_signature(MESSAGE, signature, "0x" + "ab" * 32)
    stub = v2.SignatureVerificationServiceStub(channel)
    with pytest.raises(GRPCError) as info:
        await stub.verify_signature(verify_request(MESSAGE, signature, "0x" + "ab" * 32))
    assert info.value.status == Status.UNIMPLEMENTED
    assert "a Sui full node verifies them" in (info.value.message or "")


async def test_verify_signature_request_forms(channel: Channel) -> None:
    """The message as PersonalMessage or TransactionData (or unnamed), the signature as BCS with
    or without a length prefix, or as its `simple` parts."""
    stub = v2.SignatureVerificationServiceStub(channel)
    key = SuiKeyPair.generate("secp256r1")
    sig = key.sign_personal_message(MESSAGE)
    personal = uleb128(len(MESSAGE)) + MESSAGE
    forms = [
        v2.UserSignature(bcs=v2.Bcs(value=sig)),
        v2.UserSignature(bcs=v2.Bcs(value=uleb128(len(sig)) + sig)),
        v2.UserSignature(simple=v2.SimpleSignature(
            scheme=v2.SignatureScheme.SECP256R1, signature=sig[1:65], public_key=sig[65:])),
    ]  # fmt: skip
    for form in forms:
        for name in ("PersonalMessage", None):
            answer = await stub.verify_signature(
                v2.VerifySignatureRequest(
                    message=v2.Bcs(name=name, value=personal), signature=form, address=key.address
                )
            )
            assert answer.is_valid, answer.reason
    tx_bytes = bytes(range(64))  # a transaction's signature is over the intent digest of its BCS
    signed_tx = key.sign_digest(transaction_intent_digest(tx_bytes))
    with pytest.raises(GRPCError) as info:  # ... and the bytes must be BCS TransactionData
        await stub.verify_signature(v2.VerifySignatureRequest(
            message=v2.Bcs(name="TransactionData", value=tx_bytes),
            signature=v2.UserSignature(bcs=v2.Bcs(value=signed_tx))))  # fmt: skip
    assert info.value.status == Status.INVALID_ARGUMENT


async def test_verify_signature_of_a_transaction(
    devnet: DevnetProcess, chain: ChainClient, channel: Channel
) -> None:
    """A signature over real TransactionData (captured from the product's own builder)."""
    key = SuiKeyPair.generate("secp256k1")
    devnet.faucet(key.address)
    captured: list[bytes] = []

    class Capturing:
        address = key.address

        def sign_transaction(self, tx_bytes: bytes) -> bytes:
            captured.append(tx_bytes)
            return key.sign_transaction(tx_bytes)

    await K3sDaasPackage(chain, devnet.deployment).stake_for_user(Capturing(), 100)  # type: ignore[arg-type]  # records what it signs
    tx_bytes = captured[0]
    stub = v2.SignatureVerificationServiceStub(channel)
    answer = await stub.verify_signature(v2.VerifySignatureRequest(
        message=v2.Bcs(name="TransactionData", value=tx_bytes),
        signature=v2.UserSignature(bcs=v2.Bcs(value=key.sign_transaction(tx_bytes))),
        address=key.address))  # fmt: skip
    assert answer.is_valid, answer.reason
    personal = await stub.verify_signature(v2.VerifySignatureRequest(
        message=v2.Bcs(name="PersonalMessage", value=uleb128(len(tx_bytes)) + tx_bytes),
        signature=v2.UserSignature(bcs=v2.Bcs(value=key.sign_transaction(tx_bytes)))))  # fmt: skip
    assert not personal.is_valid  # intents differ: a transaction signature is no message's


async def test_malformed_requests_are_invalid_argument(channel: Channel) -> None:
    stub = v2.SignatureVerificationServiceStub(channel)
    key = SuiKeyPair.generate()
    sig = key.sign_personal_message(MESSAGE)
    personal = v2.Bcs(name="PersonalMessage", value=uleb128(len(MESSAGE)) + MESSAGE)
    bad = [
        v2.VerifySignatureRequest(message=personal),  # no signature
        v2.VerifySignatureRequest(signature=v2.UserSignature(bcs=v2.Bcs(value=sig))),  # no message
        v2.VerifySignatureRequest(
            message=personal, signature=v2.UserSignature(bcs=v2.Bcs(value=sig[:-3]))
        ),
        v2.VerifySignatureRequest(
            message=personal,
            signature=v2.UserSignature(bcs=v2.Bcs(value=sig)),
            address="0xnot-an-address",
        ),
        v2.VerifySignatureRequest(
            message=v2.Bcs(name="PersonalMessage", value=b"\x09ab"),
            signature=v2.UserSignature(bcs=v2.Bcs(value=sig)),
        ),
    ]
    for request in bad:
        with pytest.raises(GRPCError) as info:
            await stub.verify_signature(request)
        assert info.value.status == Status.INVALID_ARGUMENT
    # ... and the devnet keeps serving.
    ok = await stub.verify_signature(verify_request(MESSAGE, sig, key.address))
    assert ok.is_valid
