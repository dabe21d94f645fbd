"""The Move package and the Python side agree: constants, abort coverage, struct layouts, syntax."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from k3s_daas.seal import constants
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
SOURCES = sorted((CONTRACTS / "sources").glob("*.move"))
TESTS = sorted((CONTRACTS / "tests").glob("*.move"))
PROTOCOL = ROOT / "docs" / "protocol.md"

CONST_RE = re.compile(r"^\s*const\s+(\w+)\s*:\s*u(?:8|64)\s*=\s*(\d+)\s*;", re.M)


def move_name(python_name: str) -> str:
    """E_NOT_STAKER -> ENotStaker; other constants keep their UPPER_SNAKE name."""
    if python_name.startswith("E_"):
        return "E" + "".join(part.capitalize() for part in python_name[2:].split("_"))
    return python_name


def move_constants() -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for path in SOURCES:
        for name, value in CONST_RE.findall(path.read_text()):
            found.setdefault(name, set()).add(int(value))
    return found


def python_constants() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(constants).items()
        if name.isupper() and isinstance(value, int) and not isinstance(value, bool)
    }


def test_sources_exist() -> None:
    assert {p.name for p in SOURCES} == {"staking.move", "k8s_gateway.move", "nautilus.move"}
    assert (CONTRACTS / "Move.toml").is_file()


@pytest.mark.parametrize("name", sorted(python_constants()))
def test_python_constant_equals_move(name: str) -> None:
    expected = python_constants()[name]
    in_move = move_constants().get(move_name(name))
    assert in_move is not None, f"{move_name(name)} is not defined in contracts/sources"
    assert in_move == {expected}, f"{move_name(name)} = {in_move} in Move, {expected} in Python"


def test_every_move_abort_code_is_known_to_python() -> None:
    python = {move_name(n): v for n, v in python_constants().items()}
    for name, values in move_constants().items():
        if re.fullmatch(r"E[A-Z][a-z]\w*", name):  # abort codes are ECamelCase
            assert python.get(name) in values, f"Move abort {name} has no Python twin"


def test_every_abort_path_has_an_expected_failure_test() -> None:
    tests_text = "\n".join(p.read_text() for p in TESTS)
    referenced = set(re.findall(r"expected_failure\(abort_code\s*=\s*\w+::(E\w+)\)", tests_text))
    defined = {name for name in move_constants() if re.fullmatch(r"E[A-Z][a-z]\w*", name)}
    assert defined - referenced == set(), f"untested aborts: {sorted(defined - referenced)}"


def protocol_struct_fields(struct: str) -> list[str]:
    text = PROTOCOL.read_text()
    block = re.search(rf"public struct {struct} has [^{{]*\{{(.*?)\n\}}", text, re.S)
    assert block, f"{struct} not in docs/protocol.md"
    body = re.sub(r"//[^\n]*", "", block.group(1))
    return re.findall(r"(\w+)\s*:", body)


def move_struct_fields(struct: str) -> list[str]:
    for path in SOURCES:
        block = re.search(
            rf"public struct {struct} has [^{{]*\{{(.*?)\n\}}", path.read_text(), re.S
        )
        if block:
            return re.findall(r"^\s*(\w+)\s*:", block.group(1), re.M)
    raise AssertionError(f"{struct} not in contracts/sources")


@pytest.mark.parametrize(
    "struct", ["SealToken", "StakeRecord", "StakingPool", "Enclave", "EnclaveConfig"]
)
def test_struct_field_order_matches_protocol(struct: str) -> None:
    assert move_struct_fields(struct) == protocol_struct_fields(struct)


def run_checker(folder: Path) -> subprocess.CompletedProcess[str]:
    require_tool(shutil.which("node") is not None, "node")
    checker = ROOT / ".tools" / "check-move.mjs"
    require_tool((ROOT / ".tools" / "node_modules").is_dir(), "npm tools in .tools (make test)")
    return subprocess.run(
        ["node", str(checker), str(folder)], capture_output=True, text=True, timeout=120
    )


def test_move_sources_parse_with_mysten_grammar() -> None:
    result = run_checker(CONTRACTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(SOURCES) + len(TESTS)} of {len(SOURCES) + len(TESTS)}" in result.stdout


def test_checker_rejects_a_syntax_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.move"
    text = (CONTRACTS / "sources" / "staking.move").read_text()
    broken.write_text(text.replace("public fun withdraw(", "public fun withdraw((", 1))
    result = run_checker(tmp_path)
    assert result.returncode == 1
    assert "broken.move:" in result.stdout
