"""The Move package and the Python side agree: constants, aborts, layouts, signatures, syntax.

No Sui toolchain can be installed here, so these read the `.move` sources as text (and parse them
with Mysten's tree-sitter grammar); `sui move test` runs the Move unit tests where the CLI exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from k3s_daas.chain.event_layouts import EVENT_LAYOUTS
from k3s_daas.seal import constants
from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
SOURCES = sorted((CONTRACTS / "sources").glob("*.move"))
TESTS = sorted((CONTRACTS / "tests").glob("*.move"))
PROTOCOL = ROOT / "docs" / "protocol.md"
CHECKER = ROOT / ".tools" / "check-move.mjs"

CONST_RE = re.compile(r"^\s*const\s+(\w+)\s*:\s*u(?:8|16|32|64)\s*=\s*(\d+)\s*;", re.M)
MODULE_RE = re.compile(r"^module\s+k3s_daas::(\w+)\s*;", re.M)
ABORT_NAME_RE = re.compile(r"E[A-Z][a-z]\w*")  # Move abort codes are ECamelCase
EXPECTED_FAILURE_RE = re.compile(r"expected_failure\s*\(\s*abort_code\s*=\s*(\w+)::(E\w+)\s*\)")
PUBLIC_FUN_RE = re.compile(
    r"public\s+fun\s+(\w+)\s*(?:<[^>]*>)?\s*\((.*?)\)\s*(?::\s*([^{]+?))?\s*\{", re.S
)

# Non-abort constants the contract uses; every E_* constant is added to these automatically.
CONTRACT_CONSTANTS = [
    "MIN_STAKE",
    "STANDARD_THRESHOLD",
    "PREMIUM_THRESHOLD",
    "TOKEN_LIFETIME_EPOCHS",
    "UNBONDING_EPOCHS",
    "STAKE_TYPE_NODE",
    "STAKE_TYPE_USER",
    "STATUS_ACTIVE",
    "STATUS_WITHDRAWING",
    "STATUS_SLASHED",
    "STATUS_WITHDRAWN",
    "TIER_BASIC",
    "TIER_STANDARD",
    "TIER_PREMIUM",
    "TOKEN_HASH_LENGTH",
    "PCR_LENGTH",
    "ENCLAVE_KEY_LENGTH",
    "MAX_NODE_ID_LENGTH",
    "MAX_ENDPOINT_LENGTH",
]
STRUCTS = ["AdminCap", "StakingPool", "StakeRecord", "SealToken", "EnclaveConfig", "Enclave"]


# --- naming rule ---------------------------------------------------------------------------------
def move_name(python_name: str) -> str:
    """E_NOT_STAKER -> ENotStaker; every other constant keeps its UPPER_SNAKE name."""
    if python_name.startswith("E_"):
        return "E" + "".join(part.capitalize() for part in python_name[2:].split("_"))
    return python_name


def python_name(move_const: str) -> str:
    """The inverse of `move_name`: ENotStaker -> E_NOT_STAKER."""
    if ABORT_NAME_RE.fullmatch(move_const):
        return "E_" + re.sub(r"(?<!^)(?=[A-Z])", "_", move_const[1:]).upper()
    return move_const


# --- parsing helpers -----------------------------------------------------------------------------
def module_of(path: Path) -> str:
    found = MODULE_RE.search(path.read_text())
    assert found, f"{path.name} declares no `module k3s_daas::<name>;`"
    return found.group(1)


def move_constants() -> dict[tuple[str, str], int]:
    """(module, name) -> value for every integer `const` in contracts/sources."""
    found: dict[tuple[str, str], int] = {}
    for path in SOURCES:
        for name, value in CONST_RE.findall(path.read_text()):
            found[(module_of(path), name)] = int(value)
    return found


def python_constants() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(constants).items()
        if name.isupper() and isinstance(value, int) and not isinstance(value, bool)
    }


def split_top_level(text: str) -> list[str]:
    """Split on commas outside <...> and (...), dropping empty parts."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def typed_fields(body: str) -> list[tuple[str, str | None]]:
    """`a: T, b` -> [("a", "T"), ("b", None)] with whitespace removed from types."""
    body = re.sub(r"//[^\n]*", "", body)
    out: list[tuple[str, str | None]] = []
    for part in split_top_level(body):
        name, _, typ = part.partition(":")
        out.append((name.strip(), squash(typ) if typ.strip() else None))
    return out


def protocol_section_2() -> str:
    text = PROTOCOL.read_text()
    start = text.index("## 2.")
    end = text.index("## 3.", start)
    return text[start:end]


def struct_decl(text: str, struct: str) -> tuple[set[str], list[tuple[str, str | None]]] | None:
    found = re.search(rf"public struct {struct} has ([^{{]*)\{{([^}}]*)\}}", text)
    if not found:
        return None
    abilities = {a.strip() for a in found.group(1).split(",")}
    return abilities, typed_fields(found.group(2))


def move_struct(struct: str) -> tuple[set[str], list[tuple[str, str | None]]]:
    for path in SOURCES:
        decl = struct_decl(path.read_text(), struct)
        if decl:
            return decl
    raise AssertionError(f"struct {struct} is not in contracts/sources")


def move_public_functions() -> dict[str, tuple[list[tuple[str, str | None]], str | None]]:
    found: dict[str, tuple[list[tuple[str, str | None]], str | None]] = {}
    for path in SOURCES:
        for name, params, ret in PUBLIC_FUN_RE.findall(path.read_text()):
            found[name] = (typed_fields(params), squash(ret) if ret else None)
    return found


def protocol_functions() -> dict[str, tuple[list[tuple[str, str | None]], str | None]]:
    rows = re.findall(r"^\| `(\w+)\(([^)]*)\)(?::\s*([^`]+))?`", protocol_section_2(), re.M)
    assert len(rows) >= 16, "docs/protocol.md §2 function tables not found"
    return {
        name: (typed_fields(params), squash(ret) if ret else None) for name, params, ret in rows
    }


def protocol_events() -> dict[str, list[tuple[str, str | None]]]:
    events = re.findall(r"`([A-Z]\w+) \{([^}`]*)\}`", protocol_section_2())
    assert len(events) >= 10, "docs/protocol.md §2 events not found"
    return {name: typed_fields(body) for name, body in events}


# --- (a) constants -------------------------------------------------------------------------------
def test_sources_exist() -> None:
    assert {p.name for p in SOURCES} == {"staking.move", "k8s_gateway.move", "nautilus.move"}
    assert {module_of(p) for p in SOURCES} == {"staking", "k8s_gateway", "nautilus"}
    manifest = (CONTRACTS / "Move.toml").read_text()
    assert re.search(r'^name\s*=\s*"k3s_daas"', manifest, re.M)
    assert re.search(r'^edition\s*=\s*"2024"', manifest, re.M)


def test_naming_rule_round_trips() -> None:
    for name in python_constants():
        assert python_name(move_name(name)) == name
    assert move_name("E_PCR_MISMATCH") == "EPcrMismatch"
    assert move_name("MIN_STAKE") == "MIN_STAKE"


@pytest.mark.parametrize(
    "name", CONTRACT_CONSTANTS + sorted(n for n in python_constants() if n.startswith("E_"))
)
def test_python_constant_equals_move(name: str) -> None:
    expected = python_constants().get(name)
    assert expected is not None, f"{name} is no longer in k3s_daas.seal.constants"
    values = {v for (_, n), v in move_constants().items() if n == move_name(name)}
    assert values, f"{move_name(name)} is not defined in contracts/sources"
    assert values == {expected}, f"{move_name(name)} = {values} in Move, {expected} in Python"


def test_every_move_constant_has_a_python_twin() -> None:
    python = python_constants()
    for (module, name), value in move_constants().items():
        twin = python_name(name)
        assert twin in python, f"{module}::{name} has no constant {twin} in Python"
        assert python[twin] == value, f"{module}::{name} = {value}, Python {twin} = {python[twin]}"


# --- (b) abort coverage --------------------------------------------------------------------------
def test_every_abort_code_has_an_expected_failure_test() -> None:
    referenced = set()
    for path in TESTS:
        referenced |= set(EXPECTED_FAILURE_RE.findall(path.read_text()))
    defined = {key for key in move_constants() if ABORT_NAME_RE.fullmatch(key[1])}
    untested = sorted(f"{m}::{n}" for m, n in defined - referenced)
    assert not untested, f"abort codes without an expected_failure test: {untested}"
    unknown = sorted(f"{m}::{n}" for m, n in referenced - defined)
    assert not unknown, f"expected_failure names an abort code that is not defined: {unknown}"


def test_every_public_function_has_a_happy_path_test() -> None:
    tests_text = "\n".join(p.read_text() for p in TESTS)
    # register/update take a verified document: their tests go through the *_for_testing twins.
    twins = {"register_enclave": "register_for_testing", "update_enclave": "update_for_testing"}
    for name in protocol_functions():
        called = twins.get(name, name)
        assert re.search(rf"(::|\.){called}\(", tests_text), f"no Move test calls {called}"


# --- (c) the grammar check -----------------------------------------------------------------------
def run_checker(folder: Path) -> subprocess.CompletedProcess[str]:
    require_tool(shutil.which("node") is not None, "node")
    require_tool((ROOT / ".tools" / "node_modules").is_dir(), "npm tools in .tools (make test)")
    return subprocess.run(
        ["node", str(CHECKER), str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_move_sources_parse_with_mysten_grammar() -> None:
    result = run_checker(CONTRACTS)
    assert result.returncode == 0, result.stdout + result.stderr
    total = len(SOURCES) + len(TESTS)
    assert f"{total} of {total} Move files parse" in result.stdout


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("public fun withdraw(", "public fun withdraw(("),  # stray parenthesis
        ("withdraw_all(), ctx);", "withdraw_all(), ctx)"),  # no ; before the next statement
        ("let amount = payment.value();", "let amount = ;"),  # missing expression
    ],
)
def test_checker_rejects_a_syntax_error(tmp_path: Path, old: str, new: str) -> None:
    text = (CONTRACTS / "sources" / "staking.move").read_text()
    assert old in text
    (tmp_path / "good.move").write_text(text)
    (tmp_path / "broken.move").write_text(text.replace(old, new, 1))
    result = run_checker(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"^FAIL  .*broken\.move:\d+:\d+: ", result.stdout, re.M), result.stdout
    assert "good.move" in result.stdout and "1 of 2 Move files parse" in result.stdout


# --- (d) layouts and signatures ------------------------------------------------------------------
@pytest.mark.parametrize("struct", STRUCTS)
def test_struct_layout_matches_protocol(struct: str) -> None:
    documented = struct_decl(protocol_section_2(), struct)
    assert documented, f"{struct} is not in docs/protocol.md §2"
    abilities, fields = move_struct(struct)
    assert [name for name, _ in fields] == [name for name, _ in documented[1]]
    assert fields == documented[1]
    assert abilities == documented[0]


def test_protocol_events_match_move_events() -> None:
    for event, documented in protocol_events().items():
        abilities, fields = move_struct(event)
        assert abilities == {"copy", "drop"}, event
        assert [name for name, _ in fields] == [name for name, _ in documented], event
        for (name, typ), (_, doc_typ) in zip(fields, documented, strict=True):
            assert doc_typ in (None, typ), f"{event}.{name}: {typ} in Move, {doc_typ} in protocol"


def test_product_event_layouts_match_move_events() -> None:
    """The product decodes events with `chain.event_layouts`: the same fields, types and order as
    the Move structs, in the module that declares them, and every event struct is covered."""
    declared: dict[str, str] = {}
    for path in SOURCES:
        for name in re.findall(r"public struct (\w+) has copy, drop", path.read_text()):
            declared[name] = module_of(path)
    assert {layout.name: layout.module for layout in EVENT_LAYOUTS} == declared
    for layout in EVENT_LAYOUTS:
        _, fields = move_struct(layout.name)
        assert [(n, str(k)) for n, k in layout.fields] == fields, layout.name


def test_protocol_functions_exist_with_their_signatures() -> None:
    in_move = move_public_functions()
    for name, (params, ret) in protocol_functions().items():
        assert name in in_move, f"public fun {name} is not in contracts/sources"
        move_params, move_ret = in_move[name]
        move_names = [n if n == "_" else n.lstrip("_") for n, _ in move_params]
        assert move_names == [n for n, _ in params], f"{name}: parameters differ"
        for (pname, typ), (_, move_typ) in zip(params, move_params, strict=True):
            assert typ in (None, move_typ), f"{name}({pname}): {move_typ} in Move, {typ} in doc"
        if ret is not None:
            assert move_ret == ret, f"{name} returns {move_ret} in Move, {ret} in protocol"
