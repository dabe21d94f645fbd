"""The product decodes every event of our package from BCS built independently (pysui's canoser,
field by field as the Move sources declare them), matches events by full type only, and never
reads `Event.json`; the devnet's encoder writes the same bytes."""

from __future__ import annotations

from typing import Any

import canoser  # type: ignore[import-untyped]  # pysui's BCS library, no stubs
import pytest
from pysui.sui.sui_grpc.suimsgs.google.protobuf import Value
from pysui.sui.sui_grpc.suimsgs.sui.rpc import v2

from k3s_daas.chain import ChainError, checkpoint_events
from k3s_daas.chain.convert import event_data, event_fields
from k3s_daas.chain.event_layouts import EVENT_LAYOUTS, EventDecodeError, layout_of
from k3s_daas.devnet.layouts import struct_bcs
from k3s_daas.seal.encoding import b64encode

PKG = "0x" + "0d" * 32
OTHER = "0x" + "0e" * 32
ID_A, ID_B, ADDR, ENCLAVE = ("0x" + h * 32 for h in ("a1", "b2", "c3", "e4"))

Address = canoser.ArrayT(canoser.Uint8, 32, False)
Strings = canoser.ArrayT(canoser.StrT)


def _addr(text: str) -> list[int]:
    return list(bytes.fromhex(text[2:]))


def struct(name: str, *fields: tuple[str, Any]) -> Any:
    """A canoser struct class; built with `type` because canoser is untyped (no subclassing)."""
    return type(name, (canoser.Struct,), {"_fields": list(fields)})


StakeCreated = struct(
    "StakeCreated",
    ("stake_id", Address),
    ("staker", Address),
    ("node_id", canoser.StrT),
    ("stake_type", canoser.Uint8),
    ("amount", canoser.Uint64),
)
UnstakeRequested = struct(
    "UnstakeRequested",
    ("stake_id", Address),
    ("staker", Address),
    ("node_id", canoser.StrT),
    ("unbonding_epoch", canoser.Uint64),
)
StakeWithdrawn = struct(
    "StakeWithdrawn", ("stake_id", Address), ("staker", Address), ("amount", canoser.Uint64)
)
StakeSlashed = struct(
    "StakeSlashed",
    ("stake_id", Address),
    ("staker", Address),
    ("node_id", canoser.StrT),
    ("amount", canoser.Uint64),
    ("remaining", canoser.Uint64),
)
SealTokenCreated = struct(
    "SealTokenCreated",
    ("token_id", Address),
    ("stake_id", Address),
    ("owner", Address),
    ("node_id", canoser.StrT),
    ("permissions", Strings),
    ("tier", canoser.Uint8),
    ("expires_at", canoser.Uint64),
    ("enclave", Address),
)
SealTokenRotated = struct(
    "SealTokenRotated", ("token_id", Address), ("owner", Address), ("expires_at", canoser.Uint64)
)
SealTokenRevoked = struct("SealTokenRevoked", ("token_id", Address), ("owner", Address))
EnclaveRegistered = struct(
    "EnclaveRegistered",
    ("enclave_id", Address),
    ("operator", Address),
    ("tier", canoser.Uint8),
    ("endpoint", canoser.StrT),
    ("public_key", canoser.BytesT()),
)
EnclaveUpdated = struct("EnclaveUpdated", ("enclave_id", Address), ("public_key", canoser.BytesT()))
PcrsUpdated = struct("PcrsUpdated", ("version", canoser.Uint64))


BIG = 2**64 - 1  # u64 max: catches a signed or short read
KEY = bytes(range(32))
#: (module, struct, field values: what canoser encodes and, typed, what the product must yield)
CASES: list[tuple[str, Any, dict[str, Any]]] = [
    (
        "staking",
        StakeCreated,
        {"stake_id": ID_A, "staker": ADDR, "node_id": "wörker-1", "stake_type": 1, "amount": BIG},
    ),
    (
        "staking",
        UnstakeRequested,
        {"stake_id": ID_A, "staker": ADDR, "node_id": "w", "unbonding_epoch": 7},
    ),
    ("staking", StakeWithdrawn, {"stake_id": ID_A, "staker": ADDR, "amount": 1_000}),
    (
        "staking",
        StakeSlashed,
        {"stake_id": ID_A, "staker": ADDR, "node_id": "", "amount": 300, "remaining": 700},
    ),
    (
        "k8s_gateway",
        SealTokenCreated,
        {
            "token_id": ID_B,
            "stake_id": ID_A,
            "owner": ADDR,
            "node_id": "w" * 64,
            "permissions": ["pods:read", "*:*"],
            "tier": 2,
            "expires_at": 2**40,
            "enclave": ENCLAVE,
        },
    ),
    ("k8s_gateway", SealTokenRotated, {"token_id": ID_B, "owner": ADDR, "expires_at": 9}),
    ("k8s_gateway", SealTokenRevoked, {"token_id": ID_B, "owner": ADDR}),
    (
        "nautilus",
        EnclaveRegistered,
        {
            "enclave_id": ENCLAVE,
            "operator": ADDR,
            "tier": 0,
            "endpoint": "https://m:8443",
            "public_key": KEY,
        },
    ),
    ("nautilus", EnclaveUpdated, {"enclave_id": ENCLAVE, "public_key": KEY}),
    ("nautilus", PcrsUpdated, {"version": 3}),
]
ADDRESS_FIELDS = {"stake_id", "staker", "token_id", "owner", "enclave", "enclave_id", "operator"}


def independent_bcs(struct: Any, values: dict[str, Any]) -> bytes:
    raw = {k: _addr(v) if k in ADDRESS_FIELDS else v for k, v in values.items()}
    return bytes(struct(**raw).serialize())


def as_json(values: dict[str, Any]) -> dict[str, Any]:
    """Sui's JSON rendering (u64 as strings, bytes base64): what the devnet's encoder reads."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, bytes):
            out[k] = b64encode(v)
        elif isinstance(v, int) and v > 255:
            out[k] = str(v)
        else:
            out[k] = v
    return out


def test_the_cases_cover_every_event_of_the_package() -> None:
    assert {(m, s.__name__) for m, s, _ in CASES} == {(e.module, e.name) for e in EVENT_LAYOUTS}


@pytest.mark.parametrize(("module", "struct", "values"), CASES, ids=[c[1].__name__ for c in CASES])
def test_decodes_independently_built_bcs(module: str, struct: Any, values: dict[str, Any]) -> None:
    data = independent_bcs(struct, values)
    event_type = f"{PKG}::{module}::{struct.__name__}"
    layout = layout_of(event_type, PKG)
    assert layout is not None
    decoded = layout.decode(data)
    assert decoded == values  # ints as int, ids as 0x + 64 hex, strings, bytes, lists
    assert list(decoded) == [name for name, _ in layout.fields]
    assert struct_bcs(event_type, as_json(values)) == data  # the devnet serves the same bytes
    with pytest.raises(EventDecodeError):
        layout.decode(data[:-1])
    with pytest.raises(EventDecodeError):
        layout.decode(data + b"\x00")


def _event(event_type: str, value: bytes | None, module: str = "k8s_gateway") -> v2.Event:
    contents = None if value is None else v2.Bcs(name=event_type, value=value)
    return v2.Event(
        package_id=PKG, module=module, sender=ADDR, event_type=event_type, contents=contents
    )


def test_matched_by_full_type_never_by_module_and_json_is_never_read() -> None:
    values = {"stake_id": ID_A, "staker": ADDR, "node_id": "n", "amount": 5, "remaining": 0}
    data = independent_bcs(StakeSlashed, values)
    upper = "0x" + "0D" * 32 + "::staking::StakeSlashed"  # normalised before matching
    ours = _event(upper, data, module="anything")
    decoded = event_data(ours, 4, "tx", 0, PKG)
    assert decoded.type == f"{PKG}::staking::StakeSlashed"
    assert (decoded.module, decoded.name, decoded.fields) == ("anything", "StakeSlashed", values)
    # Same module::Name in another package: not ours, not decoded.
    foreign = _event(f"{OTHER}::staking::StakeSlashed", data, module="staking")
    assert event_data(foreign, 4, "tx", 1, PKG).fields == {}
    # JSON alone (as an older server might send) is ignored: our event needs its contents.
    only_json = _event(f"{PKG}::staking::StakeSlashed", None)
    only_json.json = Value.from_dict({"stake_id": ID_A})
    with pytest.raises(ChainError) as err:
        event_data(only_json, 4, "tx", 2, PKG)
    assert err.value.reason == "bad_answer"
    assert event_fields(f"{OTHER}::m::E", None, PKG) == {}


def test_malformed_contents_are_a_bad_answer() -> None:
    event_type = f"{PKG}::staking::StakeCreated"
    for bad in (b"", b"\x00" * 64 + b"\x05ab", b"\x00" * 64 + b"\x02\xff\xfe\x01" + bytes(8)):
        with pytest.raises(ChainError) as err:
            event_fields(event_type, v2.Bcs(name=event_type, value=bad), PKG)
        assert err.value.reason == "bad_answer"


def test_checkpoint_events_keep_coordinates_and_only_the_package_types() -> None:
    """A node fills no checkpoint, digest or index on events: they come from the enclosing
    checkpoint and transaction, and `index` counts the foreign events too."""
    revoked = independent_bcs(SealTokenRevoked, {"token_id": ID_B, "owner": ADDR})
    events = [
        _event(f"{OTHER}::x::Y", b"\x01"),
        _event(f"{PKG}::k8s_gateway::SealTokenRevoked", revoked),
    ]
    tx = v2.ExecutedTransaction(digest="D1", events=v2.TransactionEvents(events=events))
    [event] = checkpoint_events(v2.Checkpoint(sequence_number=9, transactions=[tx]), PKG)
    assert (event.checkpoint, event.tx_digest, event.index) == (9, "D1", 1)
    assert event.fields == {"token_id": ID_B, "owner": ADDR}
