"""`k3s_daas::nautilus` in Python: the enclave registry (expected PCRs, one Enclave per master,
enclaves listed by tier) — as contracts/sources/nautilus.move.

The attestation document arrives already verified by `0x2::nitro_attestation::
load_nitro_attestation` (framework.py: chain to the devnet's pinned root, signature, validity at
the Clock's time); these functions compare its PCRs with the config and take its public key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k3s_daas.devnet.objects import StoredObject
from k3s_daas.devnet.package.runtime import AttestationFields, MoveAbort, Runtime, type_of, u64
from k3s_daas.seal import constants as c
from k3s_daas.seal.encoding import b64decode, b64encode

MODULE = "nautilus"
TIER_LISTS = ("basic", "standard", "premium")  # EnclaveConfig fields, indexed by tier


def _abort(function: str, code: int) -> MoveAbort:
    """The abort location is the Move function holding the `assert!`, as on Sui."""
    return MoveAbort(MODULE, function, code)


def pick_enclave(config: StoredObject, tier: int) -> str | None:
    """The newest enclave of the highest tier not above `tier` (premium falls back)."""
    for level in range(min(tier, c.TIER_PREMIUM), -1, -1):
        enclaves = config.fields[TIER_LISTS[level]]
        if enclaves:
            return str(enclaves[-1])
    return None


def _check_fields(config: StoredObject, doc: AttestationFields, endpoint: str) -> bytes:
    if doc.public_key is None or not doc.verified:  # devnet: unverified documents too
        raise _abort("check_fields", c.E_INVALID_ATTESTATION)
    f = config.fields
    pcrs = [doc.pcrs.get(i, b"") for i in range(3)]
    # Fail closed: until update_pcrs has run the expected PCRs are empty and nothing matches.
    if len(pcrs[0]) != c.PCR_LENGTH or any(pcrs[i] != b64decode(f[f"pcr{i}"]) for i in range(3)):
        raise _abort("check_fields", c.E_PCR_MISMATCH)
    if len(doc.public_key) != c.ENCLAVE_KEY_LENGTH:
        raise _abort("check_fields", c.E_INVALID_PUBLIC_KEY)
    if not 0 < len(endpoint.encode()) <= c.MAX_ENDPOINT_LENGTH:
        raise _abort("check_fields", c.E_INVALID_ENDPOINT)
    return doc.public_key


def register_enclave(
    rt: Runtime, config: StoredObject, doc: AttestationFields, endpoint: str, tier: int
) -> list[Any]:
    """Share an Enclave for this master and list it under its tier. Returns its ID."""
    key = _check_fields(config, doc, endpoint)
    if tier not in (c.TIER_BASIC, c.TIER_STANDARD, c.TIER_PREMIUM):
        raise _abort("register_verified", c.E_INVALID_TIER)
    f = config.fields
    pcrs = {f"pcr{i}": b64encode(doc.pcrs.get(i, b"")) for i in range(3)}
    enclave = rt.new_object(
        type_of(rt, MODULE, "Enclave"),
        {
            "id": "",
            "operator": rt.sender,
            "endpoint": endpoint,
            "tier": tier,
            "public_key": b64encode(key),
            **pcrs,
            "config_version": f["version"],
            "registered_at_ms": str(doc.timestamp_ms),
        },
        shared=True,
    )
    f[TIER_LISTS[tier]].append(enclave.object_id)
    rt.emit(
        MODULE,
        "EnclaveRegistered",
        {
            "enclave_id": enclave.object_id,
            "operator": rt.sender,
            "tier": tier,
            "endpoint": endpoint,
            "public_key": b64encode(key),
        },
    )
    return [enclave.object_id]


def update_enclave(
    rt: Runtime, enclave: StoredObject, config: StoredObject, doc: AttestationFields, endpoint: str
) -> list[Any]:
    """A restarted master has a new ephemeral key: same Enclave object, new key."""
    if rt.sender != enclave.fields["operator"]:
        raise _abort("update_verified", c.E_NOT_OPERATOR)
    key = _check_fields(config, doc, endpoint)
    enclave.fields.update(
        public_key=b64encode(key),
        **{f"pcr{i}": b64encode(doc.pcrs.get(i, b"")) for i in range(3)},
        endpoint=endpoint,
        config_version=config.fields["version"],
        registered_at_ms=str(doc.timestamp_ms),
    )
    rt.emit(
        MODULE, "EnclaveUpdated", {"enclave_id": enclave.object_id, "public_key": b64encode(key)}
    )
    return []


def update_pcrs(
    rt: Runtime, _cap: StoredObject, config: StoredObject, pcr0: bytes, pcr1: bytes, pcr2: bytes
) -> list[Any]:
    """AdminCap: pin the measurements of the released master image; bumps `version`."""
    if any(len(p) != c.PCR_LENGTH for p in (pcr0, pcr1, pcr2)):
        raise _abort("update_pcrs", c.E_INVALID_PCR_LENGTH)
    f = config.fields
    f.update(
        pcr0=b64encode(pcr0),
        pcr1=b64encode(pcr1),
        pcr2=b64encode(pcr2),
        version=str(u64(f["version"]) + 1),
    )
    rt.emit(MODULE, "PcrsUpdated", {"version": f["version"]})
    return []


def _pick(_rt: Runtime, config: StoredObject, tier: int) -> list[Any]:
    return [pick_enclave(config, tier)]


def _expected_pcrs(_rt: Runtime, config: StoredObject) -> list[Any]:
    return [b64decode(config.fields[f"pcr{i}"]) for i in range(3)]


def _field(name: str, kind: str) -> Callable[..., list[Any]]:
    def get(_rt: Runtime, obj: StoredObject) -> list[Any]:
        value = obj.fields[name]
        if kind in ("u8", "u64"):
            return [int(value)]
        return [b64decode(value) if kind == "vector<u8>" else value]

    return get


SPEC: list[tuple[str, str, tuple[str, ...], Callable[..., list[Any]], str | None]] = [
    ("register_enclave", "mut:config val:doc pure:string pure:u8", ("id",), register_enclave,
     "mutable"),
    ("update_enclave", "mut:enclave ref:config val:doc pure:string", (), update_enclave,
     "immutable"),
    ("update_pcrs", "ref:cap mut:config pure:vector<u8> pure:vector<u8> pure:vector<u8>", (),
     update_pcrs, None),
    ("pick_enclave", "ref:config pure:u8", ("option<id>",), _pick, None),
    ("operator", "ref:enclave", ("address",), _field("operator", "address"), None),
    ("public_key", "ref:enclave", ("vector<u8>",), _field("public_key", "vector<u8>"), None),
    ("endpoint", "ref:enclave", ("string",), _field("endpoint", "string"), None),
    ("tier", "ref:enclave", ("u8",), _field("tier", "u8"), None),
    ("config_version", "ref:enclave", ("u64",), _field("config_version", "u64"), None),
    ("version", "ref:config", ("u64",), _field("version", "u64"), None),
    ("expected_pcrs", "ref:config", ("vector<u8>", "vector<u8>", "vector<u8>"), _expected_pcrs,
     None),
]  # fmt: skip
