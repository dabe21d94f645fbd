"""Proof of possession by wallets of every scheme, against a real master on a real devnet.

Secp256k1 and Secp256r1 stakers register and heartbeat (verified in the master); a MultiSig
staker is verified through the devnet's VerifySignature, as a full node would; a zkLogin
signature gets the devnet's UNIMPLEMENTED back as a clear 401 `unsupported_signature`.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from harness.devnet import DevnetProcess
from harness.master import MasterProcess, Staker, chain, fund, new_staker
from k3s_daas.chain import K3sDaasPackage, SuiKeyPair
from tests.fixtures.sui_wallet import MultiSigWallet

pytestmark = pytest.mark.timeout(180)


def node() -> str:
    return f"n-{secrets.token_hex(4)}"


@pytest.fixture
async def package(devnet: DevnetProcess) -> AsyncIterator[K3sDaasPackage]:
    client, pkg = chain(devnet)
    yield pkg
    await client.close()


@pytest.fixture
async def http(master: MasterProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=master.url, verify=master.ca_path, timeout=20) as c:
        yield c


@pytest.mark.parametrize("scheme", ["secp256k1", "secp256r1"])
async def test_an_ecdsa_staker_registers_and_heartbeats(
    master: MasterProcess, http: httpx.AsyncClient, package: K3sDaasPackage,
    devnet: DevnetProcess, scheme: str,
) -> None:  # fmt: skip
    staker = await new_staker(package, devnet, node(), scheme=scheme)
    assert staker.key.scheme == scheme
    key = master.public_key
    reg = await staker.send(http, "register", key)
    assert reg.status_code == 200, reg.text
    for _ in range(2):
        beat = await staker.send(http, "heartbeat", key, running_pods=1)
        assert beat.status_code == 200, beat.text
    row = master.workers()[staker.node_id]
    assert (row["status"], row["owner"]) == ("ready", staker.key.address)
    other = SuiKeyPair.generate(scheme)
    forged = staker.body("heartbeat", key, sign_with=other)
    refused = await staker.send(http, "heartbeat", key, body=forged)
    assert (refused.status_code, refused.json()["error"]) == (403, "signer_mismatch")


async def test_a_multisig_staker_is_verified_by_the_full_node(
    master: MasterProcess, http: httpx.AsyncClient, package: K3sDaasPackage,
    devnet: DevnetProcess,
) -> None:  # fmt: skip
    wallet, members = MultiSigWallet.two_of_three()
    await fund(devnet, wallet.address)
    node_id = node()
    minted = await package.stake_and_create_worker_token(wallet, 1_000, node_id)  # type: ignore[arg-type]  # a duck-typed MultiSig signer
    staker = Staker(wallet, node_id, minted)  # type: ignore[arg-type]  # signs like a SuiKeyPair
    key = master.public_key
    reg = await staker.send(http, "register", key)
    assert reg.status_code == 200, reg.text
    beat = await staker.send(http, "heartbeat", key)
    assert beat.status_code == 200, beat.text
    assert master.workers()[node_id]["owner"] == wallet.address
    short = MultiSigWallet(wallet.committee, members[:1])  # weight 1 < threshold 2
    body = staker.body("heartbeat", key, sign_with=short)  # type: ignore[arg-type]  # as above
    refused = await staker.send(http, "heartbeat", key, body=body)
    assert (refused.status_code, refused.json()["error"]) == (401, "bad_signature")


async def test_a_zklogin_signature_is_refused_clearly_on_the_devnet(
    master: MasterProcess, http: httpx.AsyncClient, package: K3sDaasPackage,
    devnet: DevnetProcess,
) -> None:  # fmt: skip
    staker = await new_staker(package, devnet, node())
    key = master.public_key
    body = staker.body("register", key)
    body["signature"] = "BQ" + "A" * 602  # flag 0x05 (zkLogin) and an authenticator's bytes
    response = await staker.send(http, "register", key, body=body)
    assert response.status_code == 401, response.text
    answer = response.json()
    assert answer["error"] == "unsupported_signature"
    assert "zkLogin" in answer["message"] and "full node" in answer["message"]
