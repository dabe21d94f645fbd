"""Decisions and presentation that kubectl output depends on: node-token rules, user rules,
non-resource paths, human durations and STATUS text; plus the `k3s_config_command` CLI entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from k3s_daas.cli.kube import k3s_config_command
from k3s_daas.kube.authz import node_allows, self_review, user_info
from k3s_daas.kube.models import NonResourceAttributes, ResourceAttributes
from k3s_daas.kube.nodes import human_duration, node_object, status_text
from k3s_daas.seal import Tier
from tests.fixtures.kube import node_claims, sample_node, user_claims


@pytest.mark.parametrize(
    ("attrs", "ok"),
    [
        ({"verb": "get", "resource": "nodes"}, True),
        ({"verb": "patch", "resource": "nodes", "name": "node-a"}, True),
        ({"verb": "update", "resource": "nodes", "subresource": "status", "name": "node-a"}, True),
        ({"verb": "patch", "resource": "nodes", "name": "node-b"}, False),
        ({"verb": "delete", "resource": "nodes", "name": "node-a"}, False),
        ({"verb": "list", "resource": "pods"}, True),
        ({"verb": "create", "resource": "pods"}, False),
        ({"verb": "get", "resource": "secrets"}, False),
        (
            {
                "verb": "update",
                "group": "coordination.k8s.io",
                "resource": "leases",
                "namespace": "kube-node-lease",
                "name": "node-a",
            },
            True,
        ),
        (
            {
                "verb": "update",
                "group": "coordination.k8s.io",
                "resource": "leases",
                "namespace": "default",
                "name": "node-a",
            },
            False,
        ),
        ({"verb": "create", "resource": "events"}, True),
    ],
)
def test_node_token_rules(attrs: dict[str, str], ok: bool) -> None:
    assert node_allows("node-a", ResourceAttributes.model_validate(attrs)) is ok


def test_user_rules_follow_seal_permissions() -> None:
    basic = user_claims(100, Tier.BASIC)
    assert self_review(basic, ResourceAttributes(verb="list", resource="services"), None).allowed
    assert not self_review(basic, ResourceAttributes(verb="create", resource="pods"), None).allowed
    premium = user_claims(10_000, Tier.PREMIUM)
    assert self_review(premium, ResourceAttributes(verb="get", resource="secrets"), None).allowed


def test_non_resource_paths() -> None:
    basic = user_claims(100, Tier.BASIC)
    assert self_review(basic, None, NonResourceAttributes(path="/version", verb="get")).allowed
    assert self_review(basic, None, NonResourceAttributes(path="/apis/apps", verb="get")).allowed
    assert not self_review(basic, None, NonResourceAttributes(path="/metrics", verb="get")).allowed
    assert not self_review(basic, None, NonResourceAttributes(path="/api", verb="post")).allowed
    premium = user_claims(10_000, Tier.PREMIUM)
    assert self_review(premium, None, NonResourceAttributes(path="/metrics", verb="get")).allowed


def test_user_info_never_carries_secrets() -> None:
    info = user_info(node_claims("node-a"))
    assert info.username == "system:node:node-a"
    assert info.groups == ["system:nodes", "system:authenticated"]
    assert info.extra is not None and "k3s-daas.io/owner" not in info.extra


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-0.5, "0s"),
        (59, "59s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (800 * 86400, "2y70d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubernetes(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_revoked_node_presentation() -> None:
    node = sample_node("n1", status="revoked", reason="stake_slashed")
    assert status_text(node) == "Revoked(stake_slashed)"
    obj = node_object(node)
    assert obj.spec.unschedulable is True
    assert obj.spec.taints is not None
    assert [t.key for t in obj.spec.taints] == [
        "node.kubernetes.io/unschedulable",
        "k3s-daas.io/revoked",
    ]
    ready = obj.status.conditions[0]
    assert (ready.status, ready.reason) == ("False", "SealTokenRevoked")
    assert status_text(sample_node("n2")) == "Ready"


def test_k3s_config_command(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(k3s_config_command)
    ca = tmp_path / "ca.crt"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    out = tmp_path / "k3s"
    result = CliRunner().invoke(
        app, ["--master-url", "https://10.0.0.1:8443", "--ca", str(ca), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "--kube-apiserver-arg=authorization-mode=Webhook,Node,RBAC" in result.output
    cfg = json.loads((out / "authn-webhook.kubeconfig").read_text())
    assert (
        cfg["clusters"][0]["cluster"]["server"] == "https://10.0.0.1:8443/apis/webhooks/tokenreview"
    )
    bad = CliRunner().invoke(
        app, ["--master-url", "http://10.0.0.1", "--ca", str(ca), "--output", str(out)]
    )
    assert bad.exit_code == 1
    args = ["--master-url", "https://10.0.0.1:8443", "--ca", str(ca), "-o", str(out), "--json"]
    as_json = json.loads(CliRunner().invoke(app, args).output)
    assert as_json["files"] == [
        str(out / "authn-webhook.kubeconfig"),
        str(out / "authz-webhook.kubeconfig"),
    ]
    assert "--kube-apiserver-arg=authorization-mode=Webhook,Node,RBAC" in as_json["server_flags"]
