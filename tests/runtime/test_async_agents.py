"""Async agents on an event loop, and leases that start when the agent starts the task.

The semantic tests of ``test_semantics`` run again here with every role an ``async def``
agent (the ``runtime`` fixture below overrides the shared one).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import async_fakes
import fakes
import pytest
from handoffs.messages import (
    CodeChange,
    Config,
    Draft,
    PipelineSpec,
    QualityMarkers,
    Result,
    RoleSpec,
    StageSpec,
    Task,
)
from prometheus_client import CollectorRegistry
from runtime_support import OpenRuntime, make_config
from test_semantics import (
    test_a_burst_commits_in_groups_on_the_committer_and_alone_inline,
    test_a_failing_gate_sends_the_stage_back_as_a_revision,
    test_a_run_completes_with_its_handoffs_in_order,
    test_a_task_carries_decoded_upstream_artifacts_and_never_the_producer,
    test_a_trigger_starts_a_run_from_a_committed_artifact,
    test_agent_exceptions_are_retried_with_backoff,
    test_an_always_rejecting_reviewer_sees_n_plus_one_drafts_then_escalates,
    test_approve_after_retries_exhausted_retries_the_stage,
    test_exhausted_retries_escalate_with_the_exception,
    test_invalid_output_is_sent_back_with_validator_feedback_naming_the_field,
    test_many_runs_all_settle_and_the_store_stays_consistent,
    test_result_tags_are_indexed_and_bad_tags_are_invalid_output,
    test_wrong_contract_type_is_invalid_output,
)

from handoffs import Knowledge, OutputInvalid, Runtime, Unrecoverable

__all__ = [  # run again, with async agents
    "test_a_burst_commits_in_groups_on_the_committer_and_alone_inline",
    "test_a_failing_gate_sends_the_stage_back_as_a_revision",
    "test_a_run_completes_with_its_handoffs_in_order",
    "test_a_task_carries_decoded_upstream_artifacts_and_never_the_producer",
    "test_a_trigger_starts_a_run_from_a_committed_artifact",
    "test_agent_exceptions_are_retried_with_backoff",
    "test_an_always_rejecting_reviewer_sees_n_plus_one_drafts_then_escalates",
    "test_approve_after_retries_exhausted_retries_the_stage",
    "test_exhausted_retries_escalate_with_the_exception",
    "test_invalid_output_is_sent_back_with_validator_feedback_naming_the_field",
    "test_many_runs_all_settle_and_the_store_stays_consistent",
    "test_result_tags_are_indexed_and_bad_tags_are_invalid_output",
    "test_wrong_contract_type_is_invalid_output",
]

WAIT = 30.0


@pytest.fixture
def runtime(open_runtime: OpenRuntime) -> Runtime:
    """Every role of the default fake config as an ``async def`` agent."""
    async_fakes.CANCELLED.clear()
    return open_runtime(make_config(agents="async_fakes"))


def one_stage(agent: str, *, concurrency: int = 1, **stage: Any) -> Config:
    """A pipeline ``only`` of one stage producing a CodeChange, run by ``agent``."""
    stage.setdefault("retry_backoff", 0.001)
    return Config(
        roles={"worker": RoleSpec(agent=agent, concurrency=concurrency)},
        pipelines={
            "only": PipelineSpec(
                start="work",
                stages={"work": StageSpec(role="worker", output="CodeChange", **stage)},
            )
        },
    )


def change(summary: str = "s") -> CodeChange:
    return CodeChange(summary=summary, files_changed=[], how_it_works="h", tests_passed=1)


def test_an_async_role_runs_on_one_thread_with_concurrency_tasks_in_flight(
    runtime: Runtime,
) -> None:
    loops = [t for t in threading.enumerate() if t.name.startswith("handoffs-loop-")]
    assert sorted(t.name for t in loops) == [
        f"handoffs-loop-{role}/0.1"
        for role in ("code", "faq", "publish", "research", "review", "support", "write")
    ]
    stats = runtime.statistics().supervisor
    assert {r.role: r.actors for r in stats.roles}["write"] == 1


# An agent that holds every task until `concurrency` of them are in flight at once.
IN_FLIGHT: dict[str, int] = {"now": 0, "peak": 0}
ALL_IN: threading.Event = threading.Event()
GATE: list[asyncio.Event] = []
TARGET = 200


async def gathering(task: Task) -> CodeChange:
    if not GATE:
        GATE.append(asyncio.Event())  # one event loop runs every task of the role
    IN_FLIGHT["now"] += 1
    IN_FLIGHT["peak"] = max(IN_FLIGHT["peak"], IN_FLIGHT["now"])
    if IN_FLIGHT["now"] >= TARGET:
        ALL_IN.set()
        GATE[0].set()
    await GATE[0].wait()
    IN_FLIGHT["now"] -= 1
    return change()


def test_concurrency_is_tasks_in_flight_on_one_loop(open_runtime: OpenRuntime) -> None:
    IN_FLIGHT.update(now=0, peak=0)
    ALL_IN.clear()
    GATE.clear()
    threads_before = threading.active_count()
    runtime = open_runtime(one_stage("test_async_agents:gathering", concurrency=TARGET))
    futures = [runtime.submit_async("only", {"n": i}) for i in range(TARGET)]
    run_ids = [f.result(timeout=WAIT).run_id for f in futures]
    assert ALL_IN.wait(WAIT)
    assert all(runtime.wait(r, WAIT).state == "completed" for r in run_ids)
    assert IN_FLIGHT["peak"] == TARGET
    # The runtime's own threads, one event loop for the role: none per task.
    assert threading.active_count() - threads_before < 12


def test_a_hung_async_agent_is_cancelled_when_its_lease_expires(
    open_runtime: OpenRuntime,
) -> None:
    async_fakes.CANCELLED.clear()
    config = make_config(agents="async_fakes", timeout=0.2, max_attempts=2)
    runtime = open_runtime(config)
    hung = runtime.submit("coding", {"plan": {"code": ["hang", "hang"]}}).run_id
    assert runtime.wait(hung, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "retries_exhausted"
    assert "timed out after 0.2s" in escalation.summary
    assert [(hung, "code"), (hung, "code")] == async_fakes.CANCELLED
    # concurrency 1: the hung attempts gave their room back, so other work goes on.
    assert runtime.wait(runtime.submit("coding", {}).run_id, WAIT).state == "completed"
    assert runtime.statistics().orchestrator.inflight == 0


def test_an_exception_in_an_async_agent_is_retried_and_a_base_exception_restarts_the_loop(
    runtime: Runtime,
) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["exit"]}}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert [t.attempt for t in fakes.RECEIVED if t.run_id == run_id and t.stage == "write"] == [
        1,
        2,
    ]
    roles = {r.role: r for r in runtime.statistics().supervisor.roles}
    assert roles["write"].restarts == 1
    assert roles["write"].up


# The 16-run case of the issue, scaled down: 16 runs, agents of 50 ms, concurrency 2, a lease
# of 200 ms. Queued behind 14 others, a task waits up to 350 ms: longer than its lease, which
# must not count it.
def sleepy_sync(task: Task) -> CodeChange:
    threading.Event().wait(0.05)  # the agent's own work (a model call)
    return change()


async def sleepy_async(task: Task) -> CodeChange:
    await asyncio.sleep(0.05)
    return change()


@pytest.mark.parametrize("agent", ["sleepy_sync", "sleepy_async"])
def test_queue_time_does_not_count_against_the_timeout(
    open_runtime: OpenRuntime, agent: str
) -> None:
    config = one_stage(f"test_async_agents:{agent}", concurrency=2, timeout=0.2, max_attempts=1)
    runtime = open_runtime(config)
    futures = [runtime.submit_async("only", {"n": i}) for i in range(16)]
    runs = [runtime.wait(f.result(timeout=WAIT).run_id, WAIT) for f in futures]
    assert [r.state for r in runs] == ["completed"] * 16
    assert runtime.escalations() == []
    queue = runtime.statistics().queue["worker"]
    assert queue.started == 16
    assert queue.mean_seconds > 0.05  # most waited for a free slot
    started = runtime.registry.get_sample_value(
        "handoffs_task_queue_seconds_count", {"role": "worker"}
    )
    assert started == 16


def test_tasks_queued_behind_a_hung_sync_agent_go_to_another(
    open_runtime: OpenRuntime,
) -> None:
    # Two threads; the first task hangs one of them. Its lease expires, the tasks prefetched
    # behind it (never started) are withdrawn and run by the other thread.
    runtime = open_runtime(make_config(timeout=0.3, concurrency=2, max_attempts=2))
    hung = runtime.submit("coding", {"plan": {"code": ["hang"]}}).run_id
    others = [runtime.submit("coding", {"n": i}).run_id for i in range(6)]
    for run_id in [*others, hung]:
        assert runtime.wait(run_id, WAIT).state == "completed"
    fakes.release_hung()


def test_output_invalid_and_unrecoverable_raised_by_an_agent(open_runtime: OpenRuntime) -> None:
    runtime = open_runtime(one_stage("test_async_agents:signalling", max_attempts=3))
    invalid = runtime.submit("only", {"raise": "invalid"}).run_id
    assert runtime.wait(invalid, WAIT).state == "completed"
    first = runtime.handoffs(invalid)
    assert first[-1].outcome == "accepted"
    retried = [t for t in SIGNALLED if t.run_id == invalid]
    assert retried[1].feedback[0].source == "validator"
    assert retried[1].feedback[0].aspect == "$.files_changed"
    assert retried[1].feedback[0].issue == (
        "CodeChange is invalid: no such file (at $.files_changed)"
    )
    refused = runtime.submit("only", {"raise": "unrecoverable"}).run_id
    assert runtime.wait(refused, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "unrecoverable"
    assert escalation.summary == (
        "work failed on attempt 1, not retried: Unrecoverable: 401: invalid api key"
    )
    assert len([t for t in SIGNALLED if t.run_id == refused]) == 1


SIGNALLED: list[Task] = []


async def signalling(task: Task) -> CodeChange:
    SIGNALLED.append(task)
    if task.attempt == 1 and task.input["raise"] == "invalid":
        raise OutputInvalid("no such file", field="$.files_changed")
    if task.input["raise"] == "unrecoverable":
        raise Unrecoverable("401: invalid api key")
    return change()


def test_a_task_carries_upstream_quality_markers(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x"}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    (review,) = [t for t in fakes.RECEIVED if t.run_id == run_id and t.stage == "review"]
    assert review.quality["write"] == QualityMarkers(completeness=0.9, confidence=0.8)
    # Markers the contract carries itself fill in what the agent did not report.
    assert review.quality["research"].confidence == 0.9


class Librarian:
    """A class agent with async setup and teardown, given the read-only knowledge base."""

    seen: list[list[str]] = []
    torn_down = threading.Event()

    async def setup(self) -> None:
        self.prefix = "seen"

    async def __call__(self, task: Task, kb: Knowledge) -> Result:
        found = kb.find(kind="Draft", limit=5)
        Librarian.seen.append([f.output.title for f in found])
        title = f"{self.prefix} {len(found)}"
        return Result(Draft(title=title, body="b"), quality=QualityMarkers(confidence=1.0))

    async def teardown(self) -> None:
        Librarian.torn_down.set()


def test_an_agent_reads_the_knowledge_base_newest_first(tmp_path: Path) -> None:
    Librarian.seen.clear()
    Librarian.torn_down.clear()
    config = Config(
        roles={"librarian": RoleSpec(agent="test_async_agents:Librarian")},
        pipelines={
            "lib": PipelineSpec(
                start="write", stages={"write": StageSpec(role="librarian", output="Draft")}
            )
        },
    )
    with Runtime.open(config, tmp_path / "kb", registry=CollectorRegistry()) as runtime:
        for _ in range(3):
            assert runtime.wait(runtime.submit("lib", {}).run_id, WAIT).state == "completed"
        with pytest.raises(ValueError, match=r"^select artifacts by exactly one of"):
            runtime.knowledge.find(kind="Draft", tag="x")
    assert Librarian.seen == [[], ["seen 0"], ["seen 1", "seen 0"]]
    assert Librarian.torn_down.is_set()


def test_close_cancels_async_tasks_still_in_flight(tmp_path: Path) -> None:
    fakes.reset()
    async_fakes.CANCELLED.clear()
    async_fakes.HANGING.clear()
    runtime = Runtime.open(
        make_config(agents="async_fakes"), tmp_path / "kb", registry=CollectorRegistry()
    )
    run_id = runtime.submit("coding", {"plan": {"code": ["hang"]}}).run_id
    assert async_fakes.HANGING.wait(WAIT)  # the task is in flight
    runtime.close(timeout=0.2)
    assert [(run_id, "code")] == async_fakes.CANCELLED
    assert not [t for t in threading.enumerate() if t.name.startswith("handoffs-loop-")]


def test_an_async_role_whose_loop_keeps_crashing_goes_down_and_comes_back(
    open_runtime: OpenRuntime,
) -> None:
    config = make_config(
        agents="async_fakes", max_attempts=100, max_restarts=3, period=60.0, restart_backoff=0.0
    )
    runtime = open_runtime(config)
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["exit"] * 4}}).run_id
    assert runtime.wait(run_id, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "role_down" and escalation.stage == "write"
    ok, reasons = runtime.health()
    assert not ok and reasons[0].startswith("role write is down: 4 exits within 60s")
    runtime.restart_role("write")
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert runtime.health() == (True, [])


def test_a_crashing_loop_hands_every_task_it_held_to_the_next_loop(
    open_runtime: OpenRuntime,
) -> None:
    # One loop holds 20 sleeping tasks when a 21st kills it: all 21 runs complete, the
    # sleepers at attempt 1 (they never failed), the killer at attempt 2.
    runtime = open_runtime(make_config(agents="async_fakes", concurrency=50))
    sleepers = [runtime.submit("coding", {"sleep": 0.2, "n": i}).run_id for i in range(20)]
    killer = runtime.submit("coding", {"plan": {"code": ["exit"]}}).run_id
    assert {runtime.wait(r, WAIT).state for r in [*sleepers, killer]} == {"completed"}
    assert runtime.handoffs(killer)[0].attempt == 2
    assert all(runtime.handoffs(r)[0].attempt == 1 for r in sleepers)
