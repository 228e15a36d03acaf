"""The decider's fan-out and fan-in: static fan-out, joins (all, any, quorum), map fan-out
with per-item review loops, and escalations, cancels, role changes and restarts across
branches. Driven directly: no threads, no pykka, no store (see ``decider_fakes``)."""

from __future__ import annotations

import msgspec
import pytest
from decider_fakes import (
    FAN_CONFIG,
    World,
    draft,
    effects,
    events,
    findings,
    live_tasks,
    page,
    runs_written,
    tasks_written,
    verdict,
)
from handoffs.messages import Run

WENT_ON = "join publish went on without this branch"


def fan(pipeline: str = "all", **rooms: int) -> tuple[World, str]:
    """A run of ``pipeline`` whose research was accepted: its branches are live."""
    w = World(FAN_CONFIG, **rooms)
    run_id = w.start(pipeline)
    w.done(run_id, findings(keys=["a", "b", "c"]))
    return w, run_id


def stored(w: World, run_id: str) -> Run:
    return w.store.runs[run_id]


def write_escalated(w: World, run_id: str) -> str:
    """The write branch's review rejects two drafts (max_revisions 1): escalated."""
    w.done(run_id, draft(), stage="write")
    w.done(run_id, verdict("too short"), stage="review")
    w.done(run_id, draft(), stage="write")
    w.done(run_id, verdict("still short"), stage="review")
    return w.escalation(run_id).id


# ----------------------------------------------------------------- static fan-out


def test_a_static_fan_out_starts_every_branch_in_the_same_decision() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("all")
    d = w.done(run_id, findings())
    assert tasks_written(d) == [
        ("research", "done", 1, "running"),
        ("write", "running", 1, None),
        ("faq", "running", 1, None),
    ]
    assert effects(d) == [("start", "write"), ("start", "faq")]
    [(handoff, _, _)] = d.batch.artifacts
    assert handoff.next_action == "write: ; faq: "
    assert runs_written(d) == [("running", "running"), ("running", "running")]
    run = stored(w, run_id)
    assert (run.attempts, run.arrived, run.joined) == (
        {"research": 1, "write": 1, "faq": 1},
        {},
        [],
    )
    assert events(d) == ["handoff.recorded"]


def test_a_join_on_all_waits_for_every_branch() -> None:
    w, run_id = fan("all")
    d = w.done(run_id, page(), stage="faq")  # the first branch arrives: the join waits
    assert tasks_written(d) == [("faq", "done", 1, "running")]
    assert (effects(d), runs_written(d)) == ([], [("running", "running")])
    assert stored(w, run_id).arrived == {"publish": ["faq"]}
    w.done(run_id, draft(), stage="write")
    d = w.done(run_id, verdict(), stage="review")  # the last branch arrives: the join starts
    assert tasks_written(d) == [("review", "done", 1, "running"), ("publish", "running", 1, None)]
    assert effects(d) == [("start", "publish")]
    run = stored(w, run_id)
    assert (run.state, run.stage, run.arrived, run.joined) == (
        "running",
        "publish",
        {},
        ["publish"],
    )
    assert sorted(run.latest) == ["faq", "research", "review", "write"]
    d = w.done(run_id, page("Bees"))
    assert runs_written(d) == [("completed", "running")]
    assert events(d) == ["handoff.recorded", "run.completed"]
    assert w.decider.ledger.runs == {} and w.decider.ledger.tasks == {}


def test_a_join_on_any_starts_with_the_first_branch_and_withdraws_the_others() -> None:
    w, run_id = fan("any")
    w.done(run_id, draft(), stage="write")  # the write branch is at its review
    d = w.done(run_id, page(), stage="faq")
    assert tasks_written(d) == [
        ("faq", "done", 1, "running"),
        ("review", "done", 1, "running"),
        ("publish", "running", 1, None),
    ]
    assert d.batch.tasks[1][0].last_error == WENT_ON
    assert effects(d) == [("withdraw", "review"), ("start", "publish")]
    assert stored(w, run_id).joined == ["publish"]
    assert live_tasks(w, run_id) == [("publish", "running", 1)]


def test_a_withdrawn_branchs_late_answer_is_stale() -> None:
    w, run_id = fan("any")
    late = w.done_event(run_id, draft(), stage="write")
    w.done(run_id, page(), stage="faq")
    d = w.decide(late)
    assert (len(d.batch), effects(d), w.decider.stale) == (0, [("health", "stale", "")], 1)
    assert [h.stage for h in w.store.run_handoffs(run_id)] == ["research", "faq"]


def test_a_join_on_any_closes_the_open_escalation_of_a_branch_it_no_longer_needs() -> None:
    w, run_id = fan("any")
    esc_id = write_escalated(w, run_id)
    assert stored(w, run_id).state == "escalated"
    d = w.done(run_id, page(), stage="faq")
    closed = w.store.escalations[esc_id]
    assert closed.state == "resolved" and closed.resolution is not None
    assert (closed.resolution.action, closed.resolution.feedback) == ("cancel", WENT_ON)
    assert tasks_written(d) == [("faq", "done", 1, "running"), ("publish", "running", 1, None)]
    assert effects(d) == [("start", "publish")]
    assert d.escalations == -1
    run = stored(w, run_id)
    assert (run.state, run.escalation_id) == ("running", None)
    w.done(run_id, page("Bees"))
    assert stored(w, run_id).state == "completed"


def test_a_quorum_join_starts_once_its_quorum_arrived_and_withdraws_the_rest() -> None:
    w, run_id = fan("quorum")
    assert live_tasks(w, run_id) == [
        ("blog", "running", 1),
        ("changelog", "running", 1),
        ("faq", "running", 1),
    ]
    d = w.done(run_id, draft(), stage="blog")
    assert (tasks_written(d), effects(d)) == ([("blog", "done", 1, "running")], [])
    assert stored(w, run_id).arrived == {"publish": ["blog"]}
    d = w.done(run_id, draft(), stage="faq")  # quorum 2
    assert tasks_written(d) == [
        ("faq", "done", 1, "running"),
        ("changelog", "done", 1, "running"),
        ("publish", "running", 1, None),
    ]
    assert d.batch.tasks[1][0].last_error == WENT_ON
    assert effects(d) == [("withdraw", "changelog"), ("start", "publish")]
    run = stored(w, run_id)
    assert (run.arrived, run.joined) == ({}, ["publish"])
    assert sorted(run.latest) == ["blog", "faq", "research"]


def test_a_late_branch_reaching_a_join_that_started_ends_there() -> None:
    """A branch task that outlived its join (stored before the join went on without it,
    then recovered) ends at the join; the run completes once nothing else is left."""
    w, run_id = fan("quorum")
    changelog = w.task(run_id, "changelog")
    w.done(run_id, draft(), stage="blog")
    w.done(run_id, draft(), stage="faq")
    w.store.tasks[changelog.task_id] = changelog  # as a store written before that had it
    w.decider.load(*w.store.pending())
    assert live_tasks(w, run_id) == [("changelog", "running", 1), ("publish", "running", 1)]
    d = w.done(run_id, page("Bees"), stage="publish")  # done; the late branch still runs
    assert tasks_written(d) == [("publish", "done", 1, "running")]
    assert (runs_written(d), events(d)) == ([("running", "running")], ["handoff.recorded"])
    d = w.done(run_id, draft(), stage="changelog")
    assert tasks_written(d) == [("changelog", "done", 1, "running")]
    assert effects(d) == []
    assert runs_written(d) == [("completed", "running")]
    assert events(d) == ["handoff.recorded", "run.completed"]
    run = stored(w, run_id)
    assert (run.arrived, run.joined) == ({}, ["publish"])


# ----------------------------------------------------------------- map fan-out


def test_a_map_fan_out_starts_one_task_per_item() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    d = w.done(run_id, findings(keys=["a", "b", "c"]))
    assert tasks_written(d) == [
        ("research", "done", 1, "running"),
        ("sections:0", "running", 1, None),
        ("sections:1", "running", 1, None),
        ("sections:2", "running", 1, None),
    ]
    assert [(t.item, t.item_value, t.revision) for t, _, _ in d.batch.tasks[1:]] == [
        (0, "a", 0),
        (1, "b", 0),
        (2, "c", 0),
    ]
    assert effects(d) == [("start", "sections:0"), ("start", "sections:1"), ("start", "sections:2")]
    run = stored(w, run_id)
    assert run.items == {"sections": 3}
    assert run.attempts == {"research": 1, "sections:0": 1, "sections:1": 1, "sections:2": 1}


def test_each_item_goes_on_through_its_branch_with_its_own_keys() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    w.done(run_id, findings(keys=["a", "b", "c"]))
    d = w.done(run_id, draft("B"), stage="sections", item=1)
    [(handoff, _, _)] = d.batch.artifacts
    assert (handoff.stage, handoff.item) == ("sections", 1)
    assert tasks_written(d) == [
        ("sections:1", "done", 1, "running"),
        ("check:1", "running", 1, None),
    ]
    check = w.task(run_id, "check", 1)
    assert (check.item, check.item_value) == (1, "b")
    run = stored(w, run_id)
    assert run.latest["sections:1"] == handoff.id and "sections" not in run.latest
    assert run.outputs == {"research": 1, "sections:1": 1}
    assert run.attempts["check:1"] == 1


def test_a_review_in_a_map_branch_revises_only_its_item() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    w.done(run_id, findings(keys=["a", "b", "c"]))
    for item in (0, 1, 2):
        w.done(run_id, draft(), stage="sections", item=item)
    d = w.done(run_id, verdict("too short"), stage="check", item=1)
    assert tasks_written(d) == [
        ("check:1", "done", 1, "running"),
        ("sections:1", "running", 1, None),
    ]
    [(task, _, _)] = d.batch.tasks[1:]
    assert (task.item, task.item_value, task.revision) == (1, "b", 1)
    assert [f.issue for f in task.feedback] == ["too short"]
    assert stored(w, run_id).revisions == {"sections:1": 1}
    assert live_tasks(w, run_id) == [
        ("check:0", "running", 1),
        ("check:2", "running", 1),
        ("sections:1", "running", 1),
    ]


def test_max_revisions_counts_per_item_then_escalates_naming_the_item() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    w.done(run_id, findings(keys=["a", "b"]))
    for item in (0, 1):
        w.done(run_id, draft(), stage="sections", item=item)
    w.done(run_id, verdict("too short"), stage="check", item=0)  # item 0's one revision
    w.done(run_id, verdict("too short"), stage="check", item=1)  # item 1's one revision
    w.done(run_id, draft(), stage="sections", item=1)
    d = w.done(run_id, verdict("still short"), stage="check", item=1)
    esc = w.escalation(run_id)
    assert (esc.reason, esc.stage, esc.item, esc.retry_stage, esc.approve_stage) == (
        "revisions_exhausted",
        "check",
        1,
        "sections",
        "edit",
    )
    assert esc.summary == "check rejected 2 outputs of sections (max_revisions 1): still short"
    assert esc.artifact_id == stored(w, run_id).latest["sections:1"]
    assert tasks_written(d) == [("check:1", "done", 1, "running")]
    assert stored(w, run_id).revisions == {"sections:0": 1, "sections:1": 1}
    assert live_tasks(w, run_id) == [("sections:0", "running", 1)]  # item 0 goes on


def test_approving_an_items_escalation_lets_it_reach_the_join() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    w.done(run_id, findings(keys=["a", "b"]))
    for item in (0, 1):
        w.done(run_id, draft(), stage="sections", item=item)
    w.done(run_id, verdict(), stage="check", item=0)
    w.done(run_id, verdict("short"), stage="check", item=1)
    w.done(run_id, draft(), stage="sections", item=1)
    w.done(run_id, verdict("still short"), stage="check", item=1)
    d = w.resolve(w.escalation(run_id).id, "approve")
    assert tasks_written(d) == [("edit", "running", 1, None)]
    run = stored(w, run_id)
    assert (run.state, run.escalation_id, run.joined) == ("running", None, ["edit"])


def test_an_empty_list_goes_straight_to_the_join() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    d = w.done(run_id, findings(keys=[]))
    assert tasks_written(d) == [("research", "done", 1, "running"), ("edit", "running", 1, None)]
    assert effects(d) == [("start", "edit")]
    run = stored(w, run_id)
    assert (run.items, run.joined, run.stage) == ({"sections": 0}, ["edit"], "edit")


def test_more_items_than_max_items_fails_the_run_with_the_reason() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    d = w.done(run_id, findings(keys=["a", "b", "c", "d"]))
    assert tasks_written(d) == [("research", "done", 1, "running")]
    assert runs_written(d) == [("failed", "running")]
    run = stored(w, run_id)
    assert run.reason == "sections: 4 items in research.key_findings, over max_items 3"
    assert events(d) == ["handoff.recorded", "run.failed"]
    assert (effects(d), d.settles) == ([], True)
    assert w.decider.ledger.runs == {} and w.decider.ledger.tasks == {}


# ----------------------------------------------------------------- escalations


def test_an_escalated_branch_holds_the_join_while_the_other_goes_on() -> None:
    w, run_id = fan("all")
    esc_id = write_escalated(w, run_id)
    run = stored(w, run_id)
    assert (run.state, run.escalation_id) == ("escalated", esc_id)
    assert live_tasks(w, run_id) == [("faq", "running", 1)]  # the other branch goes on
    d = w.done(run_id, page(), stage="faq")
    assert tasks_written(d) == [("faq", "done", 1, "running")]
    assert (effects(d), runs_written(d)) == ([], [("escalated", "escalated")])
    run = stored(w, run_id)
    assert (run.state, run.escalation_id, run.arrived) == (
        "escalated",
        esc_id,
        {"publish": ["faq"]},
    )
    d = w.resolve(esc_id, "approve")  # the person accepts the last draft: the join starts
    assert tasks_written(d) == [("publish", "running", 1, None)]
    assert effects(d) == [("start", "publish")]
    run = stored(w, run_id)
    assert (run.state, run.escalation_id, run.joined) == ("running", None, ["publish"])
    assert run.latest["write"] == w.store.escalations[esc_id].artifact_id


def test_cancelling_a_branchs_escalation_ends_the_run_and_withdraws_the_other_branch() -> None:
    w, run_id = fan("all")
    esc_id = write_escalated(w, run_id)
    d = w.resolve(esc_id, "cancel", "off topic")
    assert tasks_written(d) == [("faq", "done", 1, "running")]
    assert d.batch.tasks[0][0].last_error == "run cancelled: off topic"
    assert effects(d) == [("withdraw", "faq")]
    assert runs_written(d) == [("cancelled", "escalated")]
    assert events(d) == ["escalation.resolved", "run.cancelled"]
    assert (stored(w, run_id).reason, d.escalations) == ("off topic", -1)


def test_cancelling_a_run_withdraws_both_live_branches() -> None:
    w, run_id = fan("all")
    w.done(run_id, draft(), stage="write")
    d = w.cancel(run_id, "not needed")
    assert tasks_written(d) == [("faq", "done", 1, "running"), ("review", "done", 1, "running")]
    assert {t.last_error for t, _, _ in d.batch.tasks} == {"run cancelled: not needed"}
    assert effects(d) == [("withdraw", "faq"), ("withdraw", "review")]
    assert runs_written(d) == [("cancelled", "running")]
    assert d.reply.state == "cancelled"
    assert w.decider.ledger.tasks == {} and w.decider.ledger.runs == {}


# ----------------------------------------------------------------- roles and restarts


def test_role_down_escalates_both_branches_of_its_role_and_role_up_restarts_them() -> None:
    w, run_id = fan("all")  # write and faq: both the writer role
    d = w.role_down("writer", "too many restarts")
    assert tasks_written(d) == [("write", "done", 1, "running"), ("faq", "done", 1, "running")]
    assert effects(d) == [
        ("withdraw", "write"),
        ("health", "escalation", "role_down"),
        ("withdraw", "faq"),
        ("health", "escalation", "role_down"),
    ]
    assert d.escalations == 2
    opened = sorted(w.decider.ledger.escalations.values(), key=lambda e: e.id)
    assert [(e.stage, e.retry_stage, e.summary) for e in opened] == [
        ("write", "write", "role writer is down (too many restarts); write cannot run"),
        ("faq", "faq", "role writer is down (too many restarts); faq cannot run"),
    ]
    run = stored(w, run_id)
    assert (run.state, run.escalation_id) == ("escalated", opened[1].id)
    d = w.role_up("writer")
    assert tasks_written(d) == [("write", "running", 1, None), ("faq", "running", 1, None)]
    assert effects(d) == [("start", "write"), ("start", "faq")]
    assert (d.escalations, events(d)) == (-2, ["escalation.resolved", "escalation.resolved"])
    run = stored(w, run_id)
    assert (run.state, run.escalation_id) == ("running", None)


def test_a_run_with_two_open_escalations_names_the_one_still_open() -> None:
    w, run_id = fan("all")
    w.role_down("writer")
    first, second = sorted(w.decider.ledger.escalations)
    assert stored(w, run_id).escalation_id == second
    # faq runs again, and its role is still down: it escalates again (a third escalation)
    w.resolve(second, "approve")
    still_open = set(w.decider.ledger.escalations)
    assert first in still_open and second not in still_open and len(still_open) == 2
    run = stored(w, run_id)
    assert run.state == "escalated"
    assert run.escalation_id in still_open  # never the one just resolved


def test_two_running_branch_tasks_cut_short_by_a_restart_each_count_an_attempt() -> None:
    w, run_id = fan("all")
    w.decider.load(*w.store.pending())  # a restart
    d = w.decider.cut_short(w.now)
    assert d is not None
    assert tasks_written(d) == [("write", "ready", 2, "running"), ("faq", "ready", 2, "running")]
    assert {t.last_error for t, _, _ in d.batch.tasks} == {
        "the process stopped while attempt 1 ran"
    }
    assert effects(d) == [
        ("health", "failure", "retries_exhausted"),
        ("queue", "write", 0.05),
        ("health", "failure", "retries_exhausted"),
        ("queue", "faq", 0.05),
    ]
    w.store.commit(d)
    assert stored(w, run_id).attempts == {"research": 1, "write": 2, "faq": 2}
    w.dispatch(run_id, "write")
    w.dispatch(run_id, "faq")
    assert live_tasks(w, run_id) == [("faq", "running", 2), ("write", "running", 2)]


def test_the_decided_run_and_the_stored_run_agree_across_branches() -> None:
    w, run_id = fan("all")
    w.done(run_id, page(), stage="faq")
    write_escalated(w, run_id)
    assert msgspec.structs.asdict(w.decider.ledger.runs[run_id]) == msgspec.structs.asdict(
        stored(w, run_id)
    )


def test_role_down_and_up_in_a_map_branch_keeps_each_items_value() -> None:
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    w.done(run_id, findings(keys=["a", "b"]))
    w.role_down("writer")
    assert sorted((e.stage, e.item) for e in w.decider.ledger.escalations.values()) == [
        ("sections", 0),
        ("sections", 1),
    ]
    d = w.role_up("writer")
    assert tasks_written(d) == [
        ("sections:0", "running", 1, None),
        ("sections:1", "running", 1, None),
    ]
    assert [(t.item, t.item_value) for t, _, _ in d.batch.tasks] == [(0, "a"), (1, "b")]
    assert stored(w, run_id).state == "running"


def test_a_map_item_whose_list_is_missing_from_the_store_raises_not_an_empty_list() -> None:
    # The shell fails the task's run with this reason (Decider.fail); never a silent [].
    w = World(FAN_CONFIG)
    run_id = w.start("map")
    w.done(run_id, findings(keys=["a", "b"]))
    w.decider.load(*w.store.pending())  # a restart: no decoded outputs in memory
    del w.store.artifacts[stored(w, run_id).latest["research"]]  # corrupt data
    with pytest.raises(LookupError, match=r"\(research\) is missing from the store$"):
        w.done(run_id, draft(), stage="sections", item=0)
