"""Cancelling a run: running (its agents' tasks withdrawn) or escalated."""

from __future__ import annotations

import async_fakes
import fakes
import pytest
from runtime_support import OpenRuntime, make_config

from handoffs import RunFinished, RunNotFound

WAIT = 30.0


def test_cancelling_a_running_run_cancels_its_async_agents_task(open_runtime: OpenRuntime) -> None:
    async_fakes.CANCELLED.clear()
    async_fakes.HANGING.clear()
    async_fakes.WAS_CANCELLED.clear()
    runtime = open_runtime(make_config(agents="async_fakes"))
    run_id = runtime.submit("coding", {"plan": {"code": ["hang"]}}).run_id
    assert async_fakes.HANGING.wait(WAIT)
    run = runtime.cancel(run_id, "not needed any more")
    assert (run.state, run.reason) == ("cancelled", "not needed any more")
    assert runtime.wait(run_id, WAIT).state == "cancelled"
    assert async_fakes.WAS_CANCELLED.wait(WAIT)
    assert [(run_id, "code")] == async_fakes.CANCELLED
    stats = runtime.statistics()
    assert stats.orchestrator.inflight == 0 and stats.orchestrator.live_tasks == 0
    events = [e.type for e in runtime.store.journal() if e.run_id == run_id]
    assert events[-1] == "run.cancelled"
    assert runtime.store.verify() == []
    # The role's room came back: the next run goes through.
    assert runtime.wait(runtime.submit("coding", {}).run_id, WAIT).state == "completed"


def test_a_sync_agents_late_result_after_cancel_is_dropped(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime()
    run_id = runtime.submit("coding", {"plan": {"code": ["late"]}}).run_id
    assert fakes.STARTED.wait(WAIT)  # the agent has started the task
    runtime.cancel(run_id)
    fakes.release_hung()
    assert runtime.wait(runtime.submit("coding", {}).run_id, WAIT).state == "completed"
    assert runtime.handoffs(run_id) == []
    assert runtime.statistics().supervisor.stale_results == 1


def test_cancelling_an_escalated_run_resolves_its_escalation(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime()
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["raise"] * 3}}).run_id
    assert runtime.wait(run_id, WAIT).state == "escalated"
    runtime.cancel(run_id, "giving up")
    assert runtime.escalations() == []
    (escalation,) = runtime.escalations(state="resolved")
    assert escalation.resolution is not None
    assert (escalation.resolution.action, escalation.resolution.feedback) == ("cancel", "giving up")
    value = runtime.registry.get_sample_value("handoffs_escalations_open")
    assert value == 0


def test_cancel_refuses_unknown_and_finished_runs(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime()
    with pytest.raises(RunNotFound, match=r"^no run 'run-0123456789abcdef01234567'$"):
        runtime.cancel("run-0123456789abcdef01234567")
    run_id = runtime.submit("coding", {}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    with pytest.raises(RunFinished, match=r"^run run-\w+ already ended \(completed\)$"):
        runtime.cancel(run_id)
