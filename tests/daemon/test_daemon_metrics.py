"""The Prometheus scrape: well formed, bounded labels, counters that match what happened."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from daemon_process import Daemon
from prometheus_client.parser import text_string_to_metric_families

REQUIRED = {
    "handoffs": "counter",
    "handoffs_stage_duration_seconds": "histogram",
    "handoffs_revisions": "counter",
    "handoffs_run_revisions": "histogram",
    "handoffs_escalations": "counter",
    "handoffs_escalations_open": "gauge",
    "handoffs_runs": "gauge",
    "handoffs_tasks_inflight": "gauge",
    "handoffs_task_failures": "counter",
    "handoffs_agent_restarts": "counter",
    "handoffs_stale_results": "counter",
    "handoffs_store_map_used_bytes": "gauge",
    "handoffs_store_map_size_bytes": "gauge",
    "handoffs_store_commits": "counter",
    "handoffs_store_commit_seconds": "histogram",
}
BOUNDED_LABELS = {"pipeline", "stage", "role", "reason", "outcome", "state", "le"}


@pytest.fixture(scope="module")
def scraped(daemon: Daemon) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """A fresh daemon's scrape after: 3 notes, and 1 reviewed run that escalates after two
    rejections and is approved by a person."""
    notes = [daemon.submit("note", {"topic": f"metric {n}"})["run_id"] for n in range(3)]
    reviewed = daemon.submit("reviewed", {"topic": "metric", "approve": False})["run_id"]
    for run_id in notes:
        daemon.wait_state(run_id, "completed")
    escalation = daemon.wait_state(reviewed, "escalated")["escalation_id"]
    response = daemon.http.post(f"/v1/escalations/{escalation}/resolve", json={"action": "approve"})
    assert response.status_code == 200
    daemon.wait_state(reviewed, "completed")
    scrape = daemon.http.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape.text)
        for s in family.samples
    }
    return scrape.text, samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_every_metric_is_exported_with_its_type(scraped: Any) -> None:
    text, _ = scraped
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    for name, kind in REQUIRED.items():
        assert families.get(name) == kind, name
    assert "# TYPE handoffs_total counter" in text


def test_labels_are_bounded(scraped: Any) -> None:
    _, samples = scraped
    for name, labels in samples:
        assert {k for k, _ in labels} <= BOUNDED_LABELS, name
        assert not any(v.startswith(("run-", "task-", "art-", "esc-")) for _, v in labels), name


def test_counters_match_what_the_test_did(scraped: Any) -> None:
    _, s = scraped
    assert value(s, "handoffs_total", pipeline="note", stage="write", outcome="accepted") == 3
    assert value(s, "handoffs_total", pipeline="reviewed", stage="write", outcome="accepted") == 2
    assert value(s, "handoffs_total", pipeline="reviewed", stage="review", outcome="rejected") == 2
    assert value(s, "handoffs_stage_duration_seconds_count", pipeline="note", stage="write") == 3
    assert value(s, "handoffs_revisions_total", pipeline="reviewed", stage="write") == 1
    assert (
        value(s, "handoffs_escalations_total", pipeline="reviewed", reason="revisions_exhausted")
        == 1
    )
    assert value(s, "handoffs_escalations_open") == 0
    assert value(s, "handoffs_runs", state="completed") == 4
    assert value(s, "handoffs_runs", state="running") == 0
    assert value(s, "handoffs_run_revisions_count") == 4
    assert value(s, "handoffs_run_revisions_sum") == 1
    assert value(s, "handoffs_tasks_inflight", role="writer") == 0
    commits = value(s, "handoffs_store_commits_total")
    assert commits > 0
    assert value(s, "handoffs_store_commit_seconds_count") == commits
    assert (
        0 < value(s, "handoffs_store_map_used_bytes") <= value(s, "handoffs_store_map_size_bytes")
    )


def test_promtool_check_metrics_passes(scraped: Any) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    text, _ = scraped
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


@pytest.fixture(scope="module")
def retried(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], dict[tuple[str, tuple[tuple[str, str], ...]], float]]]:
    """A fresh daemon's run and scrape after one note whose first attempt raises and whose
    second returns invalid output (the third is recorded)."""
    root = tmp_path_factory.mktemp("retried")
    daemon = Daemon(root / "kb", root / "daemon.log", [])
    try:
        daemon.wait_ready()
        run_id = daemon.submit("note", {"topic": "retried", "fail": 1, "invalid": 1})["run_id"]
        run = daemon.wait_state(run_id, "completed")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(daemon.http.get("/metrics").text)
            for s in family.samples
        }
        yield run, samples
    finally:
        daemon.close()


def test_failed_attempts_are_task_failures(retried: Any) -> None:
    run, s = retried
    assert run["attempts"] == {"write": 3}
    assert value(s, "handoffs_task_failures_total", role="writer") == 2
    assert value(s, "handoffs_stage_duration_seconds_count", pipeline="note", stage="write") == 3


def test_handoffs_total_counts_recorded_handoffs_only(retried: Any) -> None:
    run, s = retried
    counted = {
        dict(labels)["outcome"]: n for (name, labels), n in s.items() if name == "handoffs_total"
    }
    assert counted == {"accepted": 1}
    assert sum(counted.values()) == run["handoff_count"] == len(run["handoffs"]) == 1
