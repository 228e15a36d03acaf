"""Each semantic of the runtime, end to end: real actors, real store, fake agents."""

from __future__ import annotations

import fakes
import msgspec
import pytest
from handoffs.messages import DocPage, Draft, ResearchFindings, Verdict
from handoffs.store import InvalidKey
from runtime_support import OpenRuntime

from handoffs import (
    EscalationNotFound,
    EscalationResolved,
    IdempotencyConflict,
    InvalidInput,
    Runtime,
    Task,
    UnknownPipeline,
)

WAIT = 30.0


def received(run_id: str, stage: str) -> list[Task]:
    return [t for t in fakes.RECEIVED if t.run_id == run_id and t.stage == stage]


def test_a_run_completes_with_its_handoffs_in_order(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "lmdb"}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    handoffs = runtime.handoffs(run_id)
    assert [(h.stage, h.outcome) for h in handoffs] == [
        ("research", "accepted"),
        ("write", "accepted"),
        ("review", "accepted"),
        ("publish", "accepted"),
    ]
    assert [h.kind for h in handoffs] == ["ResearchFindings", "Draft", "Verdict", "DocPage"]
    assert handoffs[0].next_action == "write: Write about lmdb."
    assert handoffs[-1].next_action == "complete the run"
    assert handoffs[1].quality.completeness == 0.9  # the writer attached markers via Result
    assert handoffs[1].parents == [handoffs[0].id]
    assert isinstance(runtime.payload(handoffs[3]), DocPage)
    assert run.handoffs == 4
    assert runtime.store.verify() == []


def test_instruction_is_rendered_with_the_run_input(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "actors"}).run_id
    runtime.wait(run_id, WAIT)
    assert received(run_id, "research")[0].instruction == (
        "Research actors: key findings with sources."
    )
    # Fields the input lacks stay visible rather than failing the task.
    assert received(run_id, "publish")[0].instruction == "Publish actors at {missing}."


def test_a_task_carries_decoded_upstream_artifacts_and_never_the_producer(
    runtime: Runtime,
) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"review": ["reject"]}}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    task = received(run_id, "publish")[0]
    assert set(task.inputs) == {"research", "write", "review"}
    assert isinstance(task.inputs["research"], ResearchFindings)
    assert isinstance(task.inputs["review"], Verdict)
    # the latest revision of the draft, not the rejected one
    assert task.inputs["write"] == Draft(
        title="draft 1", body="b" * 2048, citations=["https://a.example/1"]
    )
    assert task.input["topic"] == "x"
    assert "produced_by" not in msgspec.structs.asdict(task)
    assert "/0." not in msgspec.json.encode(task.inputs).decode()  # no actor names leak


def test_invalid_output_is_sent_back_with_validator_feedback_naming_the_field(
    runtime: Runtime,
) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"research": ["invalid"]}}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    first, second = received(run_id, "research")
    assert first.attempt == 1 and first.feedback == []
    assert second.attempt == 2 and second.revision == 0
    (feedback,) = second.feedback
    assert feedback.source == "validator"
    assert feedback.aspect == "$.confidence"
    assert "Expected `float` <= 1.0" in feedback.issue


def test_wrong_contract_type_is_invalid_output(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["wrongtype"]}}).run_id
    assert runtime.wait(run_id, WAIT).state == "completed"
    feedback = received(run_id, "write")[1].feedback
    assert [(f.source, f.aspect, f.issue) for f in feedback] == [
        ("validator", "type", "expected a Draft, got dict")
    ]


def test_invalid_output_on_every_attempt_escalates_invalid_output(runtime: Runtime) -> None:
    plan = {"write": ["invalid", "invalid", "invalid"]}
    run_id = runtime.submit("content", {"topic": "x", "plan": plan}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "invalid_output"
    assert escalation.run_id == run_id and escalation.stage == "write"
    assert "$.title" in escalation.feedback[0].aspect
    assert fakes.calls(run_id, "write") == 3


def test_a_failing_gate_sends_the_stage_back_as_a_revision(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"research": ["lowconf"]}}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    assert run.revisions == {"research": 1}
    second = received(run_id, "research")[1]
    assert second.revision == 1 and second.attempt == 1
    (feedback,) = second.feedback
    assert feedback.source == "gate"
    assert feedback.aspect == "confidence"
    assert feedback.issue == "confidence 0.3 is below the minimum 0.6 (short by 0.3)"
    outcomes = [(h.stage, h.revision, h.outcome) for h in runtime.handoffs(run_id)][:2]
    assert outcomes == [("research", 0, "gate_failed"), ("research", 1, "accepted")]


def test_tests_passed_gate_reads_the_code_change(runtime: Runtime) -> None:
    run_id = runtime.submit("coding", {"plan": {"code": ["lowconf"]}}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed" and run.revisions == {"code": 1}
    assert received(run_id, "code")[1].feedback[0].aspect == "tests_passed"


@pytest.mark.parametrize("max_revisions", [0, 1, 3])
def test_an_always_rejecting_reviewer_sees_n_plus_one_drafts_then_escalates(
    open_runtime: object, max_revisions: int
) -> None:
    from runtime_support import make_config

    runtime = open_runtime(make_config(max_revisions=max_revisions))  # type: ignore[operator]
    plan = {"review": ["reject"] * 100}
    run_id = runtime.submit("content", {"topic": "x", "plan": plan}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "escalated"
    reviews = received(run_id, "review")
    assert len(reviews) == max_revisions + 1
    assert [t.inputs["write"].title for t in reviews] == [
        f"draft {n}" for n in range(max_revisions + 1)
    ]
    writes = received(run_id, "write")
    assert [w.feedback[0].source for w in writes[1:]] == ["reviewer"] * max_revisions
    (escalation,) = runtime.escalations()
    assert escalation.reason == "revisions_exhausted"
    assert escalation.retry_stage == "write" and escalation.approve_stage == "publish"
    # The full history: research, then every draft and its review.
    history = [runtime.store.get_artifact(a) for a in escalation.history]
    stages = [h.stage for h in history if h is not None]
    assert stages == ["research"] + ["write", "review"] * (max_revisions + 1)


def test_agent_exceptions_are_retried_with_backoff(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["raise", "raise"]}}).run_id
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    assert [t.attempt for t in received(run_id, "write")] == [1, 2, 3]
    assert run.attempts["write"] == 3
    events = [e for e in runtime.store.journal() if e.type == "task.failed"]
    assert [e.detail for e in events] == ["ValueError: boom"] * 2


def test_exhausted_retries_escalate_with_the_exception(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["raise"] * 3}}).run_id
    assert runtime.wait(run_id, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "retries_exhausted"
    assert escalation.summary == "write failed on all 3 attempts; last: ValueError: boom"


def test_approve_accepts_the_last_output_and_continues(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"review": ["reject"] * 10}}).run_id
    runtime.wait(run_id, WAIT)
    (escalation,) = runtime.escalations()
    resolved = runtime.resolve(escalation.id, "approve")
    assert resolved.state == "resolved" and resolved.resolution is not None
    assert resolved.resolution.action == "approve"
    run = runtime.wait(run_id, WAIT)
    assert run.state == "completed"
    assert received(run_id, "publish")[0].inputs["write"].title == "draft 2"
    assert runtime.escalations() == []


def test_revise_runs_one_more_cycle_with_the_persons_feedback(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"review": ["reject"] * 10}}).run_id
    runtime.wait(run_id, WAIT)
    (escalation,) = runtime.escalations()
    runtime.resolve(escalation.id, "revise", "shorter, please")
    run = runtime.wait(run_id, WAIT)
    assert run.state == "escalated"  # exactly one more draft, rejected again
    writes = received(run_id, "write")
    assert len(writes) == 4
    assert writes[-1].feedback[0].source == "human"
    assert writes[-1].feedback[0].issue == "shorter, please"
    assert len(received(run_id, "review")) == 4
    assert len(runtime.escalations()) == 1


def test_cancel_ends_the_run_cancelled(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["raise"] * 3}}).run_id
    runtime.wait(run_id, WAIT)
    (escalation,) = runtime.escalations()
    runtime.resolve(escalation.id, "cancel", "not needed")
    run = runtime.wait(run_id, WAIT)
    assert run.state == "cancelled" and run.reason == "not needed"


def test_approve_after_retries_exhausted_retries_the_stage(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["raise"] * 3}}).run_id
    runtime.wait(run_id, WAIT)
    (escalation,) = runtime.escalations()
    runtime.resolve(escalation.id, "approve")
    assert runtime.wait(run_id, WAIT).state == "completed"
    assert fakes.calls(run_id, "write") == 4


def test_resolving_twice_is_an_error_not_a_second_action(runtime: Runtime) -> None:
    run_id = runtime.submit("content", {"topic": "x", "plan": {"write": ["raise"] * 3}}).run_id
    runtime.wait(run_id, WAIT)
    (escalation,) = runtime.escalations()
    runtime.resolve(escalation.id, "cancel")
    with pytest.raises(
        EscalationResolved, match=r"^escalation esc-\w+ is already resolved \(cancel\)$"
    ):
        runtime.resolve(escalation.id, "approve")
    assert runtime.get_run(run_id).state == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(EscalationNotFound):
        runtime.resolve("esc-000000000000000000000000", "approve")


def test_a_trigger_starts_a_run_from_a_committed_artifact(runtime: Runtime) -> None:
    gap = runtime.submit("support", {"question": "How do refunds work?", "gap": True}).run_id
    no_gap = runtime.submit("support", {"question": "Where is my invoice?"}).run_id
    assert runtime.wait(gap, WAIT).state == "completed"
    assert runtime.wait(no_gap, WAIT).state == "completed"
    kb_runs = runtime.store.runs(pipeline="kb").items
    assert len(kb_runs) == 1
    (kb,) = kb_runs
    assert runtime.wait(kb.run_id, WAIT).state == "completed"
    assert kb.input["question"] == "How do refunds work?"
    assert kb.trigger_artifact == runtime.handoffs(gap)[0].id


def test_idempotent_submission(runtime: Runtime) -> None:
    first, created = runtime.submit("content", {"topic": "a"}, "key-1")
    again, created_again = runtime.submit("content", {"topic": "a"}, "key-1")
    assert (again, created, created_again) == (first, True, False)
    with pytest.raises(IdempotencyConflict, match=r"^idempotency key 'key-1' was used for run"):
        runtime.submit("content", {"topic": "b"}, "key-1")
    assert len(runtime.store.runs().items) == 1


def test_unknown_pipeline(runtime: Runtime) -> None:
    with pytest.raises(UnknownPipeline, match=r"^unknown pipeline 'nope' \(known: "):
        runtime.submit("nope", {})


def test_many_runs_all_settle_and_the_store_stays_consistent(runtime: Runtime) -> None:
    plans = [{}, {"review": ["reject"]}, {"write": ["raise"]}, {"research": ["lowconf"]}]
    ids = [
        runtime.submit("content", {"topic": str(i), "plan": plans[i % 4]}).run_id for i in range(80)
    ]
    states = {runtime.wait(i, WAIT).state for i in ids}
    assert states == {"completed"}
    keys = [(h.run_id, h.stage, h.revision) for i in ids for h in runtime.handoffs(i)]
    assert len(keys) == len(set(keys))
    assert runtime.store.pending_tasks() == []
    assert runtime.store.verify() == []


def test_a_burst_commits_in_groups_on_the_committer_and_alone_inline(runtime: Runtime) -> None:
    # A burst fills groups larger than INLINE_GROUP (the committer thread commits them); the
    # single run after it commits one decision at a time on the orchestrator's thread.
    before = runtime.store.statistics()
    futures = [runtime.submit_async("content", {"topic": str(i)}) for i in range(200)]
    ids = [future.result(timeout=WAIT).run_id for future in futures]
    assert {runtime.wait(i, WAIT).state for i in ids} == {"completed"}
    burst = runtime.store.statistics()
    assert burst.batches - before.batches > 3 * (burst.commits - before.commits)
    alone = runtime.submit("content", {"topic": "alone"}).run_id
    assert runtime.wait(alone, WAIT).state == "completed"
    after = runtime.store.statistics()
    assert after.batches - burst.batches == after.commits - burst.commits  # one per commit
    assert runtime.store.verify() == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], r"run input must be an object \(a dict\), not a list$"),
        ({1: "x"}, r"run input at \$: an object key must be a string, not a int: 1$"),
        ({"n": 1 << 70}, r"run input at \$\.n: the integer is outside the 64-bit range$"),
        ({"x": object()}, r"run input at \$\.x: JSON cannot hold a object$"),
        ({"x": "y" * (2 << 20)}, r"run input is 2097169 bytes encoded; the limit is 1048576$"),
    ],
)
def test_an_input_that_cannot_be_stored_is_refused(
    runtime: Runtime, payload: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=f"^{message}"):
        runtime.submit("content", payload)  # type: ignore[arg-type]
    assert runtime.store.runs().items == []


def test_an_invalid_idempotency_key_is_refused(runtime: Runtime) -> None:
    with pytest.raises(InvalidKey, match=r"^invalid idempotency key 'two words'"):
        runtime.submit("content", {"topic": "x"}, "two words")
    assert runtime.wait(runtime.submit("content", {"topic": "x"}).run_id, WAIT).state == "completed"


def test_result_tags_are_indexed_and_bad_tags_are_invalid_output(runtime: Runtime) -> None:
    good = runtime.submit("support", {"question": "q", "plan": {"support": ["tagged"]}}).run_id
    assert runtime.wait(good, WAIT).state == "completed"
    assert runtime.store.artifacts(tag="urgent").items[0].run_id == good
    bad = runtime.submit("support", {"question": "q", "plan": {"support": ["badtags"] * 3}}).run_id
    assert runtime.wait(bad, WAIT).state == "escalated"
    (escalation,) = runtime.escalations()
    assert escalation.reason == "invalid_output"
    assert escalation.feedback[0].aspect == "tags"
    assert "tags must match" in escalation.feedback[0].issue


def test_an_unknown_resolution_action_is_refused(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match=r"^action must be approve, revise or cancel"):
        runtime.resolve("esc-000000000000000000000000", "ignore")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("before", "asked", "after"),
    [(700, 10_000, 10_000), (50_000, 10_000, 50_000), (0, 10_000, 0), (700, None, 700)],
)
def test_open_raises_the_young_gc_threshold_but_never_lowers_or_enables_it(
    open_runtime: OpenRuntime, before: int, asked: int | None, after: int
) -> None:
    import gc

    saved = gc.get_threshold()
    try:
        gc.set_threshold(before, 10, 10)
        open_runtime(gc_threshold=asked)
        assert gc.get_threshold() == (after, 10, 10)
    finally:
        gc.set_threshold(*saved)
