"""Tiers, permissions and their Kubernetes meaning, table-driven and exhaustive."""

from __future__ import annotations

import itertools

import pytest

from k3s_daas.seal import (
    Claims,
    StakeThresholds,
    Tier,
    allows,
    intersect_requested,
    permissions_for,
    tier_for,
)
from k3s_daas.seal.constants import STAKE_TYPE_NODE, STAKE_TYPE_USER
from k3s_daas.seal.errors import PermissionFormatError
from k3s_daas.seal.permissions import (
    ACTION_SUBRESOURCES,
    READ_VERBS,
    RESOURCE_GROUPS,
    WRITE_VERBS,
    parse_permission,
)


@pytest.mark.parametrize(
    ("amount", "tier", "perms"),
    [
        (0, None, []),
        (99, None, []),
        (100, Tier.BASIC, ["pods:read", "services:read"]),
        (999, Tier.BASIC, ["pods:read", "services:read"]),
        (1000, Tier.STANDARD, ["pods:read", "services:read", "nodes:write", "pods:write"]),
        (9999, Tier.STANDARD, ["pods:read", "services:read", "nodes:write", "pods:write"]),
        (10000, Tier.PREMIUM, ["pods:read", "services:read", "nodes:write", "pods:write", "*:*"]),
        (10**18, Tier.PREMIUM, ["pods:read", "services:read", "nodes:write", "pods:write", "*:*"]),
    ],
)
def test_seed_tiers(amount: int, tier: Tier | None, perms: list[str]) -> None:
    assert tier_for(amount) == tier
    assert permissions_for(amount) == perms


def test_thresholds_are_data() -> None:
    custom = StakeThresholds(min_stake=5, standard=50, premium=500)
    assert tier_for(5, custom) is Tier.BASIC
    assert tier_for(50, custom) is Tier.STANDARD
    assert permissions_for(500, custom)[-1] == "*:*"
    with pytest.raises(ValueError):
        StakeThresholds(min_stake=10, standard=5, premium=20)
    with pytest.raises(ValueError):
        StakeThresholds(min_stake=0)


def test_intersect_requested_keeps_order_and_drops_unknown() -> None:
    allowed = permissions_for(1000)
    got = intersect_requested(["pods:write", "*:*", "pods:read", "pods:write"], allowed)
    assert got == ["pods:write", "pods:read"]
    assert intersect_requested(["*:*"], allowed) == []


VERBS = sorted(READ_VERBS | WRITE_VERBS | {"escalate", "impersonate"})
SUBRESOURCES = ["", "status", "log", "exec", "binding", "eviction", "proxy"]


def expected(perm: str, verb: str, group: str, resource: str, sub: str) -> bool:
    """An independent statement of the rules, used to check `allows` exhaustively."""
    res, action = perm.split(":")
    if perm == "*:*":
        return True
    if resource not in RESOURCE_GROUPS or RESOURCE_GROUPS[resource] != group:
        return False
    if res not in ("*", resource):
        return False
    verbs = READ_VERBS if action == "read" else READ_VERBS | WRITE_VERBS
    return verb in verbs and sub in ACTION_SUBRESOURCES[action]


@pytest.mark.parametrize(
    "perm", ["pods:read", "pods:write", "services:read", "nodes:write", "*:read", "*:*"]
)
def test_allows_exhaustive(perm: str) -> None:
    targets = [*RESOURCE_GROUPS.items(), ("secrets", ""), ("pods", "apps"), ("widgets", "x.io")]
    for verb, (resource, group), sub in itertools.product(VERBS, targets, SUBRESOURCES):
        assert allows([perm], verb, group, resource, sub) == expected(
            perm, verb, group, resource, sub
        ), (perm, verb, group, resource, sub)


@pytest.mark.parametrize(
    ("perms", "verb", "resource", "sub", "result"),
    [
        (["pods:read"], "get", "pods", "", True),
        (["pods:read"], "list", "pods", "", True),
        (["pods:read"], "watch", "pods", "", True),
        (["pods:read"], "get", "pods", "log", True),
        (["pods:read"], "create", "pods", "exec", False),
        (["pods:read"], "delete", "pods", "", False),
        (["pods:read"], "get", "services", "", False),
        (["nodes:write"], "patch", "nodes", "", True),
        (["nodes:write"], "patch", "nodes", "status", True),
        (["pods:write"], "create", "pods", "exec", False),
        (["*:*"], "create", "pods", "exec", True),
        (["*:*"], "get", "secrets", "", True),
        ([], "get", "pods", "", False),
        (["garbage", "pods"], "get", "pods", "", False),
        (["GET", "pods:read"], "GET", "pods", "", True),  # verbs are case-insensitive
    ],
)
def test_allows_examples(
    perms: list[str], verb: str, resource: str, sub: str, result: bool
) -> None:
    assert allows(perms, verb, "", resource, sub) is result


@pytest.mark.parametrize("bad", ["", "pods", "pods:", ":read", "pods:admin", "Pods:read", "a" * 81])
def test_parse_permission_rejects(bad: str) -> None:
    with pytest.raises(PermissionFormatError):
        parse_permission(bad)


def make_claims(stake_type: int, perms: tuple[str, ...]) -> Claims:
    return Claims(
        owner="0x" + "ab" * 32,
        node_id="worker-1" if stake_type == STAKE_TYPE_NODE else "",
        stake_type=stake_type,
        stake_amount=1000,
        permissions=perms,
        tier=Tier.STANDARD,
        expires_at_epoch=100,
        token_id="0x" + "01" * 32,
        stake_record_id="0x" + "02" * 32,
        enclave_id="0x" + "03" * 32,
    )


def test_claims_identity_for_nodes_and_users() -> None:
    node = make_claims(STAKE_TYPE_NODE, ("pods:read",))
    assert node.username == "system:node:worker-1"
    assert "system:nodes" in node.groups
    user = make_claims(STAKE_TYPE_USER, ("pods:read", "nodes:write"))
    assert user.username == "seal:0x" + "ab" * 32
    assert user.groups[:3] == ["seal:tier:standard", "seal:perm:pods:read", "seal:perm:nodes:write"]


def test_claims_are_strict() -> None:
    with pytest.raises(ValueError):
        Claims.model_validate({**make_claims(0, ()).model_dump(), "extra": 1})
