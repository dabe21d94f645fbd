"""PCR values as an operator has them: hex on a command line, or the JSON `nitro-cli` prints.

`nitro-cli build-enclave` prints `{"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0":
hex, "PCR1": hex, "PCR2": hex}}`; `nitro-cli describe-eif` prints the same `Measurements` object
beside `EifVersion`, `IsSigned`, `CheckCRC`, ... (signed images add `PCR8`). Each PCR is SHA-384:
96 hex digits. Lines the tool prints before the JSON ("Start building the Enclave Image...")
are skipped.
"""

from __future__ import annotations

import json
from typing import Any

from k3s_daas.seal.constants import PCR_LENGTH
from k3s_daas.seal.errors import K3sDaasError

#: The PCRs the chain pins (image, kernel + boot ramfs, application).
MEASURED = (0, 1, 2)


class MeasurementsError(K3sDaasError):
    """A PCR value or a measurements file that cannot be used (one line, what is wrong)."""

    reason = "bad_measurements"


def parse_pcr_hex(text: str, index: int) -> bytes:
    """One PCR from hex (an optional `0x` is accepted): exactly 48 bytes."""
    digits = text.strip().lower().removeprefix("0x")
    try:
        value = bytes.fromhex(digits)
    except ValueError:
        raise MeasurementsError(f"PCR{index} is not hex: {text[:20]!r}…") from None
    if len(value) != PCR_LENGTH:
        raise MeasurementsError(
            f"PCR{index} is {len(value)} bytes; a PCR is {PCR_LENGTH} bytes (96 hex digits)"
        )
    return value


def _document(text: str, source: str) -> Any:
    start = next((i for i, line in enumerate(text.splitlines()) if line.startswith("{")), None)
    if start is None:
        raise MeasurementsError(f"{source} holds no JSON object: expected nitro-cli's output")
    body = "\n".join(text.splitlines()[start:])
    try:
        return json.JSONDecoder().raw_decode(body)[0]
    except ValueError:
        raise MeasurementsError(f"{source} is not JSON: expected nitro-cli's output") from None


def parse_measurements(text: str, source: str = "measurements") -> dict[int, bytes]:
    """PCR0-2 from `nitro-cli build-enclave` / `describe-eif` JSON output."""
    doc = _document(text, source)
    measurements = doc.get("Measurements") if isinstance(doc, dict) else None
    if not isinstance(measurements, dict):
        raise MeasurementsError(
            f"{source} has no Measurements object: expected the JSON of `nitro-cli "
            f"describe-eif --eif-path IMAGE.eif` or `nitro-cli build-enclave`"
        )
    algorithm = str(measurements.get("HashAlgorithm", "Sha384"))
    if not algorithm.lower().startswith("sha384"):
        raise MeasurementsError(f"{source}: HashAlgorithm {algorithm[:30]!r}, expected Sha384")
    pcrs: dict[int, bytes] = {}
    for index in MEASURED:
        value = measurements.get(f"PCR{index}")
        if not isinstance(value, str):
            raise MeasurementsError(f"{source}: Measurements has no PCR{index}")
        pcrs[index] = parse_pcr_hex(value, index)
    return pcrs


__all__ = ["MEASURED", "MeasurementsError", "parse_measurements", "parse_pcr_hex"]
