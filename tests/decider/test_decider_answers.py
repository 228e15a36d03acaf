"""The decider's answers: accept, stale, invalid output, review rejection, gate failure,
triggers. Driven directly: no threads, no pykka, no store (see ``decider_fakes``)."""

from __future__ import annotations

from decider_fakes import (
    World,
    draft,
    effects,
    events,
    findings,
    runs_written,
    support_answer,
    tasks_written,
    verdict,
)
from handoffs.actors.events import TaskDone, TaskFailed
from handoffs.messages import Feedback, QualityMarkers, Verdict

INVALID = Feedback(source="validator", aspect="title", issue="Draft is invalid: title too long")


def test_an_accepted_output_is_recorded_and_the_next_stage_starts() -> None:
    w = World()
    run_id = w.start(topic="bees")
    d = w.done(run_id, findings(sources=2), QualityMarkers(completeness=0.8))
    [(handoff, _, new)] = d.batch.artifacts
    assert new
    assert (handoff.outcome, handoff.stage, handoff.kind) == (
        "accepted",
        "research",
        "ResearchFindings",
    )
    assert handoff.next_action == "write: write on bees"
    assert (handoff.quality.completeness, handoff.quality.confidence) == (0.8, 0.9)  # from payload
    assert (handoff.produced_by, handoff.revision, handoff.attempt) == ("researcher-1", 0, 1)
    assert tasks_written(d) == [("research", "done", 1, "running"), ("write", "running", 1, None)]
    [(run, _, _)] = d.batch.runs
    assert (run.stage, run.handoffs, run.outputs) == ("write", 1, {"research": 1})
    assert run.latest == {"research": handoff.id}
    assert effects(d) == [("start", "write")]
    assert events(d) == ["handoff.recorded"]
    assert d.handoffs == [("content", "research", "accepted")]
    assert d.durations == [("content", "research", 2.0)]
    assert (d.run_states, d.settles) == ([], False)


def test_the_last_stage_accepted_completes_the_run() -> None:
    w = World()
    run_id = w.at_review()
    d = w.done(run_id, verdict())
    [(handoff, _, _)] = d.batch.artifacts
    assert (handoff.outcome, handoff.next_action) == ("accepted", "complete the run")
    assert [h.kind for h in w.store.run_handoffs(run_id)] == [
        "ResearchFindings",
        "Draft",
        "Verdict",
    ]
    assert tasks_written(d) == [("review", "done", 1, "running")]
    assert runs_written(d) == [("completed", "running")]
    assert events(d) == ["handoff.recorded", "run.completed"]
    assert (d.run_states, d.run_revisions, d.settles) == ([("running", "completed")], [0], True)
    assert w.decider.ledger.runs == {} and w.decider.ledger.payloads == {}


def test_an_accepted_output_can_trigger_another_pipeline() -> None:
    w = World()
    run_id = w.start("support")
    d = w.done(run_id, support_answer(doc_gap=True))
    [(handoff, _, _)] = d.batch.artifacts
    [docs] = [r for r, _, _ in d.batch.runs if r.pipeline == "docs"]
    assert (docs.state, docs.stage, docs.trigger_artifact) == ("running", "doc", handoff.id)
    assert docs.input == {
        "question": "q?",
        "answer": "a.",
        "product_area": "billing",
        "is_common": False,
        "doc_gap": True,
    }
    assert tasks_written(d) == [("answer", "done", 1, "running"), ("doc", "running", 1, None)]
    assert effects(d) == [("start", "doc")]
    assert d.run_states == [(None, "running"), ("running", "completed")]
    assert events(d) == ["handoff.recorded", "run.submitted", "run.completed"]


def test_no_trigger_when_its_field_is_false() -> None:
    w = World()
    run_id = w.start("support")
    d = w.done(run_id, support_answer())
    assert [r.pipeline for r, _, _ in d.batch.runs] == ["support"]


def test_a_stale_answer_is_dropped_and_counted() -> None:
    w = World()
    run_id = w.start()
    rec = w.task(run_id)
    late = w.done_event(run_id, findings(), attempt=2)
    d = w.decide(late)
    assert (len(d.batch), d.handoffs, d.durations) == (0, [], [])
    assert effects(d) == [("health", "stale", "")]
    assert d.effects[0].event.run_id == run_id  # type: ignore[union-attr]
    unknown = TaskFailed("task-" + "e" * 24, 1, "researcher-1", "boom", 1.0)
    d = w.decide(unknown)
    assert len(d.batch) == 0 and d.effects[0].event.run_id == ""  # type: ignore[union-attr]
    assert w.decider.stale == 2
    assert w.task(run_id) == rec


def test_an_answer_for_a_cancelled_run_is_stale() -> None:
    w = World()
    run_id = w.start()
    answer = w.done_event(run_id, findings())
    w.cancel(run_id)
    d = w.decide(answer)
    assert (len(d.batch), effects(d), w.decider.stale) == (0, [("health", "stale", "")], 1)


def test_invalid_output_is_retried_with_the_validators_feedback() -> None:
    w = World()
    run_id = w.at_write()
    d = w.done(run_id, INVALID)
    [(task, _, was)] = d.batch.tasks
    assert (task.stage, task.state, task.attempt, was) == ("write", "running", 2, "running")
    assert task.feedback == [INVALID]
    assert task.last_error == "Draft is invalid: title too long"
    assert d.batch.artifacts == []
    assert (d.handoffs, d.durations) == ([], [("content", "write", 2.0)])
    assert [r.attempts for r, _, _ in d.batch.runs] == [{"research": 1, "write": 2}]
    assert effects(d) == [("health", "failure", "invalid_output"), ("start", "write")]
    assert events(d) == ["task.failed"]


def test_invalid_output_on_every_attempt_escalates() -> None:
    w = World()
    run_id = w.at_write()
    w.done(run_id, INVALID)
    w.done(run_id, INVALID)
    d = w.done(run_id, INVALID)  # max_attempts 3
    assert tasks_written(d) == [("write", "done", 3, "running")]
    esc = w.escalation(run_id)
    assert (esc.reason, esc.stage, esc.retry_stage) == ("invalid_output", "write", "write")
    assert esc.summary == (
        "write returned invalid output on all 3 attempts; last: Draft is invalid: title too long"
    )
    assert esc.feedback == [INVALID]
    assert esc.history == [h.id for h in w.store.run_handoffs(run_id)]
    assert runs_written(d) == [("escalated", "running")]
    assert effects(d) == [
        ("health", "failure", "invalid_output"),
        ("health", "escalation", "invalid_output"),
    ]
    assert events(d) == ["task.failed", "run.escalated"]
    assert (d.escalations, d.settles, d.handoffs) == (1, True, [])


def test_invalid_tags_are_invalid_output() -> None:
    w = World()
    run_id = w.start()
    d = w.done(run_id, findings(), tags=["no spaces"])
    [(task, _, _)] = d.batch.tasks
    assert task.attempt == 2
    assert task.feedback[0].issue.startswith("invalid tags ['no spaces']: tags must match")


def test_a_review_rejection_sends_its_target_back_with_the_reviewers_feedback() -> None:
    w = World()
    run_id = w.at_review()
    d = w.done(run_id, verdict("too short", "no citations"))
    [(handoff, _, _)] = d.batch.artifacts
    assert (handoff.outcome, handoff.stage) == ("rejected", "review")
    assert handoff.next_action == "revise write: too short; no citations"
    assert [f.issue for f in handoff.feedback] == ["too short", "no citations"]
    assert tasks_written(d) == [("review", "done", 1, "running"), ("write", "running", 1, None)]
    [(task, _, _)] = d.batch.tasks[1:]
    assert (task.revision, [f.issue for f in task.feedback]) == (1, ["too short", "no citations"])
    run = w.store.runs[run_id]
    assert (run.revisions, run.outputs, run.stage) == (
        {"write": 1},
        {"research": 1, "write": 1, "review": 1},
        "write",
    )
    assert "review" not in run.latest  # a rejection is not the stage's accepted output
    assert effects(d) == [("health", "revision", ""), ("start", "write")]
    assert d.handoffs == [("content", "review", "rejected")]


def test_a_rejection_without_feedback_says_so() -> None:
    w = World()
    run_id = w.at_review()
    w.done(run_id, Verdict(approved=False))
    assert [f.issue for f in w.task(run_id).feedback] == ["rejected without specific feedback"]


def test_rejections_past_max_revisions_escalate() -> None:
    w = World()
    run_id = w.at_review()
    for _ in range(2):  # max_revisions 2
        w.done(run_id, verdict("too short"))
        w.done(run_id, draft())
    d = w.done(run_id, verdict("too short"))
    drafts = [h for h in w.store.run_handoffs(run_id) if h.kind == "Draft"]
    assert len(drafts) == 3
    esc = w.escalation(run_id)
    assert (esc.reason, esc.stage, esc.retry_stage, esc.approve_stage) == (
        "revisions_exhausted",
        "review",
        "write",
        None,
    )
    assert esc.summary == "review rejected 3 outputs of write (max_revisions 2): too short"
    assert esc.artifact_id == drafts[-1].id
    [(handoff, _, _)] = d.batch.artifacts
    assert handoff.next_action == "escalate: review rejected 3 outputs of write"
    assert tasks_written(d) == [("review", "done", 1, "running")]
    assert w.store.runs[run_id].revisions == {"write": 2}
    assert effects(d) == [("health", "escalation", "revisions_exhausted")]
    assert (d.escalations, d.handoffs) == (1, [("content", "review", "rejected")])


def test_a_failed_gate_sends_the_same_stage_back_with_the_gates_feedback() -> None:
    w = World()
    run_id = w.start()
    d = w.done(run_id, findings(sources=0))
    [(handoff, _, _)] = d.batch.artifacts
    assert (handoff.outcome, handoff.stage) == ("gate_failed", "research")
    issue = "0 sources is below the minimum 1 (short by 1)"
    assert handoff.next_action == f"revise research: {issue}"
    assert tasks_written(d) == [
        ("research", "done", 1, "running"),
        ("research", "running", 1, None),
    ]
    [(task, _, _)] = d.batch.tasks[1:]
    assert (task.revision, [(f.source, f.issue) for f in task.feedback]) == (1, [("gate", issue)])
    assert w.store.runs[run_id].revisions == {"research": 1}
    assert d.handoffs == [("content", "research", "gate_failed")]


def test_failed_gates_past_max_revisions_escalate_with_the_last_output() -> None:
    w = World()
    run_id = w.start()
    w.done(run_id, findings(sources=0))
    d = w.done(run_id, findings(sources=0))  # max_revisions 1
    esc = w.escalation(run_id)
    assert esc.summary == (
        "research failed its quality gates 2 times (max_revisions 1): "
        "0 sources is below the minimum 1 (short by 1)"
    )
    assert esc.artifact_id == d.batch.artifacts[0][0].id
    assert (esc.retry_stage, esc.approve_stage) == ("research", "write")


def test_a_task_done_that_is_not_current_is_not_decided_twice() -> None:
    w = World()
    run_id = w.start()
    event = w.done_event(run_id, findings())
    w.decide(event)
    d = w.decide(TaskDone(event.task_id, 1, "researcher-1", event.checked, [], 1.0))
    assert (len(d.batch), w.decider.stale) == (0, 1)
    assert len(w.store.run_handoffs(run_id)) == 1
