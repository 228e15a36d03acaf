"""The runtime's own collectors: counts kept by one thread, read at scrape time."""

from __future__ import annotations

from handoffs.actors.decision import Decision
from handoffs.actors.metrics import RuntimeMetrics, Tally
from prometheus_client import CollectorRegistry


def test_a_committed_tally_shows_in_counters_gauges_and_histograms() -> None:
    registry = CollectorRegistry()
    metrics = RuntimeMetrics(registry)
    tally = Tally()
    decision = Decision(now=0.0)
    for seconds in (0.0004, 0.0005, 0.003, 400.0):
        decision.handoffs.append(("blog", "write", "accepted"))
        decision.durations.append(("blog", "write", seconds))
    decision.run_states += [(None, "running"), ("running", "completed"), (None, "running")]
    tally.add(decision)
    metrics.apply(tally)
    metrics.inflight("writer", 3)
    metrics.inflight("writer", -1)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("handoffs_total", pipeline="blog", stage="write", outcome="accepted") == 4
    stage = {"pipeline": "blog", "stage": "write"}
    # Buckets are "less than or equal": 0.0005 falls in le=0.0005.
    assert value("handoffs_stage_duration_seconds_bucket", le="0.0005", **stage) == 2
    assert value("handoffs_stage_duration_seconds_bucket", le="0.005", **stage) == 3
    assert value("handoffs_stage_duration_seconds_bucket", le="300.0", **stage) == 3
    assert value("handoffs_stage_duration_seconds_bucket", le="+Inf", **stage) == 4
    assert value("handoffs_stage_duration_seconds_count", **stage) == 4
    assert value("handoffs_stage_duration_seconds_sum", **stage) == 0.0004 + 0.0005 + 0.003 + 400
    assert value("handoffs_runs", state="running") == 1
    assert value("handoffs_runs", state="completed") == 1
    assert value("handoffs_tasks_inflight", role="writer") == 2
    # An uncommitted tally counts for nothing.
    Tally().add(decision)
    assert value("handoffs_stage_duration_seconds_count", **stage) == 4
