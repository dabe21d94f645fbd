"""deploy/prometheus and deploy/grafana are loaded and checked: promtool (Debian's `prometheus`
package, installed by `make services`) validates the rules, runs their unit tests and parses
every dashboard query; and every metric name an expression uses is one the master or the
worker agent actually exports (their registries, so a renamed series fails here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from k3s_daas.nautilus.metrics import Metrics
from k3s_daas.worker.metrics import WorkerMetrics
from tests.conftest import require_tool

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "k3s-daas-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "k3s-daas-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "k3s-daas.json"
#: Series Prometheus itself makes for every target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "info": ("_info",),
    "gauge": ("",),
}
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def exported(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


EXPORTED = exported(Metrics().registry) | exported(WorkerMetrics().registry) | SCRAPE_SERIES


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (not functions, labels or keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    found = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group(0)
        after = text[match.end() :].lstrip()
        if after.startswith("(") or name.lower() in PROMQL_WORDS:
            continue  # a function or an operator
        if match.start() > 0 and (
            text[match.start() - 1].isdigit() or text[match.start() - 1] == "."
        ):
            continue  # 1e3, 0.99
        found.add(name)
    return found


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]


def test_the_name_parser_finds_series_not_functions_or_labels() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{x="b c"}[5m]))) > 1e3 '
        "or on (instance) b_total unless c"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


def test_alert_rules_cover_the_four_conditions_and_use_exported_series() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    for wanted in ("K3sDaasWatcherLag", "K3sDaasRevocationFailures",
                   "K3sDaasChainUnavailable", "K3sDaasStoreErrors"):  # fmt: skip
        assert wanted in by_name
    for name, rule in by_name.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        unknown = metric_names(rule["expr"]) - EXPORTED
        assert not unknown, f"{name} uses series nobody exports: {unknown}"


def test_dashboard_loads_and_every_query_uses_exported_series() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["panels"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    exprs = dashboard_exprs()
    assert exprs
    for expr in exprs:
        unknown = metric_names(expr) - EXPORTED
        assert not unknown, f"{expr!r} uses series nobody exports: {unknown}"
    used = set().union(*(metric_names(e) for e in exprs))
    for wanted in ("nautilus_webhook_decisions_total", "nautilus_http_request_seconds_bucket",
                   "nautilus_store_seconds_bucket", "k3s_daas_worker_heartbeat_seconds_bucket"):  # fmt: skip
        assert wanted in used


def promtool() -> str:
    found = shutil.which("promtool")
    require_tool(found is not None, "promtool (Debian package prometheus; `make services`)")
    assert found is not None
    return found


def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    tool = promtool()
    check = subprocess.run([tool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(
        [tool, "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    tool = promtool()
    recorded = [
        {"record": f"dashboard:query{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))
    check = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("broken", ["rate(x[5m]", "sum by (le (x)"])
def test_promtool_would_catch_a_broken_query(tmp_path: Path, broken: str) -> None:
    tool = promtool()
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "r", "expr": broken}]}]}))  # fmt: skip
    assert subprocess.run([tool, "check", "rules", str(path)], capture_output=True).returncode != 0
