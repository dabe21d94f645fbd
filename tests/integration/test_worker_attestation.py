"""The worker attests a master before trusting it: real HTTPS servers on loopback.

The "masters" here are small real HTTPS servers serving documents from the simulated enclave
(the same code the Nautilus master uses); the worker's check is what is under test.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from harness.processes import free_port, port_open, wait_for
from k3s_daas.attestation import create_dev_ca
from k3s_daas.nautilus.enclave import SimulatedEnclave
from k3s_daas.worker.attested import MasterNotTrusted, RegisteredEnclave, attest_master


def tls_identity(folder: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "master")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return cert_path, key_path, spki


@dataclass
class FakeMaster:
    url: str
    enclave: SimulatedEnclave


def serve(folder: Path, enclave: SimulatedEnclave, cert: Path, key: Path) -> Iterator[str]:
    app = FastAPI()

    @app.get("/get_attestation")
    def get_attestation(nonce: str) -> dict[str, str]:
        return {"document": enclave.attestation(nonce=bytes.fromhex(nonce)).hex()}

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ssl_certfile=str(cert), ssl_keyfile=str(key),
        log_level="error",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: port_open(port))
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class World(TypedDict):
    """The module's trust anchors and three served "masters": (url, enclave) each."""

    root: x509.Certificate
    pcrs: dict[int, bytes]
    honest: tuple[str, SimulatedEnclave]
    wrong_pcr: tuple[str, SimulatedEnclave]
    unbound: tuple[str, SimulatedEnclave]
    foreign_root: x509.Certificate


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("attest")
    ca = create_dev_ca(folder / "ca")
    cert, key, spki = tls_identity(folder)
    honest = SimulatedEnclave(ca, folder / "k1", tls_public_key_der=spki)
    wrong_pcr = SimulatedEnclave(
        ca, folder / "k2", tls_public_key_der=spki, pcrs={**honest.pcrs, 0: b"\x01" * 48}
    )
    unbound = SimulatedEnclave(ca, folder / "k3", tls_public_key_der=b"another key")
    servers = [serve(folder, e, cert, key) for e in (honest, wrong_pcr, unbound)]
    urls = [next(s) for s in servers]
    yield {
        "root": ca.root,
        "pcrs": {i: honest.pcrs[i] for i in range(3)},
        "honest": (urls[0], honest),
        "wrong_pcr": (urls[1], wrong_pcr),
        "unbound": (urls[2], unbound),
        "foreign_root": create_dev_ca(folder / "other").root,
    }
    for s in servers:
        for _ in s:
            pass


def registered(*enclaves: SimulatedEnclave) -> list[RegisteredEnclave]:
    return [RegisteredEnclave(f"0x{i:064x}", e.public_key, {}) for i, e in enumerate(enclaves)]


async def test_honest_master_is_attested_and_pinned(world: World) -> None:
    url, enclave = world["honest"]
    attested = await attest_master(
        url,
        root=world["root"],
        expected_pcrs=world["pcrs"],
        enclaves=registered(enclave),
    )
    assert attested.enclave_public_key == enclave.public_key
    import httpx

    async with httpx.AsyncClient(verify=attested.ssl_context()) as client:  # pinned TLS works
        response = await client.get(f"{url}/get_attestation", params={"nonce": "00" * 16})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("which", "root_key", "register_it", "reason"),
    [
        ("wrong_pcr", "root", True, "attestation_pcr_mismatch"),
        ("honest", "foreign_root", True, "attestation_untrusted_root"),
        ("honest", "root", False, "enclave_not_registered"),
        ("unbound", "root", True, "tls_not_attested"),
    ],
)
async def test_impostors_are_refused(
    world: World,
    which: Literal["wrong_pcr", "honest", "unbound"],
    root_key: Literal["root", "foreign_root"],
    register_it: bool,
    reason: str,
) -> None:
    url, enclave = world[which]
    enclaves = registered(enclave) if register_it else registered()
    with pytest.raises(MasterNotTrusted) as info:
        await attest_master(
            url, root=world[root_key], expected_pcrs=world["pcrs"], enclaves=enclaves
        )
    assert info.value.reason == reason


async def test_unreachable_master_is_not_trusted(world: World) -> None:
    with pytest.raises(MasterNotTrusted, match="unreachable"):
        await attest_master(
            f"https://127.0.0.1:{free_port()}",
            root=world["root"],
            expected_pcrs={},
            enclaves=[],
        )
