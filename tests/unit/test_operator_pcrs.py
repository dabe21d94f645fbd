"""PCR values for `chain update-pcrs`, and the master's start-up verdict on the chain's PCRs.

`tests/data/nitro_cli_describe_eif.handwritten.json` is written by hand after the real shape
(aws/aws-nitro-enclaves-cli `src/common/json_output.rs`: `EifDescribeInfo` flattens
`EnclaveBuildInfo { "Measurements": {HashAlgorithm, PCR0, PCR1, PCR2} }` beside `EifVersion`,
`IsSigned`, `CheckCRC`, `ImageName`, `ImageVersion`, `Metadata`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k3s_daas.attestation import MeasurementsError, parse_measurements, parse_pcr_hex
from k3s_daas.chain import EnclaveConfigView, check_pcrs, pcr_problem

FIXTURE = Path(__file__).parent.parent / "data" / "nitro_cli_describe_eif.handwritten.json"
PCR0 = bytes.fromhex(
    "7a381d54de75c1d205259756f6b3327b310a425842758d28c1addaebf22e519725c036dd9471d823992e7e51acce55d0"
)


def test_describe_eif_output_gives_pcr0_to_2() -> None:
    pcrs = parse_measurements(FIXTURE.read_text(), FIXTURE.name)
    assert sorted(pcrs) == [0, 1, 2]
    assert pcrs[0] == PCR0
    assert all(len(v) == 48 for v in pcrs.values())


def test_build_enclave_output_with_its_progress_lines() -> None:
    measurements = json.loads(FIXTURE.read_text())["Measurements"]
    text = (
        "Start building the Enclave Image...\nEnclave Image successfully created.\n"
        + json.dumps({"Measurements": {**measurements, "PCR8": "ab" * 48}}, indent=2)
    )
    assert parse_measurements(text)[0] == PCR0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Start building the Enclave Image...\n", "no JSON object"),
        ('{"EnclaveID": "i-0abc-enc1", "State": "RUNNING"}', "no Measurements object"),
        ('{"Measurements": {"PCR0": "00", "PCR1": "00"}}', "PCR0 is 1 bytes"),
        ('{"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": "' + "00" * 48 + '"}}',
         "no PCR1"),
        ('{"Measurements": {"HashAlgorithm": "Sha256", "PCR0": "00"}}', "expected Sha384"),
        ('{"Measurements": {"PCR0": "zz"}}', "PCR0 is not hex"),
        ("{ nope", "is not JSON"),
    ],
)  # fmt: skip
def test_a_bad_measurements_file_is_one_line(text: str, fragment: str) -> None:
    with pytest.raises(MeasurementsError) as info:
        parse_measurements(text, "m.json")
    assert fragment in info.value.message and "\n" not in info.value.message


def test_pcr_hex_accepts_0x_and_checks_the_length() -> None:
    assert parse_pcr_hex("0x" + PCR0.hex().upper(), 0) == PCR0
    with pytest.raises(MeasurementsError, match="96 hex digits"):
        parse_pcr_hex("ab" * 32, 2)


def test_check_pcrs_wants_exactly_three_sha384_values() -> None:
    assert check_pcrs({0: PCR0, 1: PCR0, 2: PCR0, 3: b""}) == {0: PCR0, 1: PCR0, 2: PCR0}
    with pytest.raises(ValueError, match="PCR2 is missing"):
        check_pcrs({0: PCR0, 1: PCR0})
    with pytest.raises(ValueError, match="PCR1 is 47 bytes"):
        check_pcrs({0: PCR0, 1: PCR0[:47], 2: PCR0})


def config(version: int, pcrs: dict[int, bytes]) -> EnclaveConfigView:
    return EnclaveConfigView(
        id="0x" + "c" * 64, version=version, pcr0=pcrs.get(0, b""), pcr1=pcrs.get(1, b""),
        pcr2=pcrs.get(2, b""), basic=(), standard=(), premium=(),
    )  # fmt: skip


MEASURED = {0: PCR0, 1: b"\x01" * 48, 2: b"\x02" * 48, 3: bytes(48)}


def test_unset_pcrs_name_the_next_step() -> None:
    problem = pcr_problem(config(0, {}), MEASURED)
    assert problem is not None
    assert "no PCRs yet (version 0" in problem
    assert "E_PCR_MISMATCH" in problem and "k3s-daas chain update-pcrs" in problem
    assert "\n" not in problem


def test_other_pcrs_name_the_first_difference() -> None:
    pinned = {**MEASURED, 1: b"\x07" * 48}
    problem = pcr_problem(config(3, pinned), MEASURED)
    assert problem is not None
    assert "PCR1 (010101010101…)" in problem and "version 3: 070707070707…" in problem
    assert "k3s-daas chain update-pcrs" in problem


def test_matching_pcrs_are_no_problem() -> None:
    assert pcr_problem(config(1, MEASURED), MEASURED) is None
