"""Stake tiers, the permissions a stake earns, and their meaning in Kubernetes terms.

Thresholds are data (`StakeThresholds`): on chain they are `StakingPool` settings, read at run
time; the defaults are the seed's. `allows` is what the SubjectAccessReview webhook and the
standalone API consult.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from k3s_daas.seal import constants as c
from k3s_daas.seal.errors import PermissionFormatError


class Tier(IntEnum):
    """TEE tier, u8 on chain; also the enclave tier a token is assigned to."""

    BASIC = c.TIER_BASIC
    STANDARD = c.TIER_STANDARD
    PREMIUM = c.TIER_PREMIUM

    @property
    def label(self) -> str:
        return _TIER_LABELS[self]  # one string per tier, not one per worker record


_TIER_LABELS: Final = {tier: tier.name.lower() for tier in Tier}


@dataclass(frozen=True, slots=True)
class StakeThresholds:
    """Pool settings in MIST (min_stake is the basic threshold)."""

    min_stake: int = c.MIN_STAKE
    standard: int = c.STANDARD_THRESHOLD
    premium: int = c.PREMIUM_THRESHOLD

    def __post_init__(self) -> None:
        if not 0 < self.min_stake <= self.standard <= self.premium:
            raise ValueError("thresholds must satisfy 0 < min_stake <= standard <= premium")


DEFAULT_THRESHOLDS: Final = StakeThresholds()

PODS_READ: Final = "pods:read"
SERVICES_READ: Final = "services:read"
NODES_WRITE: Final = "nodes:write"
PODS_WRITE: Final = "pods:write"
ALL: Final = "*:*"

# (tier reached, permissions it adds), in order; each tier keeps the ones below it.
_GRANTS: Final[tuple[tuple[Tier, tuple[str, ...]], ...]] = (
    (Tier.BASIC, (PODS_READ, SERVICES_READ)),
    (Tier.STANDARD, (NODES_WRITE, PODS_WRITE)),
    (Tier.PREMIUM, (ALL,)),
)


def tier_for(amount: int, thresholds: StakeThresholds = DEFAULT_THRESHOLDS) -> Tier | None:
    """The tier a stake of `amount` MIST reaches, or None below the minimum stake."""
    if amount >= thresholds.premium:
        return Tier.PREMIUM
    if amount >= thresholds.standard:
        return Tier.STANDARD
    if amount >= thresholds.min_stake:
        return Tier.BASIC
    return None


def permissions_for(amount: int, thresholds: StakeThresholds = DEFAULT_THRESHOLDS) -> list[str]:
    """Permissions earned by a stake, in the order the contract's `calculate_permissions` emits."""
    tier = tier_for(amount, thresholds)
    if tier is None:
        return []
    return [perm for reached, perms in _GRANTS if reached <= tier for perm in perms]


def intersect_requested(requested: Iterable[str], allowed: Iterable[str]) -> list[str]:
    """Requested ∩ allowed, keeping the request's order and dropping duplicates (user tokens)."""
    allowed_set = set(allowed)
    out: list[str] = []
    for perm in requested:
        if perm in allowed_set and perm not in out:
            out.append(perm)
    return out


# ---- Kubernetes meaning -----------------------------------------------------------------------

_PERMISSION_RE: Final = re.compile(r"(\*|[a-z][a-z0-9-]{0,62}):(read|write|\*)")

READ_VERBS: Final = frozenset({"get", "list", "watch"})
WRITE_VERBS: Final = frozenset({"create", "update", "patch", "delete", "deletecollection"})

ACTION_VERBS: Final[dict[str, frozenset[str]]] = {
    "read": READ_VERBS,
    "write": READ_VERBS | WRITE_VERBS,  # one cannot patch what one cannot get
    "*": READ_VERBS | WRITE_VERBS,
}

# Which subresources each action reaches; anything else (exec, attach, proxy, ...) needs `*:*`.
ACTION_SUBRESOURCES: Final[dict[str, frozenset[str]]] = {
    "read": frozenset({"", "status", "log"}),
    "write": frozenset({"", "status", "log", "binding", "eviction"}),
    "*": frozenset({"", "status", "log", "binding", "eviction"}),
}

# Permission resource -> Kubernetes API group. Only resources named here are granted.
RESOURCE_GROUPS: Final[dict[str, str]] = {
    "pods": "",
    "services": "",
    "nodes": "",
    "endpoints": "",
    "configmaps": "",
    "namespaces": "",
    "events": "",
    "deployments": "apps",
    "replicasets": "apps",
    "daemonsets": "apps",
    "statefulsets": "apps",
    "jobs": "batch",
    "leases": "coordination.k8s.io",
}


@dataclass(frozen=True, slots=True)
class Permission:
    resource: str  # a key of RESOURCE_GROUPS, or "*"
    action: str  # read | write | *

    def __str__(self) -> str:
        return f"{self.resource}:{self.action}"


def parse_permission(text: str) -> Permission:
    if not isinstance(text, str) or len(text) > 80:
        raise PermissionFormatError("permission must be a short 'resource:action' string")
    match = _PERMISSION_RE.fullmatch(text)
    if match is None:
        raise PermissionFormatError(f"permission {text!r} is not 'resource:read|write|*'")
    return Permission(resource=match.group(1), action=match.group(2))


def _grants(perm: Permission, verb: str, group: str, resource: str, subresource: str) -> bool:
    if perm.resource == "*" and perm.action == "*":
        return True
    if perm.resource != "*":
        if perm.resource != resource or RESOURCE_GROUPS.get(resource) != group:
            return False
    elif resource not in RESOURCE_GROUPS or RESOURCE_GROUPS[resource] != group:
        return False
    return verb in ACTION_VERBS[perm.action] and subresource in ACTION_SUBRESOURCES[perm.action]


def allows(
    permissions: Iterable[str],
    verb: str,
    group: str,
    resource: str,
    subresource: str = "",
) -> bool:
    """Whether any permission grants `verb` on `group/resource[/subresource]`.

    Malformed permission strings grant nothing (fail closed) rather than raise: they come from
    chain data that the webhook must answer about within the apiserver's timeout.
    """
    verb = verb.lower()
    for text in permissions:
        try:
            perm = parse_permission(text)
        except PermissionFormatError:
            continue
        if _grants(perm, verb, group, resource, subresource or ""):
            return True
    return False
