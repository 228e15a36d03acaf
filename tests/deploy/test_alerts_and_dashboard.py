"""The alert rules and the Grafana dashboard under deploy/: valid, tested with promtool, and
asking only for metrics and labels the runtime exports."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from promql import (
    DASHBOARD,
    RULE_TESTS,
    RULES,
    dashboard,
    dashboard_expressions,
    documented_labels,
    exported,
    families,
    problems,
    rule_expressions,
)

ALERTS = {
    "HandoffsDaemonDown",
    "HandoffsRoleDown",
    "HandoffsEscalationsPilingUp",
    "HandoffsStoreNearlyFull",
    "HandoffsCommitLatencyHigh",
    "HandoffsStalled",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def test_metrics_doc_lists_every_family_the_runtime_registers() -> None:
    documented = documented_labels()
    for family, kind in families().items():
        name = family + "_total" if kind == "counter" else family
        assert name in documented, f"docs/metrics.md does not list {name}"


def test_the_rules_cover_what_the_issue_asks() -> None:
    assert set(rule_expressions()) == ALERTS


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_every_rule_asks_for_exported_metrics_only(alert: str) -> None:
    assert problems(rule_expressions()[alert], exported()) == []


def test_every_dashboard_query_asks_for_exported_metrics_only() -> None:
    names = exported()
    exprs = dashboard_expressions().items()
    found = {where: p for where, expr in exprs if (p := problems(expr, names))}
    assert found == {}


def test_the_checker_catches_a_wrong_name_and_a_wrong_label() -> None:
    names = exported()
    assert problems('rate(handoffs_handoffs_total{stage="x"}[5m])', names) == [
        "unknown metric handoffs_handoffs_total"
    ]
    assert problems('sum by (role) (handoffs_total{role="x"})', names) == [
        "handoffs_total has no label role",
        "no metric of the expression has label role",
    ]


def test_the_dashboard_shows_what_the_issue_asks() -> None:
    board = dashboard()
    exprs = " ".join(dashboard_expressions().values())
    for metric in (
        "handoffs_total",  # handoffs/s by stage and outcome
        "handoffs_stage_duration_seconds_bucket",  # stage latency quantiles
        "handoffs_revisions_total",
        "handoffs_escalations_open",
        "handoffs_agent_restarts_total",
        "handoffs_store_map_used_bytes",
        "handoffs_store_commit_seconds_bucket",
    ):
        assert metric in exprs, metric
    assert board["uid"] == "handoffs-overview"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    # Every panel reads the data source picked in the dashboard's variable, so it imports
    # into any Grafana without editing.
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]
            w, x = panel["gridPos"]["w"], panel["gridPos"]["x"]
            assert w > 0 and x + w <= 24, panel["title"]


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test() -> None:
    text = RULE_TESTS.read_text()
    for alert in ALERTS:
        assert f"alertname: {alert}\n        exp_alerts:" in text, alert
    assert DASHBOARD.exists()
