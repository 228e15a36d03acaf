"""What callers and the supervisor ask of the decider: start a run, resolve an escalation,
cancel a run, a role going down or coming back.

A caller's mistake (an unknown pipeline, a second resolution) raises one of the runtime's
errors before anything is decided. Pure: no pykka, no lmdb, no clock, no threads.
"""

from __future__ import annotations

import msgspec
from handoffs.actors.branches import Branches
from handoffs.actors.checks import ValidOutput, effective_quality
from handoffs.actors.decision import Decision
from handoffs.actors.errors import (
    EscalationNotFound,
    EscalationResolved,
    IdempotencyConflict,
    InvalidInput,
    RunFinished,
    RunNotFound,
    UnknownPipeline,
)
from handoffs.actors.events import Cancel, Resolve, Submit
from handoffs.actors.ledger import Ledger
from handoffs.actors.recording import accepted, bump, next_action, record
from handoffs.actors.topology import item_key
from handoffs.messages import (
    Escalation,
    Feedback,
    QualityMarkers,
    Resolution,
    Run,
    Verdict,
    encode_msgpack,
)

__all__ = ["PERSON", "Requests"]

#: ``produced_by`` of a handoff a person made (an approval, an edited output).
PERSON = "person"


class Requests:
    """Submissions, resolutions, cancellations and role changes, over the ledger."""

    def __init__(self, ledger: Ledger, branches: Branches) -> None:
        self._ledger = ledger
        self._branches = branches

    def submit(self, msg: Submit, d: Decision) -> None:
        """Start a run; ``d.reply`` is ``(run_id, created)`` (an idempotent repeat: not
        created)."""
        ledger = self._ledger
        if msg.pipeline not in ledger.pipelines.pipelines:
            raise UnknownPipeline(msg.pipeline, list(ledger.pipelines.pipelines))
        key = msg.idempotency_key
        if key is not None:
            known = ledger.staged_keys.get(key)
            if known is None:
                record = ledger.reader.get_idempotency(key)
                known = None if record is None else (record.run_id, record.digest)
            if known is not None:
                run_id, digest = known
                if digest != msg.digest:
                    raise IdempotencyConflict(key, run_id)
                d.reply = (run_id, False)
                return
        run = ledger.start_run(msg.pipeline, msg.input, d, key=key)
        if key is not None:
            d.batch.put_idempotency(key, run.run_id, msg.digest)
            ledger.staged_keys[key] = (run.run_id, msg.digest)
            d.key = key
        d.reply = (run.run_id, True)

    def resolve(self, msg: Resolve, d: Decision) -> None:
        """A person's decision on an open escalation; ``d.reply`` is the resolved
        escalation."""
        ledger = self._ledger
        escalation = ledger.escalations.get(msg.escalation_id)
        if escalation is None:
            stored = ledger.reader.get_escalation(msg.escalation_id)
            if stored is None:
                raise EscalationNotFound(msg.escalation_id)
            if stored.state == "open":  # its run moved on (or it is not committed yet)
                raise EscalationResolved(stored.id, "run moved on")
            action = stored.resolution.action if stored.resolution else "resolved"
            raise EscalationResolved(stored.id, action)
        run = ledger.runs.get(escalation.run_id)
        if run is None:
            raise EscalationResolved(escalation.id, "run moved on")
        if msg.output is not None:  # refused before anything changes
            if msg.action != "approve":
                raise InvalidInput(f"output: an edited output comes with approve, not {msg.action}")
            name = escalation.retry_stage or escalation.stage
            stage = ledger.pipelines.stage(run.pipeline, name)
            if not isinstance(msg.output.value, stage.contract):
                raise InvalidInput(f"output: {name} outputs {stage.spec.output}")
        text = msg.feedback[:20_000] if msg.feedback else None  # stored: keep it decodable
        resolved = msgspec.structs.replace(
            escalation,
            state="resolved",
            resolution=Resolution(action=msg.action, feedback=text, at=d.now),
        )
        ledger.close_escalation(resolved, d)
        d.batch.event(
            "escalation.resolved",
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=escalation.stage,
            detail=f"{msg.action}: {text or ''}"[:20_000],
        )
        human = [Feedback(source="human", issue=text, severity="major")] if text else []
        item = escalation.item
        target = escalation.retry_stage or escalation.stage
        told = [*human, *escalation.feedback][:100]
        if msg.action == "cancel":
            ledger.end_run(run, "cancelled", d, reason=text or "cancelled by a person")
        elif escalation.reason in ("approval", "approval_timeout"):
            self._approval(run, escalation, msg, human, d)
        elif msg.output is not None:
            run = self._edited(run, escalation, msg.output, human, d)
            # Go on from the stage in question; after a review loop, from the reviewer.
            origin = escalation.stage if escalation.reason == "revisions_exhausted" else target
            self._branches.advance(run, origin, d, item=item)
        elif msg.action == "revise":
            run = self._revise(run, target, item, d)
            self._retask(run, target, told, item, d)
        elif escalation.reason == "revisions_exhausted":
            run = self._accept_last(run, escalation)
            self._branches.advance(run, escalation.stage, d, item=item)
        else:  # run the stage again, with what it was told before
            self._retask(run, target, told, item, d)
        d.reply = resolved

    def _revise(self, run: Run, target: str, item: int | None, d: Decision) -> Run:
        """A person grants ``target`` one more cycle: counted, and its limit raised."""
        key = item_key(target, item)
        run = bump(run, revisions=key)
        run = msgspec.structs.replace(run, limits={**run.limits, key: run.revisions[key]})
        self._ledger.health(d, "revision", pipeline=run.pipeline, stage=target, run_id=run.run_id)
        return run

    def _retask(
        self, run: Run, stage: str, feedback: list[Feedback], item: int | None, d: Decision
    ) -> None:
        """A new task for ``stage`` (for ``item`` of its map branch)."""
        mapped = self._ledger.pipelines.stage(run.pipeline, stage).mapped
        value = None if mapped is None else self._branches.item_value(run, mapped, item)
        self._ledger.new_task(run, stage, d, feedback=feedback, item=item, item_value=value)

    def _approval(
        self, run: Run, escalation: Escalation, msg: Resolve, human: list[Feedback], d: Decision
    ) -> None:
        """A stage people review: the person's verdict is recorded as its handoff; approve
        goes on to the stage's ``next`` (with their corrected output first, if they edited
        it), revise sends ``on_reject`` back with their text."""
        ledger = self._ledger
        target = escalation.retry_stage
        if msg.output is not None and target is not None:
            run = self._edited(run, escalation, msg.output, human, d)
        approved = msg.action == "approve"
        verdict = Verdict(approved=approved, feedback=human)
        checked = ValidOutput(verdict, encode_msgpack(verdict), QualityMarkers())
        issues = "; ".join(f.issue for f in human) or "no reason given"
        item = escalation.item
        run, handoff = record(
            ledger,
            run,
            escalation.stage,
            checked,
            checked.quality,
            d,
            produced_by=PERSON,
            outcome="accepted" if approved else "rejected",
            next_action=next_action(ledger, run, escalation.stage)
            if approved
            else f"revise {target}: {issues}",
            revision=run.outputs.get(item_key(escalation.stage, item), 0),
            attempt=1,
            feedback=human,
            latest=approved,
            item=item,
        )
        if approved:
            accepted(ledger, run, handoff, verdict, checked.quality, d)
            self._branches.advance(run, escalation.stage, d, item=item)
            return
        assert target is not None  # a Verdict stage has an on_reject (config_problems)
        run = self._revise(run, target, item, d)
        self._retask(run, target, human, item, d)

    def _edited(
        self,
        run: Run,
        escalation: Escalation,
        output: ValidOutput,
        human: list[Feedback],
        d: Decision,
    ) -> Run:
        """Record a person's own output for the stage in question (the escalation's
        ``retry_stage``) as its accepted, latest handoff."""
        ledger = self._ledger
        name = escalation.retry_stage or escalation.stage
        quality = effective_quality(output.value, output.quality)
        run, handoff = record(
            ledger,
            run,
            name,
            output,
            quality,
            d,
            produced_by=PERSON,
            outcome="accepted",
            next_action=f"edited and approved by a person: {escalation.reason}",
            revision=run.outputs.get(item_key(name, escalation.item), 0),
            attempt=1,
            feedback=human,
            latest=True,
            item=escalation.item,
        )
        accepted(ledger, run, handoff, output.value, quality, d)
        return run

    def _accept_last(self, run: Run, escalation: Escalation) -> Run:
        """``run`` with the output in question (the escalation's artifact) as its stage's
        latest: approving a loop that ran out of revisions accepts it."""
        artifact_id = escalation.artifact_id
        if artifact_id is None:
            return run
        accepted = self._ledger.reader.get_artifact(artifact_id)
        if accepted is None:
            return run
        key = item_key(accepted.stage, accepted.item)
        return msgspec.structs.replace(run, latest={**run.latest, key: accepted.id})

    def cancel(self, msg: Cancel, d: Decision) -> None:
        """End the run ``cancelled``: its tasks are withdrawn once that is committed (an
        async agent's is cancelled on its loop), an open escalation of it is resolved;
        ``d.reply`` is the cancelled run."""
        ledger = self._ledger
        run = ledger.runs.get(msg.run_id)
        if run is None:
            stored = ledger.reader.get_run(msg.run_id)
            if stored is None:
                raise RunNotFound(msg.run_id)
            raise RunFinished(msg.run_id, stored.state)
        d.reply = ledger.end_run(run, "cancelled", d, reason=msg.reason)

    def approval_expired(self, escalation_id: str, d: Decision) -> None:
        """Nobody acted on an approval within its stage's ``timeout``: it becomes an
        escalation of its own (``approval_timeout``: counted, alerted on); a person still
        approves, revises or cancels it the same way."""
        ledger = self._ledger
        escalation = ledger.escalations.get(escalation_id)
        if escalation is None or escalation.reason != "approval":
            return  # acted on in time
        timeout = ledger.pipelines.stage(escalation.pipeline, escalation.stage).spec.timeout
        said = f"nobody acted on {escalation.stage} within {timeout or 0:g}s: {escalation.summary}"
        expired = msgspec.structs.replace(
            escalation, reason="approval_timeout", summary=said[:20_000]
        )
        d.batch.put_escalation(expired, was="open")
        ledger.escalations[escalation_id] = expired
        d.batch.event(
            "run.escalated",
            run_id=escalation.run_id,
            pipeline=escalation.pipeline,
            stage=escalation.stage,
            detail=f"approval_timeout: {said}"[:20_000],
        )
        ledger.health(
            d,
            "escalation",
            pipeline=escalation.pipeline,
            stage=escalation.stage,
            run_id=escalation.run_id,
            reason="approval_timeout",
        )
        d.settles = True

    def role_down(self, role: str, reason: str, d: Decision) -> None:
        """Escalate every run waiting on ``role``; their work stays durably in the store."""
        ledger = self._ledger
        ledger.down.add(role)
        for live in [t for t in ledger.tasks.values() if t.record.role == role]:
            rec = live.record
            run = ledger.runs.get(rec.run_id)
            ledger.finish_task(live, d, error=f"role {role} is down", withdraw=True)
            if run is None:
                continue
            ledger.escalate(
                run,
                rec.stage,
                "role_down",
                f"role {role} is down ({reason}); {rec.stage} cannot run",
                d,
                retry_stage=rec.stage,
                approve_stage=None,
                artifact_id=None,
                feedback=list(rec.feedback),
                item=rec.item,
            )

    def role_up(self, role: str, d: Decision) -> None:
        """The role is back: approve its ``role_down`` escalations, which starts the work."""
        ledger = self._ledger
        ledger.down.discard(role)
        for escalation in list(ledger.escalations.values()):
            if escalation.reason != "role_down" or escalation.id not in ledger.escalations:
                continue  # (resolving one may close others: a join that no longer needs them)
            stage = ledger.pipelines.stages.get((escalation.pipeline, escalation.stage))
            if stage is not None and stage.spec.role == role:
                self.resolve(Resolve(escalation.id, "approve", None, None), d)
        d.reply = None
