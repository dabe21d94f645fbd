"""Simulated PCRs: SHA-384 measurements of the installed `k3s_daas` code, so a code change changes
them exactly as rebuilding an enclave image changes Nitro's PCR0-2.

- PCR0 ("image"):       every `*.py` file of the package, sorted by POSIX path relative to the
                         package root; each file contributes len(path) || path || len(body) || body.
- PCR1 ("enclave"):     the same framing over the `nautilus/` and `attestation/` subpackages only
                         (the code that holds the enclave key and makes documents).
- PCR2 ("runtime"):     the text `python=<x.y.z>` and `<dist>=<version>` lines for cryptography,
                         fastapi and pysui (`absent` when not installed), one per line.
- PCR3..PCR15:          48 zero bytes (unused, as on Nitro without IAM role / instance / signer).

Every digest starts with a domain-separation label (`k3s-daas/pcrN/v1`), so PCRs never collide.
"""

from __future__ import annotations

import functools
import hashlib
import platform
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Final

from k3s_daas.attestation.document import NITRO_PCR_COUNT
from k3s_daas.seal.constants import PCR_LENGTH

PACKAGE_ROOT: Final = Path(__file__).resolve().parent.parent  # .../k3s_daas
ENCLAVE_SUBPACKAGES: Final = ("nautilus", "attestation")
RUNTIME_DISTRIBUTIONS: Final = ("cryptography", "fastapi", "pysui")
ZERO_PCR: Final = bytes(PCR_LENGTH)


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def _measure_files(label: str, base: Path, files: Iterable[Path]) -> bytes:
    digest = hashlib.sha384(_frame(label.encode()))
    for path in sorted(files, key=lambda p: p.relative_to(base).as_posix()):
        digest.update(_frame(path.relative_to(base).as_posix().encode()))
        digest.update(_frame(path.read_bytes()))
    return digest.digest()


def _python_files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*.py") if p.is_file()]


def runtime_description() -> str:
    """The text PCR2 measures: interpreter and dependency versions, one `name=version` a line."""
    lines = [f"python={platform.python_version()}"]
    for dist in RUNTIME_DISTRIBUTIONS:
        try:
            lines.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{dist}=absent")
    return "\n".join(lines) + "\n"


def compute_pcrs(package_root: Path) -> dict[int, bytes]:
    """Measure the package at `package_root` (a `k3s_daas` directory); no caching."""
    root = Path(package_root).resolve()
    enclave_files = [f for sub in ENCLAVE_SUBPACKAGES for f in _python_files(root / sub)]
    pcrs = {index: ZERO_PCR for index in range(NITRO_PCR_COUNT)}
    pcrs[0] = _measure_files("k3s-daas/pcr0/v1", root, _python_files(root))
    pcrs[1] = _measure_files("k3s-daas/pcr1/v1", root, enclave_files)
    pcrs[2] = hashlib.sha384(
        _frame(b"k3s-daas/pcr2/v1") + _frame(runtime_description().encode())
    ).digest()
    return pcrs


@functools.cache
def _installed_pcrs() -> tuple[tuple[int, bytes], ...]:
    return tuple(sorted(compute_pcrs(PACKAGE_ROOT).items()))


def simulated_pcrs(package_root: Path | None = None) -> dict[int, bytes]:
    """PCR0..15 of the installed package (cached per process), or of another tree (not cached)."""
    if package_root is None:
        return dict(_installed_pcrs())
    return compute_pcrs(package_root)
