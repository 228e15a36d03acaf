"""The decider's requests: submit (with idempotency keys), resolve, cancel, role down and up.

Driven directly: no threads, no pykka, no store (see ``decider_fakes``).
"""

from __future__ import annotations

import pytest
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
from handoffs.actors.checks import ValidOutput
from handoffs.actors.errors import (
    EscalationNotFound,
    EscalationResolved,
    IdempotencyConflict,
    InvalidInput,
    RunFinished,
    RunNotFound,
    UnknownPipeline,
)
from handoffs.actors.events import Resolve
from handoffs.messages import Feedback, QualityMarkers, Run, Verdict, encode_msgpack

# ----------------------------------------------------------------- submit


def test_submit_writes_a_run_and_starts_its_first_task_when_an_agent_has_room() -> None:
    w = World(researcher=1)
    d = w.submit(topic="bees")
    run_id = f"run-{1:024x}"
    assert d.reply == (run_id, True)
    assert runs_written(d) == [("running", None)]
    [(run, _, _)] = d.batch.runs
    assert (run.stage, run.input, run.attempts) == ("research", {"topic": "bees"}, {"research": 1})
    assert tasks_written(d) == [("research", "running", 1, None)]
    assert d.batch.tasks[0][0].lease_deadline == w.now + 30
    assert effects(d) == [("start", "research")]
    assert events(d) == ["run.submitted"]
    assert d.run_states == [(None, "running")]
    assert (d.handoffs, d.escalations, d.settles) == ([], 0, False)
    assert w.capacity.rooms["researcher"] == 0  # held for the Start


def test_submit_queues_the_first_task_ready_when_no_agent_has_room() -> None:
    w = World(researcher=0)
    d = w.submit()
    assert tasks_written(d) == [("research", "ready", 1, None)]
    assert effects(d) == [("queue", "research", 0.0)]
    assert w.capacity.rooms["researcher"] == 0


def test_submit_to_an_unknown_pipeline_raises_and_changes_nothing() -> None:
    w = World()
    with pytest.raises(UnknownPipeline) as info:
        w.submit("nope")
    assert str(info.value) == "unknown pipeline 'nope' (known: content, docs, flaky, support)"
    assert (w.decider.ledger.runs, w.decider.ledger.tasks, w.store.runs) == ({}, {}, {})
    assert w.capacity.rooms == {}


def test_void_gives_back_the_room_a_decision_held() -> None:
    w = World(researcher=1)
    d = w.decide(w.submit_event(), commit=False)
    assert w.capacity.rooms["researcher"] == 0
    w.decider.void(d)
    assert w.capacity.rooms["researcher"] == 1


def test_a_submit_that_raises_after_reserving_leaves_no_room_held_and_no_task() -> None:
    w = World(researcher=1)
    with pytest.raises(TypeError):
        w.submit(topic=object())  # the run's input cannot be encoded
    assert w.capacity.rooms["researcher"] == 1
    assert w.decider.ledger.tasks == {}


def test_an_idempotency_key_repeated_with_the_same_request_names_the_same_run() -> None:
    w = World()
    first = w.submit(key="k1", digest="abc")
    assert first.key == "k1"
    assert w.store.idempotency["k1"].run_id == first.reply[0]
    again = w.submit(key="k1", digest="abc")
    assert again.reply == (first.reply[0], False)
    assert (len(again.batch), again.effects, again.run_states) == (0, [], [])


def test_an_idempotency_key_reused_with_another_request_conflicts() -> None:
    w = World()
    run_id = w.submit(key="k1", digest="abc").reply[0]
    with pytest.raises(IdempotencyConflict) as info:
        w.submit(key="k1", digest="xyz")
    assert str(info.value) == (
        f"idempotency key 'k1' was used for run {run_id} with a different request"
    )
    assert list(w.store.runs) == [run_id]


def test_a_staged_idempotency_key_is_honoured_before_its_commit() -> None:
    w = World()
    first = w.decide(w.submit_event(key="k1", digest="abc"), commit=False)
    again = w.decide(w.submit_event(key="k1", digest="abc"), commit=False)
    assert again.reply == (first.reply[0], False)
    assert len(again.batch) == 0
    with pytest.raises(IdempotencyConflict):
        w.decide(w.submit_event(key="k1", digest="xyz"), commit=False)


# ----------------------------------------------------------------- resolve


def review_escalated(w: World) -> str:
    """A content run whose review rejected three drafts (max_revisions 2): escalated."""
    run_id = w.at_review()
    for _ in range(2):
        w.done(run_id, verdict("too short"))
        w.done(run_id, draft())
    w.done(run_id, verdict("too short"))
    return run_id


def test_approving_exhausted_revisions_accepts_the_last_output_and_advances() -> None:
    w = World()
    run_id = w.start()  # research's gate (min_sources 1) turns down two outputs (max_revisions 1)
    w.done(run_id, findings(sources=0))
    d = w.done(run_id, findings(sources=0))
    esc = w.escalation(run_id)
    assert esc.reason == "revisions_exhausted"
    last = d.batch.artifacts[0][0]
    assert esc.artifact_id == last.id
    assert esc.approve_stage == "write"
    d = w.resolve(esc.id, "approve")
    assert d.reply.state == "resolved" and d.reply.resolution.action == "approve"
    assert [(e.state, was) for e, _, was in d.batch.escalations] == [("resolved", "open")]
    assert tasks_written(d) == [("write", "running", 1, None)]
    [(run, _, _)] = d.batch.runs
    assert (run.state, run.stage, run.latest["research"]) == ("running", "write", last.id)
    assert (d.escalations, d.run_states) == (-1, [("escalated", "running")])
    assert events(d) == ["escalation.resolved"]


def test_approving_a_review_loop_completes_the_run_with_the_last_draft() -> None:
    w = World()
    run_id = review_escalated(w)
    esc = w.escalation(run_id)
    drafts = [h for h in w.store.run_handoffs(run_id) if h.kind == "Draft"]
    assert len(drafts) == 3  # max_revisions + 1
    assert esc.artifact_id == drafts[-1].id
    d = w.resolve(esc.id, "approve")
    [(run, _, _)] = d.batch.runs
    assert (run.state, run.latest["write"]) == ("completed", drafts[-1].id)
    assert d.run_states == [("escalated", "completed")]
    assert (d.run_revisions, d.settles) == ([2], True)


def test_revise_starts_the_stage_again_with_the_persons_feedback_and_one_more_cycle() -> None:
    w = World()
    run_id = review_escalated(w)
    esc = w.escalation(run_id)
    d = w.resolve(esc.id, "revise", "cite two sources")
    [(task, _, _)] = d.batch.tasks
    assert (task.stage, task.state, task.revision) == ("write", "running", 3)
    assert task.feedback == [
        Feedback(source="human", issue="cite two sources", severity="major"),
        Feedback(source="reviewer", issue="too short"),
    ]
    run = w.store.runs[run_id]
    assert (run.revisions, run.limits) == ({"write": 3}, {"write": 3})
    assert effects(d) == [("health", "revision", ""), ("start", "write")]
    # the raised limit is one more draft: its rejection escalates again
    w.done(run_id, draft())
    w.done(run_id, verdict("still short"))
    assert w.escalation(run_id).summary == (
        "review rejected 4 outputs of write (max_revisions 3): still short"
    )


def test_resolving_with_cancel_ends_the_run_cancelled() -> None:
    w = World()
    run_id = review_escalated(w)
    d = w.resolve(w.escalation(run_id).id, "cancel")
    assert runs_written(d) == [("cancelled", "escalated")]
    assert w.store.runs[run_id].reason == "cancelled by a person"
    assert events(d) == ["escalation.resolved", "run.cancelled"]
    assert (d.escalations, d.settles, d.batch.tasks) == (-1, True, [])


def test_a_second_resolution_is_refused() -> None:
    w = World()
    run_id = review_escalated(w)
    esc_id = w.escalation(run_id).id
    w.resolve(esc_id, "approve")
    with pytest.raises(EscalationResolved) as info:
        w.resolve(esc_id, "cancel")
    assert str(info.value) == f"escalation {esc_id} is already resolved (approve)"
    assert w.store.runs[run_id].state == "completed"


def test_resolving_an_unknown_escalation_is_not_found() -> None:
    w = World()
    missing = "esc-" + "0" * 24
    with pytest.raises(EscalationNotFound) as info:
        w.resolve(missing, "approve")
    assert str(info.value) == f"no escalation {missing!r}"


# ----------------------------------------------------------------- cancel


def test_cancel_withdraws_the_runs_tasks_and_replies_with_the_run() -> None:
    w = World()
    run_id = w.at_write()
    d = w.cancel(run_id, "not needed")
    assert tasks_written(d) == [("write", "done", 1, "running")]
    assert d.batch.tasks[0][0].last_error == "run cancelled: not needed"
    assert effects(d) == [("withdraw", "write")]
    assert isinstance(d.reply, Run)
    assert (d.reply.run_id, d.reply.state, d.reply.reason) == (run_id, "cancelled", "not needed")
    assert runs_written(d) == [("cancelled", "running")]
    assert (d.run_states, d.run_revisions, d.settles) == ([("running", "cancelled")], [0], True)
    assert events(d) == ["run.cancelled"]
    assert w.decider.ledger.tasks == {} and w.decider.ledger.runs == {}


def test_cancelling_an_escalated_run_resolves_its_escalation() -> None:
    w = World()
    run_id = review_escalated(w)
    esc_id = w.escalation(run_id).id
    d = w.cancel(run_id, "enough")
    resolved = w.store.escalations[esc_id]
    assert resolved.state == "resolved"
    assert resolved.resolution is not None
    assert (resolved.resolution.action, resolved.resolution.feedback) == ("cancel", "enough")
    assert (d.escalations, d.reply.state) == (-1, "cancelled")


def test_cancelling_an_unknown_or_finished_run_is_refused() -> None:
    w = World()
    missing = "run-" + "f" * 24
    with pytest.raises(RunNotFound) as info:
        w.cancel(missing)
    assert str(info.value) == f"no run {missing!r}"
    run_id = w.start("support")
    w.done(run_id, support_answer())
    with pytest.raises(RunFinished) as finished:
        w.cancel(run_id)
    assert str(finished.value) == f"run {run_id} already ended (completed)"


# ----------------------------------------------------------------- roles


def test_role_down_escalates_every_run_waiting_on_it() -> None:
    w = World(writer=1)
    running, ready = w.at_write(), w.at_write()
    assert [w.task(r).state for r in (running, ready)] == ["running", "ready"]
    d = w.role_down("writer", "too many restarts")
    assert tasks_written(d) == [("write", "done", 1, "running"), ("write", "done", 1, "ready")]
    assert runs_written(d) == [("escalated", "running"), ("escalated", "running")]
    for run_id in (running, ready):
        esc = w.escalation(run_id)
        assert (esc.reason, esc.retry_stage) == ("role_down", "write")
        assert esc.summary == "role writer is down (too many restarts); write cannot run"
    assert effects(d) == [
        ("withdraw", "write"),
        ("health", "escalation", "role_down"),
        ("withdraw", "write"),
        ("health", "escalation", "role_down"),
    ]
    assert (d.escalations, d.settles) == (2, True)


def test_a_task_for_a_down_role_escalates_at_once() -> None:
    w = World()
    w.role_down("writer")
    run_id = w.start()
    d = w.done(run_id, findings())
    assert [(t.stage, t.state) for t, _, _ in d.batch.tasks] == [("research", "done")]
    esc = w.escalation(run_id)
    assert (esc.reason, esc.summary) == ("role_down", "role writer is down; write cannot run")
    assert effects(d) == [("health", "escalation", "role_down")]


def test_role_up_approves_the_role_down_escalations_and_starts_the_work_again() -> None:
    w = World()
    runs = [w.at_write(), w.at_write()]
    review = review_escalated(w)  # an escalation of another reason stays open
    w.role_down("writer")
    d = w.role_up("writer")
    assert tasks_written(d) == [("write", "running", 1, None), ("write", "running", 1, None)]
    assert [w.task(r).stage for r in runs] == ["write", "write"]
    assert (d.reply, d.escalations) == (None, -2)
    assert events(d) == ["escalation.resolved", "escalation.resolved"]
    assert w.escalation(review).reason == "revisions_exhausted"
    assert w.decider.ledger.down == set()


def test_a_revision_for_a_down_role_keeps_the_reviewers_feedback_after_role_up() -> None:
    w = World()
    run_id = w.at_review()
    w.role_down("writer")
    w.done(run_id, verdict("too short"))  # the revision escalates role_down at once
    assert [f.issue for f in w.escalation(run_id).feedback] == ["too short"]
    w.role_up("writer")
    assert "too short" in [f.issue for f in w.task(run_id).feedback]


def test_a_waiting_revision_keeps_the_reviewers_feedback_across_role_down_and_up() -> None:
    w = World()
    run_id = w.at_review()
    w.done(run_id, verdict("too short"))  # write waits with the reviewer's feedback
    w.role_down("writer")
    w.role_up("writer")
    assert "too short" in [f.issue for f in w.task(run_id).feedback]


def test_an_edited_output_of_the_wrong_contract_changes_nothing() -> None:
    w = World()
    run_id = w.at_review()
    while not w.decider.ledger.escalations:  # the review rejects until the loop runs out
        w.done(run_id, verdict("no"))
        if not w.decider.ledger.escalations:
            w.done(run_id, draft())
    (escalation,) = w.decider.ledger.escalations.values()
    wrong = Verdict(approved=True)  # write outputs a Draft
    edit = ValidOutput(wrong, encode_msgpack(wrong), QualityMarkers())
    with pytest.raises(InvalidInput, match=r"^output: write outputs Draft$"):
        w.decider.decide(Resolve(escalation.id, "approve", None, None, edit), w.now)
    assert list(w.decider.ledger.escalations) == [escalation.id]  # still open, in memory
