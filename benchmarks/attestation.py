"""Attestation documents made and verified per second, against a same-run baseline of bare ES384
sign/verify (the floor any Nitro-format verifier pays), so the ratios survive noisy machines."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.table import Table

from k3s_daas.attestation import (
    AttestationDocument,
    create_dev_ca,
    issue_enclave_leaf,
    sign_document,
    simulated_pcrs,
    verify_document,
)

MAX_SECONDS = 2.0  # per measurement
MAX_COUNT = 2000


def _rate(fn: Callable[[], object]) -> tuple[float, int]:
    """Operations per second of `fn`, bounded by MAX_COUNT calls and MAX_SECONDS."""
    count = 0
    start = time.perf_counter()
    while count < MAX_COUNT and time.perf_counter() - start < MAX_SECONDS:
        fn()
        count += 1
    return count / (time.perf_counter() - start), count


def run(out_dir: Path) -> dict[str, object]:
    """Measure make / verify of full documents and bare ES384; print a table; return the numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        ca = create_dev_ca(Path(tmp) / "ca")
    leaf = issue_enclave_leaf(ca)
    pcrs = simulated_pcrs()
    nonce = b"n" * 32

    def make() -> bytes:
        document = AttestationDocument(
            module_id="bench",
            timestamp_ms=int(datetime.now(UTC).timestamp() * 1000),
            pcrs=pcrs,
            certificate=leaf.certificate_der,
            cabundle=leaf.cabundle,
            public_key=b"k" * 32,
            user_data=b"u" * 32,
            nonce=nonce,
        )
        return sign_document(document, leaf.key)

    sample = make()
    expected = {i: pcrs[i] for i in (0, 1, 2)}

    def verify() -> object:
        return verify_document(sample, root=ca.root, expected_pcrs=expected, expected_nonce=nonce)

    message = b"x" * 1024
    signature = leaf.key.sign(message, ec.ECDSA(hashes.SHA384()))
    public = leaf.key.public_key()

    rates = {
        "es384_sign_per_s": _rate(lambda: leaf.key.sign(message, ec.ECDSA(hashes.SHA384()))),
        "es384_verify_per_s": _rate(
            lambda: public.verify(signature, message, ec.ECDSA(hashes.SHA384()))
        ),
        "documents_made_per_s": _rate(make),
        "documents_verified_per_s": _rate(verify),
    }
    result: dict[str, object] = {name: round(rate, 1) for name, (rate, _) in rates.items()}
    result["make_vs_es384_sign"] = round(
        rates["documents_made_per_s"][0] / rates["es384_sign_per_s"][0], 3
    )
    result["verify_vs_es384_verify"] = round(
        rates["documents_verified_per_s"][0] / rates["es384_verify_per_s"][0], 3
    )
    result["document_bytes"] = len(sample)

    table = Table(title="attestation (higher is better)")
    table.add_column("measure")
    table.add_column("ops/s", justify="right")
    table.add_column("calls", justify="right")
    for name, (rate, count) in rates.items():
        table.add_row(name, f"{rate:,.0f}", str(count))
    table.add_row("make / bare ES384 sign", f"{result['make_vs_es384_sign']}", "")
    table.add_row("verify / bare ES384 verify", f"{result['verify_vs_es384_verify']}", "")
    Console().print(table)
    return result


if __name__ == "__main__":
    print(run(Path(tempfile.gettempdir())))
