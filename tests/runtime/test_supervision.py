"""Supervision, deadlines and crash recovery: nothing lost, nothing applied twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import fakes
import pytest
from handoffs.messages import Config, PipelineSpec, RoleSpec, StageSpec
from handoffs.store import Store
from runtime_support import OpenRuntime, make_config

from handoffs import Runtime

WAIT = 30.0


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition another thread makes true (polling a cheap read)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def metric(runtime: Runtime, name: str, **labels: str) -> float:
    runtime.statistics()  # a barrier: the supervisor has seen every event told before
    value = runtime.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_base_exception_in_an_agent_restarts_only_its_actor(runtime: Runtime) -> None:
    other_actors = {
        r.role: r.actors for r in runtime.statistics().supervisor.roles if r.role != "write"
    }
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["exit"]}}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert metric(runtime, "handoffs_agent_restarts_total", role="write") == 1
    assert metric(runtime, "handoffs_task_failures_total", role="write") == 1
    stats = runtime.statistics().supervisor
    roles = {r.role: r for r in stats.roles}
    assert roles["write"].restarts == 1 and roles["write"].up
    assert {r: roles[r].actors for r in other_actors} == other_actors
    # the other actors kept working: a second run goes through every role
    assert runtime.wait(runtime.submit("content", {"topic": "y"}).run_id, WAIT).state == "completed"


def test_a_crash_loop_takes_the_role_down_after_max_restarts(open_runtime: OpenRuntime) -> None:
    config = make_config(max_attempts=100, max_restarts=3, period=60.0, restart_backoff=0.0)
    runtime = open_runtime(config)
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["exit"] * 4}}).run_id
    assert runtime.wait(run_id, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "role_down" and escalation.stage == "write"
    assert metric(runtime, "handoffs_agent_restarts_total", role="write") == 3
    ok, reasons = runtime.health()
    assert not ok and reasons[0].startswith("role write is down: 4 exits within 60s")
    # every other role keeps working meanwhile
    support = runtime.submit("support", {"question": "q"}).run_id
    assert runtime.wait(support, WAIT).state == "completed"
    # a second content run waiting on the role is escalated at once, its work kept
    waiting = runtime.submit("content", {"topic": "y"}).run_id
    assert runtime.wait(waiting, WAIT).state == "escalated"
    # a person brings the role back: the escalated runs continue
    runtime.restart_role("write")
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert runtime.wait(waiting, WAIT).state == "completed"
    assert runtime.health() == (True, [])
    assert runtime.escalations() == []


def test_tasks_queued_behind_a_crash_all_complete(open_runtime: OpenRuntime) -> None:
    config = _single_stage_config("fakes:hold_then", concurrency=1)
    runtime = open_runtime(config, prefetch=1000)
    first = runtime.submit("one", {"then": "exit"}).run_id
    queued = [runtime.submit("one", {"then": "ok"}).run_id for _ in range(100)]
    # all 101 were handed to the one actor's mailbox before the first returns
    assert runtime.statistics().orchestrator.inflight == 101
    fakes.release_hung()
    assert {runtime.wait(r, WAIT).state for r in [first, *queued]} == {"completed"}
    assert metric(runtime, "handoffs_agent_restarts_total", role="worker") == 1
    assert len(runtime.handoffs(first)) == 1 and runtime.handoffs(first)[0].attempt == 2
    assert all(runtime.handoffs(r)[0].attempt == 1 for r in queued)


def test_a_hung_agent_is_redispatched_after_the_deadline(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(make_config(timeout=0.3, concurrency=2))
    run_id = runtime.submit("coding", {"plan": {"code": ["late"]}}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    (handoff,) = runtime.handoffs(run_id)
    assert handoff.attempt == 2
    fakes.release_hung()  # the late result of attempt 1 arrives now, and is dropped
    eventually(lambda: runtime.statistics().supervisor.stale_results == 1)
    assert metric(runtime, "handoffs_stale_results_total") == 1
    assert len(runtime.handoffs(run_id)) == 1
    events = [e.detail for e in runtime.store.journal() if e.type == "task.failed"]
    assert len(events) == 1 and events[0].startswith("timed out after 0.3s on code/")


def test_a_poison_task_is_quarantined_and_the_others_complete(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(make_config(max_restarts=100, restart_backoff=0.0))
    poison = runtime.submit("coding", {"plan": {"code": ["exit"] * 10}}).run_id
    others = [runtime.submit("coding", {}).run_id for _ in range(20)]
    assert runtime.wait(poison, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "retries_exhausted"
    assert "SystemExit: agent killed its actor" in escalation.summary
    assert fakes.calls(poison, "code") == 3
    assert {runtime.wait(r, WAIT).state for r in others} == {"completed"}


def test_a_hanging_poison_task_is_quarantined(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(make_config(timeout=0.2, concurrency=3, max_attempts=3))
    poison = runtime.submit("coding", {"plan": {"code": ["hang"] * 3}}).run_id
    other = runtime.submit("support", {"question": "q"}).run_id
    assert runtime.wait(poison, WAIT).state == "escalated"
    assert runtime.wait(other, WAIT).state == "completed"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "retries_exhausted" and "timed out" in escalation.summary


def test_reopening_a_store_dispatches_unfinished_tasks_again(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime()
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["hang"]}}).run_id
    eventually(lambda: fakes.calls(run_id, "write") == 1)
    runtime.close(timeout=0.2)  # the hung task stays running in the store
    with Store.open(runtime.store.path) as store:
        (pending,) = store.pending_tasks()
        assert (pending.stage, pending.state, pending.attempt) == ("write", "running", 1)
    fakes.release_hung()  # its result goes nowhere: that runtime is gone
    reopened = open_runtime()
    run = reopened.wait(run_id, WAIT)
    assert run.state == "completed"
    keys = [(h.stage, h.revision) for h in reopened.handoffs(run_id)]
    assert keys == [("research", 0), ("write", 0), ("review", 0), ("publish", 0)]
    assert reopened.store.verify() == []
    # The attempt cut short counts: it may have been what stopped the process.
    assert [t.attempt for t in fakes.RECEIVED if t.stage == "write"] == [1, 2]
    failed = [e.detail for e in reopened.store.journal() if e.type == "task.failed"]
    assert failed == ["the process stopped while attempt 1 ran"]


def test_close_waits_for_tasks_in_flight(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(_single_stage_config("fakes:hold_then", concurrency=1))
    run_id = runtime.submit("one", {"then": "ok"}).run_id
    eventually(lambda: fakes.calls(run_id, "only") == 1)
    fakes.release_hung()
    runtime.close(timeout=10)
    reopened = open_runtime(_single_stage_config("fakes:hold_then", concurrency=1))
    assert reopened.get_run(run_id).state == "completed"  # type: ignore[union-attr]


def _single_stage_config(agent: str, concurrency: int, **stage: Any) -> Config:
    return Config(
        roles={"worker": RoleSpec(agent=agent, concurrency=concurrency, restart_backoff=0.0)},
        pipelines={
            "one": PipelineSpec(
                start="only",
                stages={"only": StageSpec(role="worker", output="CodeChange", **stage)},
            )
        },
    )


def _chaos_config() -> Config:
    role = {"max_restarts": 1_000_000, "period": 1.0, "restart_backoff": 0.0}
    stages = {
        name: StageSpec(role=name, output="Draft", next=nxt, max_attempts=5, retry_backoff=0.0)
        for name, nxt in (("a", "b"), ("b", "c"), ("c", None))
    }
    return Config(
        roles={n: RoleSpec(agent="fakes:chaotic", concurrency=2, **role) for n in "abc"},
        pipelines={"chaos": PipelineSpec(start="a", stages=stages)},
    )


@pytest.mark.slow
def test_thirty_percent_failing_agents_on_a_thousand_runs(open_runtime: OpenRuntime) -> None:
    seed, rate, runs, attempts = 7, 0.3, 1000, 5
    runtime = open_runtime(_chaos_config())
    ids = [
        runtime.submit("chaos", {"seed": seed, "run": n, "rate": rate}).run_id for n in range(runs)
    ]
    states = [runtime.wait(run_id, 60).state for run_id in ids]
    expected_escalated: set[int] = set()
    raised = exited = 0
    for n in range(runs):
        for stage in "abc":
            kinds = [fakes.chaos_failure(seed, n, stage, a, rate) for a in range(1, attempts + 1)]
            failed = kinds if None not in kinds else kinds[: kinds.index(None)]
            raised += failed.count("raise")
            exited += failed.count("exit")
            if None not in kinds:
                expected_escalated.add(n)
                break
    assert set(states) <= {"completed", "escalated"}
    assert {n for n, s in enumerate(states) if s == "escalated"} == expected_escalated
    failures = sum(metric(runtime, "handoffs_task_failures_total", role=r) for r in "abc")
    restarts = sum(metric(runtime, "handoffs_agent_restarts_total", role=r) for r in "abc")
    assert failures == raised + exited
    assert restarts == exited
    keys = [(h.run_id, h.stage, h.revision) for r in ids for h in runtime.handoffs(r)]
    assert len(keys) == len(set(keys))
    completed = states.count("completed")
    assert len(keys) == 3 * completed + sum(
        "abc".index(_stage_of(runtime, ids[n])) for n in expected_escalated
    )
    assert runtime.store.pending_tasks() == []
    assert runtime.store.verify() == []


def _stage_of(runtime: Runtime, run_id: str) -> str:
    run = runtime.get_run(run_id)
    assert run is not None and run.stage is not None
    return run.stage
