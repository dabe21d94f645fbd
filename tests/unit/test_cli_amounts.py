"""Every command that takes an amount takes `1.5SUI`, `100MIST` or MIST, and a bad one is one
line and exit 1 before anything touches the chain."""

from __future__ import annotations

import subprocess

import pytest

from harness.processes import CLI
from k3s_daas.cli.stake import print_info

ADDRESS = "0x" + "ab" * 32


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("stake", "--amount", "1.5", "--user"), "for SUI write 1.5SUI"),
        (("stake", "--amount", "-1SUI", "--node-id", "n"), "must not have a sign"),
        (("token", "create", "--amount", "1e3SUI", "--node-id", "n"), "exponent"),
        (("devnet", "faucet", ADDRESS, "--amount", "1.0000000001SUI"), "more than 9 decimals"),
        (("devnet", "slash", "n", "--amount", "5ETH"), "unknown unit"),
        (("up", "--stakes", "100,1.5"), "stake '1.5'"),
    ],
)
def test_bad_amounts_are_one_line(args: tuple[str, ...], fragment: str) -> None:
    result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in lines[0] and lines[0].endswith("(invalid_amount)")


def test_a_record_prints_aligned_with_amounts_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    print_info({"amount": 1_500_000_000, "withdrawable_from_epoch": None, "node_id": ""}, False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(maxsplit=1)[1] == "1.5 SUI (1500000000 MIST)"
    assert lines[1].split() == ["withdrawable_from_epoch", "-"]  # None is a dash, not "None"
    assert len({line.index(line.split()[1]) for line in lines[:2]}) == 1  # one value column
