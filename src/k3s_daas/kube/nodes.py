"""How an admitted worker looks to kubectl: the Node object, the Table row with stake columns, and
Kubernetes' human durations (AGE), computed once here for list, get and watch alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from k3s_daas.kube.models import (
    ConditionStatus,
    Lease,
    LeaseSpec,
    Node,
    NodeAddress,
    NodeCondition,
    NodeSpec,
    NodeStatus,
    NodeSystemInfo,
    ObjectMeta,
    PartialObjectMetadata,
    TableColumnDefinition,
    TableRow,
    Taint,
)
from k3s_daas.kube.types import NodeInfo
from k3s_daas.seal.protocol import NodeStatus as Status

LABEL_PREFIX: Final = "k3s-daas.io/"

#: kubectl's STATUS word for each registry status (followed by `(reason)` unless ready).
STATUS_TEXT: Final[dict[str, str]] = {
    Status.REGISTERED: "Registered",
    Status.READY: "Ready",
    Status.NOT_READY: "NotReady",
    Status.EVICTED: "Evicted",
    Status.REVOKED: "Revoked",
    Status.LEFT: "Left",
}
UNSCHEDULABLE: Final = frozenset({Status.EVICTED, Status.REVOKED, Status.LEFT})

CONDITION_REASONS: Final[dict[str, tuple[ConditionStatus, str, str]]] = {
    Status.REGISTERED: ("Unknown", "NodeRegistered", "registered; waiting for the first heartbeat"),
    Status.READY: ("True", "SealStakeActive", "stake active and heartbeats on time"),
    Status.NOT_READY: ("False", "HeartbeatMissed", "no heartbeat within the timeout"),
    Status.EVICTED: ("False", "NodeEvicted", "evicted by the master"),
    Status.REVOKED: ("False", "SealTokenRevoked", "the node's Seal token was revoked"),
    Status.LEFT: ("False", "NodeLeft", "the worker left the cluster"),
}

COLUMNS: Final = [
    TableColumnDefinition(name="Name", type="string", format="name", description="Node name"),
    TableColumnDefinition(name="Status", type="string", description="Registry status"),
    TableColumnDefinition(name="Tier", type="string", description="Stake tier"),
    TableColumnDefinition(name="Stake", type="integer", description="Stake in MIST"),
    TableColumnDefinition(name="Age", type="string", description="Since registration"),
    TableColumnDefinition(name="Last-Heartbeat", type="string", description="Since last beat"),
    TableColumnDefinition(name="Owner", type="string", description="Staker", priority=1),
    TableColumnDefinition(name="Permissions", type="string", description="Seal", priority=1),
    TableColumnDefinition(name="Pods", type="integer", description="Running pods", priority=1),
    TableColumnDefinition(name="Token", type="string", description="Fingerprint", priority=1),
]


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the registry stores UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def rfc3339(moment: datetime) -> str:
    """Kubernetes time: UTC, whole seconds, trailing Z."""
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, so AGE reads like real kubectl."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def status_text(node: NodeInfo) -> str:
    text = STATUS_TEXT.get(node.status, node.status.title() or "Unknown")
    return f"{text}({node.reason})" if node.reason and node.status != Status.READY else text


def node_metadata(node: NodeInfo) -> ObjectMeta:
    annotations = {
        f"{LABEL_PREFIX}owner": node.owner,
        f"{LABEL_PREFIX}stake": str(node.stake),
        f"{LABEL_PREFIX}permissions": ",".join(node.permissions),
        f"{LABEL_PREFIX}token-fingerprint": node.token_fingerprint,
        f"{LABEL_PREFIX}registry-status": node.status,
        f"{LABEL_PREFIX}running-pods": str(node.running_pods),
    }
    if node.reason:
        annotations[f"{LABEL_PREFIX}reason"] = node.reason
    for key, value in sorted(node.resource_usage.items()):
        annotations[f"{LABEL_PREFIX}usage-{key}"] = f"{value:.3f}"
    return ObjectMeta(
        name=node.name,
        uid=f"k3s-daas-node-{node.name}",
        resourceVersion=str(node.resource_version),
        creationTimestamp=rfc3339(node.created),
        labels={
            "kubernetes.io/hostname": node.name,
            "kubernetes.io/os": "linux",
            f"{LABEL_PREFIX}tier": node.tier,
            f"{LABEL_PREFIX}status": node.status,
        },
        annotations=annotations,
    )


def node_object(node: NodeInfo) -> Node:
    """The full Node (get, -o yaml, describe)."""
    cond_status, reason, message = CONDITION_REASONS.get(
        node.status, ("Unknown", "Unknown", node.status)
    )
    if node.reason:
        message = f"{message} ({node.reason})"
    heartbeat = rfc3339(node.last_heartbeat) if node.last_heartbeat else None
    unschedulable = node.status in UNSCHEDULABLE
    taints = None
    if unschedulable:
        taints = [Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")]
        if node.status == Status.REVOKED:
            taints.append(
                Taint(key=f"{LABEL_PREFIX}revoked", value=node.reason or "", effect="NoExecute")
            )
    return Node(
        metadata=node_metadata(node),
        spec=NodeSpec(unschedulable=True if unschedulable else None, taints=taints),
        status=NodeStatus(
            conditions=[
                NodeCondition(
                    type="Ready",
                    status=cond_status,
                    lastHeartbeatTime=heartbeat,
                    lastTransitionTime=heartbeat or rfc3339(node.created),
                    reason=reason,
                    message=message,
                )
            ],
            addresses=[NodeAddress(type="Hostname", address=node.name)],
            nodeInfo=NodeSystemInfo(kubeletVersion="k3s-daas", containerRuntimeVersion="k3s-daas"),
        ),
    )


def node_lease_object(node: NodeInfo) -> Lease:
    """coordination.k8s.io/v1 Lease in kube-node-lease, as a kubelet would keep it."""
    renew = None
    if node.last_heartbeat is not None:
        renew = _aware(node.last_heartbeat).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return Lease(
        metadata=ObjectMeta(
            name=node.name,
            namespace="kube-node-lease",
            resourceVersion=str(node.resource_version),
            creationTimestamp=rfc3339(node.created),
        ),
        spec=LeaseSpec(holderIdentity=node.name, leaseDurationSeconds=40, renewTime=renew),
    )


def table_row(node: NodeInfo, now: datetime | None = None) -> TableRow:
    now = now or datetime.now(UTC)
    heartbeat = (
        human_duration((now - _aware(node.last_heartbeat)).total_seconds())
        if node.last_heartbeat
        else "<none>"
    )
    return TableRow(
        cells=[
            node.name,
            status_text(node),
            node.tier,
            node.stake,
            human_duration((now - _aware(node.created)).total_seconds()),
            heartbeat,
            node.owner,
            ",".join(node.permissions) or "<none>",
            node.running_pods,
            node.token_fingerprint,
        ],
        object=PartialObjectMetadata(metadata=node_metadata(node)),
    )
