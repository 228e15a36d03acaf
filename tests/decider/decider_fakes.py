"""Fakes that drive the pure decider with no threads, pykka or LMDB store.

``FakeStore`` is the committed store as the decider reads it (``StoreReader``): committing a
decision applies its batch, decoding every record so one the real store would refuse fails
here too. ``FakeCapacity`` has a number of free agents per role; ``Ids`` makes ids that pass
``ID_PATTERN`` in a fixed order. ``World`` holds the three and a clock, with helpers that
drive a run to a given stage. (Not ``fakes.py``: ``tests/fakes.py`` is importable as that.)
"""

from __future__ import annotations

from typing import Any

import msgspec
from handoffs.actors.checks import ValidOutput, validate_output
from handoffs.actors.decider import Decider
from handoffs.actors.decision import Decision, Health, Queue, Start, Withdraw
from handoffs.actors.events import (
    Cancel,
    LeaseExpired,
    QueueExpired,
    Resolve,
    RoleDown,
    RoleUp,
    Submit,
    TaskDone,
    TaskFailed,
)
from handoffs.actors.pipelines import Pipelines
from handoffs.actors.topology import item_key
from handoffs.messages import (
    Config,
    ContractRegistry,
    DocPage,
    Draft,
    Escalation,
    Feedback,
    GateSpec,
    Handoff,
    JoinQuorum,
    PipelineSpec,
    QualityMarkers,
    ResearchFindings,
    RoleSpec,
    Run,
    Source,
    StageSpec,
    SupportResolution,
    TaskRecord,
    TriggerSpec,
    Verdict,
    msgpack_decoder,
)
from handoffs.store.batch import IdempotencyRecord

from handoffs.simulation.store import SimStore

__all__ = [
    "CONFIG",
    "FAN_CONFIG",
    "FakeCapacity",
    "FakeStore",
    "Ids",
    "World",
    "draft",
    "effects",
    "events",
    "findings",
    "live_tasks",
    "page",
    "runs_written",
    "support_answer",
    "tasks_written",
    "verdict",
]

#: content: research (a gate, a lease, a queue timeout) -> write -> review (rejects to write);
#: flaky: one stage with a long backoff; support -> triggers docs when doc_gap is true.
CONFIG = Config(
    roles={
        name: RoleSpec(agent=f"agents:{name}")
        for name in ("researcher", "writer", "reviewer", "caller", "support")
    },
    pipelines={
        "content": PipelineSpec(
            start="research",
            stages={
                "research": StageSpec(
                    role="researcher",
                    output="ResearchFindings",
                    instruction="research {topic}",
                    next="write",
                    max_revisions=1,
                    timeout=30.0,
                    queue_timeout=5.0,
                    gates=GateSpec(min_sources=1),
                ),
                "write": StageSpec(
                    role="writer", output="Draft", instruction="write on {topic}", next="review"
                ),
                "review": StageSpec(
                    role="reviewer", output="Verdict", on_reject="write", max_revisions=2
                ),
            },
        ),
        "flaky": PipelineSpec(
            start="call",
            stages={
                "call": StageSpec(
                    role="caller", output="Draft", max_attempts=5, retry_backoff=10.0, timeout=60.0
                )
            },
        ),
        "support": PipelineSpec(
            start="answer",
            stages={"answer": StageSpec(role="support", output="SupportResolution")},
        ),
        "docs": PipelineSpec(
            start="doc",
            stages={"doc": StageSpec(role="writer", output="KBArticle")},
            trigger=TriggerSpec(kind="SupportResolution", when="doc_gap"),
        ),
    },
)


def _fan(join: Any) -> PipelineSpec:
    """research -> (write -> review, faq) -> publish, joined by ``join``; write and faq share
    the writer role."""
    return PipelineSpec(
        start="research",
        stages={
            "research": StageSpec(
                role="researcher", output="ResearchFindings", next=["write", "faq"]
            ),
            "write": StageSpec(role="writer", output="Draft", next="review"),
            "review": StageSpec(
                role="reviewer",
                output="Verdict",
                on_reject="write",
                next="publish",
                max_revisions=1,
            ),
            "faq": StageSpec(role="writer", output="DocPage", next="publish"),
            "publish": StageSpec(role="editor", output="DocPage", join=join),
        },
    )


#: Fan-out and fan-in. all / any: ``_fan``; quorum: research -> (blog, faq, changelog) ->
#: publish once two arrived; map: research -> sections (one per key finding, at most 3, each
#: checked, at most one revision per item) -> edit (joins them all).
FAN_CONFIG = Config(
    roles={
        name: RoleSpec(agent=f"agents:{name}")
        for name in ("researcher", "writer", "reviewer", "editor")
    },
    pipelines={
        "all": _fan("all"),
        "any": _fan("any"),
        "quorum": PipelineSpec(
            start="research",
            stages={
                "research": StageSpec(
                    role="researcher",
                    output="ResearchFindings",
                    next=["blog", "faq", "changelog"],
                ),
                **{
                    name: StageSpec(role="writer", output="Draft", next="publish")
                    for name in ("blog", "faq", "changelog")
                },
                "publish": StageSpec(role="editor", output="DocPage", join=JoinQuorum(quorum=2)),
            },
        ),
        "map": PipelineSpec(
            start="research",
            stages={
                "research": StageSpec(
                    role="researcher", output="ResearchFindings", next="sections"
                ),
                "sections": StageSpec(
                    role="writer",
                    output="Draft",
                    for_each="research.key_findings",
                    max_items=3,
                    next="check",
                ),
                "check": StageSpec(
                    role="reviewer",
                    output="Verdict",
                    on_reject="sections",
                    next="edit",
                    max_revisions=1,
                ),
                "edit": StageSpec(role="editor", output="DocPage", join="all"),
            },
        ),
    },
)

_DECODERS: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {
    t: msgpack_decoder(t) for t in (Run, TaskRecord, Handoff, Escalation)
}


class FakeStore(SimStore):
    """The committed records, by id (a ``StoreReader``): the simulator's store, checking
    that every record decodes back as the real store would take it."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def commit(self, d: Decision) -> None:  # type: ignore[override]
        """Apply ``d``'s batch, as the committer would once its group is durable."""
        b = d.batch
        for records in (b.runs, b.tasks, b.artifacts, b.escalations):
            for record, data, _ in records:
                assert _DECODERS[type(record)].decode(data) == record  # what the store takes
        SimStore.commit(self, [b])
        self.events += [e.type for e in b.events]

    @property
    def idempotency(self) -> dict[str, IdempotencyRecord]:
        return {key: IdempotencyRecord(*bound) for key, bound in self.keys.items()}

    def pending(self) -> tuple[list[Run], list[Escalation], list[TaskRecord]]:
        """What ``Decider.load`` gets after a restart: active runs, open escalations and
        the tasks not done."""
        return self.active_runs(), self.open_escalations(), self.pending_tasks()


class FakeCapacity:
    """``rooms[role]`` agents free (10 for a role not named)."""

    def __init__(self, **rooms: int) -> None:
        self.rooms = rooms

    def reserve(self, role: str) -> bool:
        free = self.rooms.get(role, 10)
        if free <= 0:
            return False
        self.rooms[role] = free - 1
        return True

    def release(self, role: str) -> None:
        self.rooms[role] = self.rooms.get(role, 10) + 1


class Ids:
    """``run-000...001``, ``task-000...002``, ...: one counter for every prefix."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n:024x}"


def findings(
    sources: int = 1, confidence: float = 0.9, keys: list[str] | None = None
) -> ResearchFindings:
    return ResearchFindings(
        topic="bees",
        summary="bees dance",
        key_findings=["they dance"] if keys is None else keys,
        sources=[Source(url=f"https://example.com/{i}") for i in range(sources)],
        confidence=confidence,
    )


def draft(title: str = "Bees") -> Draft:
    return Draft(title=title, body="Bees dance to tell where food is.")


def page(title: str = "FAQ") -> DocPage:
    return DocPage(title=title, body="Why do bees dance? To tell where food is.")


def support_answer(*, doc_gap: bool = False) -> SupportResolution:
    """A support answer; ``doc_gap`` triggers a docs run."""
    return SupportResolution(question="q?", answer="a.", product_area="billing", doc_gap=doc_gap)


def verdict(*issues: str) -> Verdict:
    """Approval, or a rejection with one reviewer feedback per issue."""
    return Verdict(
        approved=not issues, feedback=[Feedback(source="reviewer", issue=i) for i in issues]
    )


def _key(record: TaskRecord) -> str:
    """A task's stage, ``stage:item`` in a map branch."""
    return item_key(record.stage, record.item)


def effects(d: Decision) -> list[tuple[Any, ...]]:
    """The effects, as (kind, stage (``stage:item`` in a map branch) or health kind, ...)
    tuples."""
    out: list[tuple[Any, ...]] = []
    for effect in d.effects:
        match effect:
            case Start(live):
                out.append(("start", _key(live.record)))
            case Queue(live, delay):
                out.append(("queue", _key(live.record), delay))
            case Withdraw(live):
                out.append(("withdraw", _key(live.record)))
            case Health(event):
                out.append(("health", event.kind, event.reason))
    return out


def events(d: Decision) -> list[str]:
    return [e.type for e in d.batch.events]


def runs_written(d: Decision) -> list[tuple[str, str | None]]:
    """(state, state before) per run record written."""
    return [(r.state, was) for r, _, was in d.batch.runs]


def tasks_written(d: Decision) -> list[tuple[str, str, int, str | None]]:
    """(stage (``stage:item`` in a map branch), state, attempt, state before) per task
    record written."""
    return [(_key(t), t.state, t.attempt, was) for t, _, was in d.batch.tasks]


def live_tasks(w: World, run_id: str) -> list[tuple[str, str, int]]:
    """The run's live tasks, as (stage or ``stage:item``, state, attempt), sorted."""
    return sorted(
        (_key(t.record), t.record.state, t.record.attempt)
        for t in w.decider.ledger.tasks.values()
        if t.record.run_id == run_id
    )


class World:
    """A decider over a fake store and capacity, with a clock that ticks one second per
    decision. ``decide`` commits what it decides unless told not to."""

    def __init__(self, config: Config = CONFIG, **rooms: int) -> None:
        self.store = FakeStore()
        self.capacity = FakeCapacity(**rooms)
        self.ids = Ids()
        self.decider = Decider(
            Pipelines(config, ContractRegistry()), self.store, self.capacity, ids=self.ids
        )
        self.now = 1000.0

    def decide(self, event: Any, *, commit: bool = True) -> Decision:
        self.now += 1
        if isinstance(event, TaskDone | TaskFailed):
            live = self.decider.ledger.tasks.get(event.task_id)
            if live is not None and live.record.state == "running":
                self.capacity.release(live.record.role)  # the agent that answered is free
        d = self.decider.decide(event, self.now)
        if commit:
            self.store.commit(d)
        return d

    # ------------------------------------------------------------- requests

    def submit(
        self, pipeline: str = "content", key: str | None = None, digest: str = "d1", **input: Any
    ) -> Decision:
        return self.decide(self.submit_event(pipeline, key, digest, **input))

    def submit_event(
        self, pipeline: str = "content", key: str | None = None, digest: str = "d1", **input: Any
    ) -> Submit:
        return Submit(pipeline, input or {"topic": "bees"}, key, digest, None)  # type: ignore[arg-type]

    def start(self, pipeline: str = "content", **input: Any) -> str:
        """A new run's id."""
        run_id: str = self.submit(pipeline, **input).reply[0]
        return run_id

    def resolve(self, escalation_id: str, action: str, feedback: str | None = None) -> Decision:
        return self.decide(Resolve(escalation_id, action, feedback, None))  # type: ignore[arg-type]

    def cancel(self, run_id: str, reason: str = "not needed") -> Decision:
        return self.decide(Cancel(run_id, reason, None))

    def role_down(self, role: str, reason: str = "too many restarts") -> Decision:
        return self.decide(RoleDown(role, reason))

    def role_up(self, role: str) -> Decision:
        return self.decide(RoleUp(role))

    # ------------------------------------------------------------- answers

    def task(self, run_id: str, stage: str | None = None, item: int | None = None) -> TaskRecord:
        """The run's one live task (of ``stage``, for ``item``, when a run has several)."""
        [record] = [
            t.record
            for t in self.decider.ledger.tasks.values()
            if t.record.run_id == run_id
            and (stage is None or (t.record.stage, t.record.item) == (stage, item))
        ]
        return record

    def done(
        self,
        run_id: str,
        output: Any,
        quality: QualityMarkers | None = None,
        *,
        tags: list[str] | None = None,
        attempt: int | None = None,
        stage: str | None = None,
        item: int | None = None,
    ) -> Decision:
        """The run's live task (of ``stage``, for ``item``) answered with ``output`` (a
        contract value, or ``Feedback`` for an invalid one)."""
        event = self.done_event(
            run_id, output, quality, tags=tags, attempt=attempt, stage=stage, item=item
        )
        return self.decide(event)

    def done_event(
        self,
        run_id: str,
        output: Any,
        quality: QualityMarkers | None = None,
        *,
        tags: list[str] | None = None,
        attempt: int | None = None,
        stage: str | None = None,
        item: int | None = None,
    ) -> TaskDone:
        rec = self.task(run_id, stage, item)
        checked: ValidOutput | Feedback = output
        if not isinstance(output, Feedback):
            valid = validate_output(output, type(output), type(output).__name__, quality)
            assert isinstance(valid, ValidOutput), valid
            checked = valid
        return TaskDone(
            rec.task_id, attempt or rec.attempt, f"{rec.role}-1", checked, tags or [], 2.0
        )

    def failed(
        self,
        run_id: str,
        error: str = "boom",
        *,
        unrecoverable: bool = False,
        stage: str | None = None,
        item: int | None = None,
    ) -> Decision:
        rec = self.task(run_id, stage, item)
        return self.decide(
            TaskFailed(rec.task_id, rec.attempt, f"{rec.role}-1", error, 3.0, False, unrecoverable)
        )

    def dispatch(self, run_id: str, stage: str | None = None, item: int | None = None) -> Decision:
        """The run's waiting task goes to an agent that has room: written running."""
        live = self.decider.ledger.tasks[self.task(run_id, stage, item).task_id]
        self.now += 1
        d = self.decider.start(live, self.now)
        self.store.commit(d)
        return d

    def lease_expired(self, run_id: str, actor: str = "researcher-2") -> Decision:
        rec = self.task(run_id)
        return self.decide(LeaseExpired(rec.task_id, rec.attempt, actor))

    def queue_expired(self, run_id: str) -> Decision:
        rec = self.task(run_id)
        return self.decide(QueueExpired(rec.task_id, rec.attempt))

    # ------------------------------------------------------------- stages

    def at_write(self) -> str:
        """A content run whose research was accepted: its write task is live."""
        run_id = self.start()
        self.done(run_id, findings())
        return run_id

    def at_review(self) -> str:
        """A content run whose first draft was accepted: its review task is live."""
        run_id = self.at_write()
        self.done(run_id, draft())
        return run_id

    def escalation(self, run_id: str) -> Escalation:
        """The run's open escalation (as decided)."""
        run = self.decider.ledger.runs[run_id]
        assert run.state == "escalated"
        return self.decider.ledger.escalations[run.escalation_id or ""]
