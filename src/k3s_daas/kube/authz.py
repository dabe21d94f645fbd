"""Who a Seal token is to Kubernetes and what it may do: one place for the TokenReview user, the
SelfSubjectReview answer, and the access decisions of SelfSubjectAccessReview and the SAR webhook.

Permissions mean what `k3s_daas.seal.allows` says. Node tokens are answered like a rough Node
authorizer (own Node object, own Lease, read pods, write events) - see docs/kubernetes.md.
"""

from __future__ import annotations

from typing import Final

from k3s_daas.kube.models import (
    NonResourceAttributes,
    ResourceAttributes,
    SubjectAccessReviewStatus,
    UserInfo,
)
from k3s_daas.kube.types import NodeInfo
from k3s_daas.seal import Claims, allows
from k3s_daas.seal.permissions import ALL, READ_VERBS

EXTRA_TOKEN_ID: Final = "k3s-daas.io/token-id"  # noqa: S105 - a key name
EXTRA_TIER: Final = "k3s-daas.io/tier"
EXTRA_OWNER: Final = "k3s-daas.io/owner"
PERM_GROUP_PREFIX: Final = "seal:perm:"
USER_PREFIX: Final = "seal:"
NODE_PREFIX: Final = "system:node:"

# Paths every authenticated caller may GET (what RBAC's system:discovery grants, and what this
# server serves anyway).
DISCOVERY_PATHS: Final = ("/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi")

NODE_WRITE_VERBS: Final = frozenset({"create", "update", "patch"})


def user_info(claims: Claims) -> UserInfo:
    """The Kubernetes user of a token: node tokens act as their kubelet."""
    extra = {EXTRA_TOKEN_ID: [claims.token_id], EXTRA_TIER: [claims.tier.label]}
    if not claims.is_node:
        extra[EXTRA_OWNER] = [claims.owner]
    return UserInfo(
        username=claims.username, uid=claims.token_id, groups=list(claims.groups), extra=extra
    )


def _discovery_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in DISCOVERY_PATHS)


def node_allows(node_id: str, attrs: ResourceAttributes) -> bool:
    """Roughly what Node authorizer + the system:node role allow the kubelet of `node_id`."""
    verb, group, resource, sub = attrs.verb.lower(), attrs.group, attrs.resource, attrs.subresource
    own = attrs.name in ("", node_id)
    if group == "" and resource == "nodes":
        if sub == "" and verb in READ_VERBS:
            return True
        return sub in ("", "status") and own and (verb in NODE_WRITE_VERBS or verb == "get")
    if group == "" and resource == "pods" and sub == "":
        return verb in READ_VERBS
    if group == "coordination.k8s.io" and resource == "leases" and sub == "":
        return attrs.namespace == "kube-node-lease" and own and verb in {"get", *NODE_WRITE_VERBS}
    if group in ("", "events.k8s.io") and resource == "events" and sub == "":
        return verb in NODE_WRITE_VERBS
    return False


def self_review(
    claims: Claims,
    resource: ResourceAttributes | None,
    non_resource: NonResourceAttributes | None,
) -> SubjectAccessReviewStatus:
    """`kubectl auth can-i` for the caller's own token."""
    if resource is not None:
        if claims.is_node:
            ok = node_allows(claims.node_id, resource)
            why = "Node authorizer (approximation) for the node's own objects"
        else:
            ok = allows(
                claims.permissions,
                resource.verb,
                resource.group,
                resource.resource,
                resource.subresource,
            )
            why = f"Seal permissions {','.join(claims.permissions) or 'none'}"
        return SubjectAccessReviewStatus(
            allowed=ok, reason=f"{'granted' if ok else 'not granted'} by {why}"
        )
    if non_resource is not None:
        verb = non_resource.verb.lower()
        ok = (verb == "get" and _discovery_path(non_resource.path)) or (
            not claims.is_node and ALL in claims.permissions
        )
        return SubjectAccessReviewStatus(allowed=ok, reason="discovery" if ok else "not granted")
    return SubjectAccessReviewStatus(allowed=False, reason="no attributes")


def revoked_node_review(user: str, node: NodeInfo | None) -> SubjectAccessReviewStatus | None:
    """An explicit deny for the kubelet of a revoked node (its client certificate outlives the
    stake); None (no opinion here) for every other user and node."""
    if node is None or node.status != "revoked" or user != NODE_PREFIX + node.name:
        return None
    return SubjectAccessReviewStatus(
        allowed=False, denied=True, reason=f"k3s-daas: node revoked ({node.reason or 'revoked'})"
    )


def webhook_review(
    user: str,
    groups: list[str],
    extra: dict[str, list[str]],
    resource: ResourceAttributes | None,
) -> SubjectAccessReviewStatus:
    """The SubjectAccessReview webhook: allow what the reviewed Seal user's permissions grant;
    otherwise no opinion (allowed=false, denied unset) so RBAC and the Node authorizer decide.

    Only users our TokenReview produced count (name `seal:...` and a token-id extra), so a client
    certificate whose organisation says `seal:perm:*:*` gains nothing here.
    """
    no_opinion = SubjectAccessReviewStatus(allowed=False, reason="no opinion")
    if resource is None or not user.startswith(USER_PREFIX) or not extra.get(EXTRA_TOKEN_ID):
        return no_opinion
    perms = [g[len(PERM_GROUP_PREFIX) :] for g in groups if g.startswith(PERM_GROUP_PREFIX)]
    if allows(perms, resource.verb, resource.group, resource.resource, resource.subresource):
        return SubjectAccessReviewStatus(allowed=True, reason="granted by Seal permission")
    return no_opinion
