"""The decider's failed attempts: agent exceptions (with backoff), unrecoverable errors,
overrun leases, queue timeouts, attempts cut short by a restart, and a bug deciding an
event. Driven directly: no threads, no pykka, no store (see ``decider_fakes``)."""

from __future__ import annotations

from decider_fakes import World, effects, events, findings, runs_written, tasks_written
from handoffs.actors.events import LeaseExpired, QueueExpired


def test_an_agent_exception_is_retried_after_a_backoff() -> None:
    w = World()
    run_id = w.start("flaky")
    d = w.failed(run_id, "ConnectionError: reset")
    [(task, _, was)] = d.batch.tasks
    assert (task.state, task.attempt, was) == ("ready", 2, "running")
    assert task.not_before == w.now + 10  # retry_backoff 10 * 2**0
    assert task.lease_deadline == w.now + 10 + 60
    assert task.last_error == "ConnectionError: reset"
    assert effects(d) == [("health", "failure", "retries_exhausted"), ("queue", "call", 10.0)]
    assert [r.attempts for r, _, _ in d.batch.runs] == [{"call": 2}]
    assert events(d) == ["task.failed"]
    assert (d.handoffs, d.durations) == ([], [("flaky", "call", 3.0)])
    assert w.capacity.rooms["caller"] == 10  # a delayed retry holds no room


def test_the_backoff_doubles_per_attempt_up_to_its_cap() -> None:
    w = World()
    run_id = w.start("flaky")
    delays = []
    for _ in range(3):
        [effect] = [e for e in effects(w.failed(run_id)) if e[0] == "queue"]
        delays.append(effect[2])
        w.dispatch(run_id)
    assert delays == [10.0, 20.0, 30.0]  # 40 capped at MAX_BACKOFF


def test_exceptions_on_every_attempt_escalate() -> None:
    w = World()
    run_id = w.start()
    for _ in range(2):
        w.failed(run_id, "boom")
        w.dispatch(run_id)
    d = w.failed(run_id, "boom")  # max_attempts 3
    esc = w.escalation(run_id)
    assert (esc.reason, esc.retry_stage) == ("retries_exhausted", "research")
    assert esc.summary == "research failed on all 3 attempts; last: boom"
    assert tasks_written(d) == [("research", "done", 3, "running")]
    assert d.batch.tasks[0][0].last_error == "boom"


def test_an_unrecoverable_error_escalates_at_once() -> None:
    w = World()
    run_id = w.start("flaky")
    d = w.failed(run_id, "Unrecoverable: bad credentials", unrecoverable=True)
    assert tasks_written(d) == [("call", "done", 1, "running")]
    esc = w.escalation(run_id)
    assert esc.reason == "unrecoverable"
    assert esc.summary == "call failed on attempt 1, not retried: Unrecoverable: bad credentials"
    assert effects(d) == [
        ("health", "failure", "unrecoverable"),
        ("health", "escalation", "unrecoverable"),
    ]
    assert (d.escalations, d.run_states) == (1, [("running", "escalated")])


def test_an_overrun_lease_is_retried_at_once() -> None:
    w = World(researcher=2)
    run_id = w.start()
    d = w.lease_expired(run_id, "researcher-2")
    [(task, _, _)] = d.batch.tasks
    assert (task.state, task.attempt, task.not_before) == ("running", 2, None)
    assert task.last_error == "timed out after 30s on researcher-2"
    assert task.lease_deadline == w.now + 30
    assert effects(d) == [("health", "failure", "retries_exhausted"), ("start", "research")]
    assert d.durations == []  # no agent answered


def test_a_lease_timer_firing_late_is_ignored_and_not_counted_stale() -> None:
    w = World()
    run_id = w.start()
    rec = w.task(run_id)
    d = w.decide(LeaseExpired(rec.task_id, rec.attempt + 1))
    assert (len(d.batch), d.effects, w.decider.stale) == (0, [], 0)
    d = w.decide(QueueExpired(rec.task_id, rec.attempt + 1))
    assert (len(d.batch), d.effects, w.decider.stale) == (0, [], 0)


def test_a_lease_with_no_holder_named_says_an_agent() -> None:
    w = World()
    run_id = w.start()
    rec = w.task(run_id)
    w.decide(LeaseExpired(rec.task_id, rec.attempt))
    assert w.task(run_id).last_error == "timed out after 30s on an agent"


def test_a_task_waiting_past_its_queue_timeout_escalates() -> None:
    w = World(researcher=0)
    run_id = w.start()
    d = w.queue_expired(run_id)
    error = (
        "research waited 5s for a free agent of role researcher (queue_timeout); it never started"
    )
    assert tasks_written(d) == [("research", "done", 1, "ready")]
    assert d.batch.tasks[0][0].last_error == error
    esc = w.escalation(run_id)
    assert (esc.reason, esc.summary, esc.retry_stage) == ("queue_timeout", error, "research")
    assert effects(d) == [("health", "escalation", "queue_timeout")]


def test_an_attempt_cut_short_by_a_restart_counts() -> None:
    w = World(researcher=0)
    waiting, cut = w.start(), w.start("flaky")
    w.decider.load(*w.store.pending())
    d = w.decider.cut_short(w.now)
    assert d is not None
    assert tasks_written(d) == [("call", "ready", 2, "running")]  # the ready task is not
    [(task, _, _)] = d.batch.tasks
    assert task.last_error == "the process stopped while attempt 1 ran"
    assert effects(d) == [("health", "failure", "retries_exhausted"), ("queue", "call", 10.0)]
    w.store.commit(d)
    assert w.task(cut).attempt == 2 and w.task(waiting).attempt == 1


def test_a_task_that_stops_the_process_on_every_attempt_escalates() -> None:
    w = World()
    run_id = w.start()
    for attempt in (1, 2, 3):  # max_attempts 3
        w.decider.load(*w.store.pending())  # a restart
        d = w.decider.cut_short(w.now)
        assert d is not None
        w.store.commit(d)
        if attempt < 3:
            w.dispatch(run_id)
    esc = w.store.escalations[w.store.runs[run_id].escalation_id or ""]
    assert esc.reason == "retries_exhausted"
    assert esc.summary == (
        "research failed on all 3 attempts; last: the process stopped while attempt 3 ran"
    )
    w.decider.load(*w.store.pending())
    assert w.decider.cut_short(w.now) is None


def test_release_idle_writes_running_tasks_back_to_ready() -> None:
    w = World(researcher=1)
    w.start(), w.start()
    d = w.decider.release_idle(w.now)
    assert d is not None
    assert tasks_written(d) == [("research", "ready", 1, "running")]
    assert (d.effects, d.batch.runs) == ([], [])
    w.store.commit(d)
    w.decider.load(*w.store.pending())
    assert w.decider.release_idle(w.now) is None


def test_a_bug_deciding_an_answer_fails_its_run_with_the_reason() -> None:
    w = World()
    run_id = w.start()
    event = w.done_event(run_id, findings())
    d = w.decider.fail(event, ValueError("corrupt payload"), w.now)
    assert d is not None
    assert tasks_written(d) == [("research", "done", 1, "running")]
    assert effects(d) == [("withdraw", "research")]
    assert runs_written(d) == [("failed", "running")]
    assert (
        d.batch.runs[0][0].reason == "internal error deciding research: ValueError: corrupt payload"
    )
    assert events(d) == ["run.failed"]
    assert (d.run_states, d.settles) == ([("running", "failed")], True)
    assert w.decider.fail(w.submit_event(), ValueError("x"), w.now) is None  # no task at stake
