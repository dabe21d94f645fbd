"""Our objects decoded from their Move BCS (`chain.object_layouts`): the layouts follow the Move
sources field for field, and the decoded fields are what `chain.views` parses from a node's JSON."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from k3s_daas.chain.certified import BcsError, bcs
from k3s_daas.chain.object_layouts import OBJECT_LAYOUTS, object_fields
from k3s_daas.chain.records import ObjectData
from k3s_daas.chain.views import SealTokenView, StakeRecordView
from k3s_daas.seal.sui import normalize_address

SOURCES = Path(__file__).parents[2] / "contracts" / "sources"
PACKAGE = normalize_address("0xabc")
_TYPES = {"Balance<SUI>": "Balance", "Table<String, ID>": "Table"}


def _declared(module: str, struct: str) -> list[tuple[str, str]]:
    text = (SOURCES / f"{module}.move").read_text()
    body = re.search(rf"public struct {struct} has key \{{(.*?)\}}", text, re.S)
    assert body is not None, struct
    fields = re.findall(r"^\s*(\w+): (.+),\s*$", body.group(1), re.M)
    return [(name, _TYPES.get(kind.strip(), kind.strip())) for name, kind in fields]


@pytest.mark.parametrize(("module", "struct"), list(OBJECT_LAYOUTS))
def test_layouts_follow_the_move_sources(module: str, struct: str) -> None:
    assert list(OBJECT_LAYOUTS[(module, struct)]) == _declared(module, struct)


def _stake_record_bcs(status: int) -> bytes:
    return (
        bcs.address("0x1") + bcs.address("0x2") + bcs.address("0x3") + bcs.string("node-a")
        + bcs.u8(0) + bcs.u64(2**63) + bcs.u64(5) + bcs.u8(status) + bcs.u64(1) + bcs.u64(0)
    )  # fmt: skip


def test_decoded_fields_are_what_the_views_parse() -> None:
    kind = f"{PACKAGE}::staking::StakeRecord"
    fields = object_fields(kind, _stake_record_bcs(2), PACKAGE)
    assert fields is not None and fields["balance"] == str(2**63)  # a u64 past a double
    obj = ObjectData(normalize_address("0x1"), 3, kind, None, True, fields)
    record = StakeRecordView.from_object(obj, PACKAGE)
    assert (record.status, record.balance, record.node_id) == (2, 2**63, "node-a")
    assert record.staker == normalize_address("0x3")
    token = (
        bcs.address("0x9") + bcs.byte_vector(b"\x01" * 32) + bcs.address("0x3")
        + bcs.string("node-a") + bcs.address("0x1") + bcs.u64(7) + bcs.u8(0)
        + bcs.vector(["pods:read", "*:*"], bcs.string) + bcs.u8(2) + bcs.u64(1) + bcs.u64(9)
        + bcs.address("0x4")
    )  # fmt: skip
    token_type = f"{PACKAGE}::k8s_gateway::SealToken"
    token_fields = object_fields(token_type, token, PACKAGE)
    assert token_fields is not None
    view = SealTokenView.from_object(
        ObjectData(normalize_address("0x9"), 4, token_type, None, False, token_fields), PACKAGE
    )
    assert view.token_hash == b"\x01" * 32 and view.permissions == ("pods:read", "*:*")


def test_other_types_and_bad_bytes() -> None:
    assert (
        object_fields(f"{normalize_address('0xdef')}::staking::StakeRecord", b"", PACKAGE) is None
    )
    with pytest.raises(BcsError):
        object_fields(f"{PACKAGE}::staking::StakeRecord", _stake_record_bcs(0)[:-1], PACKAGE)
    with pytest.raises(BcsError):
        object_fields(f"{PACKAGE}::staking::StakeRecord", _stake_record_bcs(0) + b"\0", PACKAGE)
