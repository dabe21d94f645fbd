"""Typed Kubernetes wire objects for what kube/ serves and reads, kept apart from transport (as
lightkube does): field names are the JSON names, `dump()` gives the exact wire dict.

Requests the apiserver sends us (TokenReview, SubjectAccessReview) are strict (extra="forbid")
over the full v1 field set, so a malformed review is a 400, not a guess.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class K8sModel(BaseModel):
    """Base: strict, alias-aware; `dump()` drops unset optionals as the apiserver does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# ---- meta ---------------------------------------------------------------------------------------


class ObjectMeta(K8sModel):
    """metav1.ObjectMeta, the subset we produce; requests may carry any metadata (opaque)."""

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None
    creationTimestamp: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class ListMeta(K8sModel):
    resourceVersion: str | None = None
    continue_: str | None = Field(
        default=None, validation_alias="continue", serialization_alias="continue"
    )
    remainingItemCount: int | None = None


class StatusDetails(K8sModel):
    name: str | None = None
    group: str | None = None
    kind: str | None = None


class Status(K8sModel):
    """metav1.Status: the only error body kubectl understands."""

    apiVersion: Literal["v1"] = "v1"
    kind: Literal["Status"] = "Status"
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: Literal["Success", "Failure"] = "Failure"
    message: str = ""
    reason: str = ""
    details: StatusDetails | None = None
    code: int


# ---- nodes --------------------------------------------------------------------------------------


class Taint(K8sModel):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    timeAdded: str | None = None


class NodeSpec(K8sModel):
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


ConditionStatus = Literal["True", "False", "Unknown"]


class NodeCondition(K8sModel):
    type: str
    status: ConditionStatus
    lastHeartbeatTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class NodeAddress(K8sModel):
    type: str
    address: str


class NodeSystemInfo(K8sModel):
    machineID: str = ""
    systemUUID: str = ""
    bootID: str = ""
    kernelVersion: str = ""
    osImage: str = ""
    containerRuntimeVersion: str = ""
    kubeletVersion: str = ""
    kubeProxyVersion: str = ""
    operatingSystem: str = "linux"
    architecture: str = ""


class NodeStatus(K8sModel):
    conditions: list[NodeCondition] = Field(default_factory=list)
    addresses: list[NodeAddress] = Field(default_factory=list)
    nodeInfo: NodeSystemInfo = Field(default_factory=NodeSystemInfo)
    capacity: dict[str, str] | None = None
    allocatable: dict[str, str] | None = None


class Node(K8sModel):
    apiVersion: Literal["v1"] = "v1"
    kind: Literal["Node"] = "Node"
    metadata: ObjectMeta
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)


class NodeList(K8sModel):
    apiVersion: Literal["v1"] = "v1"
    kind: Literal["NodeList"] = "NodeList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[Node] = Field(default_factory=list)


class PodList(K8sModel):
    """Always empty: the standalone master runs no pods, but `describe node` needs the list."""

    apiVersion: Literal["v1"] = "v1"
    kind: Literal["PodList"] = "PodList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[dict[str, Any]] = Field(default_factory=list)


class EventList(K8sModel):
    apiVersion: Literal["v1"] = "v1"
    kind: Literal["EventList"] = "EventList"
    metadata: ListMeta = Field(default_factory=ListMeta)
    items: list[dict[str, Any]] = Field(default_factory=list)


class LeaseSpec(K8sModel):
    holderIdentity: str | None = None
    leaseDurationSeconds: int | None = None
    renewTime: str | None = None


class Lease(K8sModel):
    apiVersion: Literal["coordination.k8s.io/v1"] = "coordination.k8s.io/v1"
    kind: Literal["Lease"] = "Lease"
    metadata: ObjectMeta
    spec: LeaseSpec = Field(default_factory=LeaseSpec)


# ---- tables and watch ---------------------------------------------------------------------------


class TableColumnDefinition(K8sModel):
    name: str
    type: Literal["string", "integer", "number", "boolean", "date"]
    format: str = ""
    description: str = ""
    priority: int = 0


class PartialObjectMetadata(K8sModel):
    apiVersion: Literal["meta.k8s.io/v1"] = "meta.k8s.io/v1"
    kind: Literal["PartialObjectMetadata"] = "PartialObjectMetadata"
    metadata: ObjectMeta


class TableRow(K8sModel):
    cells: list[str | int | float | bool | None]
    object: PartialObjectMetadata


class Table(K8sModel):
    apiVersion: Literal["meta.k8s.io/v1"] = "meta.k8s.io/v1"
    kind: Literal["Table"] = "Table"
    metadata: ListMeta = Field(default_factory=ListMeta)
    columnDefinitions: list[TableColumnDefinition] = Field(default_factory=list)
    rows: list[TableRow] = Field(default_factory=list)


class WatchEvent(K8sModel):
    type: Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
    object: dict[str, Any]


# ---- authentication.k8s.io/v1 -------------------------------------------------------------------


class UserInfo(K8sModel):
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class TokenReviewSpec(K8sModel):
    token: str = Field(default="", max_length=8192)
    audiences: list[str] | None = Field(default=None, max_length=64)


class TokenReviewStatus(K8sModel):
    authenticated: bool | None = None
    user: UserInfo | None = None
    audiences: list[str] | None = None
    error: str | None = None


class TokenReview(K8sModel):
    """TokenReview v1; `status` on a request is ignored (the apiserver sends `{"user": {}}`)."""

    apiVersion: Literal["authentication.k8s.io/v1"]
    kind: Literal["TokenReview"]
    metadata: dict[str, Any] | None = None
    spec: TokenReviewSpec
    status: TokenReviewStatus | None = None


class SelfSubjectReviewStatus(K8sModel):
    userInfo: UserInfo


class SelfSubjectReview(K8sModel):
    apiVersion: Literal["authentication.k8s.io/v1"] = "authentication.k8s.io/v1"
    kind: Literal["SelfSubjectReview"] = "SelfSubjectReview"
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: SelfSubjectReviewStatus | None = None


# ---- authorization.k8s.io/v1 --------------------------------------------------------------------


class ResourceAttributes(K8sModel):
    namespace: str = ""
    verb: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    fieldSelector: dict[str, Any] | None = None
    labelSelector: dict[str, Any] | None = None


class NonResourceAttributes(K8sModel):
    path: str = ""
    verb: str = ""


class SubjectAccessReviewSpec(K8sModel):
    resourceAttributes: ResourceAttributes | None = None
    nonResourceAttributes: NonResourceAttributes | None = None
    user: str = ""
    groups: list[str] | None = Field(default=None, max_length=256)
    extra: dict[str, list[str]] | None = None
    uid: str = ""


class SubjectAccessReviewStatus(K8sModel):
    allowed: bool = False
    denied: bool | None = None
    reason: str | None = None
    evaluationError: str | None = None


class SubjectAccessReview(K8sModel):
    apiVersion: Literal["authorization.k8s.io/v1"]
    kind: Literal["SubjectAccessReview"]
    metadata: dict[str, Any] | None = None
    spec: SubjectAccessReviewSpec
    status: SubjectAccessReviewStatus | None = None


class SelfSubjectAccessReviewSpec(K8sModel):
    resourceAttributes: ResourceAttributes | None = None
    nonResourceAttributes: NonResourceAttributes | None = None


class SelfSubjectAccessReview(K8sModel):
    apiVersion: Literal["authorization.k8s.io/v1"] = "authorization.k8s.io/v1"
    kind: Literal["SelfSubjectAccessReview"] = "SelfSubjectAccessReview"
    metadata: dict[str, Any] | None = None
    spec: SelfSubjectAccessReviewSpec
    status: SubjectAccessReviewStatus | None = None


# ---- discovery ----------------------------------------------------------------------------------


class GroupVersionKind(K8sModel):
    group: str = ""
    version: str
    kind: str


class APIResourceDiscovery(K8sModel):
    resource: str
    responseKind: GroupVersionKind
    scope: Literal["Cluster", "Namespaced"]
    singularResource: str
    verbs: list[str]
    shortNames: list[str] | None = None
    categories: list[str] | None = None


class APIVersionDiscovery(K8sModel):
    version: str
    resources: list[APIResourceDiscovery]
    freshness: Literal["Current", "Stale"] = "Current"


class APIGroupDiscovery(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    versions: list[APIVersionDiscovery]


class APIGroupDiscoveryList(K8sModel):
    """Aggregated discovery; the apiVersion is the one the client asked for (v2 or v2beta1)."""

    apiVersion: Literal["apidiscovery.k8s.io/v2", "apidiscovery.k8s.io/v2beta1"]
    kind: Literal["APIGroupDiscoveryList"] = "APIGroupDiscoveryList"
    metadata: dict[str, Any] = Field(default_factory=dict)
    items: list[APIGroupDiscovery]


class ServerAddressByClientCIDR(K8sModel):
    clientCIDR: str
    serverAddress: str


class APIVersions(K8sModel):
    kind: Literal["APIVersions"] = "APIVersions"
    apiVersion: Literal["v1"] = "v1"
    versions: list[str]
    serverAddressByClientCIDRs: list[ServerAddressByClientCIDR] = Field(default_factory=list)


class GroupVersionForDiscovery(K8sModel):
    groupVersion: str
    version: str


class APIGroup(K8sModel):
    name: str
    versions: list[GroupVersionForDiscovery]
    preferredVersion: GroupVersionForDiscovery


class APIGroupList(K8sModel):
    kind: Literal["APIGroupList"] = "APIGroupList"
    apiVersion: Literal["v1"] = "v1"
    groups: list[APIGroup]


class APIResource(K8sModel):
    name: str
    singularName: str
    namespaced: bool
    kind: str
    verbs: list[str]
    shortNames: list[str] | None = None


class APIResourceList(K8sModel):
    kind: Literal["APIResourceList"] = "APIResourceList"
    apiVersion: Literal["v1"] = "v1"
    groupVersion: str
    resources: list[APIResource]


class Version(K8sModel):
    """`/version` (version.Info)."""

    major: str
    minor: str
    gitVersion: str
    gitCommit: str = ""
    gitTreeState: str = "clean"
    buildDate: str = ""
    goVersion: str = ""
    compiler: str = ""
    platform: str = ""
