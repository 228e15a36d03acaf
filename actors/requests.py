"""What callers and the supervisor ask of the orchestrator: start a run, resolve an
escalation, cancel a run, a role going down or coming back. A mixin of the orchestrator
(see ``state``).
"""

from __future__ import annotations

import time

import msgspec
from handoffs.actors.errors import (
    EscalationNotFound,
    EscalationResolved,
    IdempotencyConflict,
    RunFinished,
    RunNotFound,
    UnknownPipeline,
)
from handoffs.actors.protocol import (
    Cancel,
    Resolve,
    Submit,
)
from handoffs.actors.state import _ALL
from handoffs.actors.transitions import Transitions, _bump
from handoffs.messages import (
    Feedback,
    Resolution,
)
from handoffs.store import Batch

__all__ = ["Requests"]


class Requests(Transitions):
    """Submissions, resolutions and role changes."""

    def _on_submit(self, msg: Submit, batch: Batch) -> None:
        if msg.pipeline not in self._pipelines.pipelines:
            raise UnknownPipeline(msg.pipeline, list(self._pipelines.pipelines))
        key = msg.idempotency_key
        if key is not None:
            known = self._staged_keys.get(key)
            if known is None:
                record = self._store.get_idempotency(key)
                known = None if record is None else (record.run_id, record.digest)
            if known is not None:
                run_id, digest = known
                if digest != msg.digest:
                    raise IdempotencyConflict(key, run_id)
                self._after.append(lambda: msg.reply.set((run_id, False)))
                return
        run = self._start_run(msg.pipeline, msg.input, batch, key=key)
        if key is not None:
            batch.put_idempotency(key, run.run_id, msg.digest)
            self._staged_keys[key] = (run.run_id, msg.digest)
            self._open_keys.append(key)
        run_id = run.run_id
        self._after.append(lambda: msg.reply.set((run_id, True)))

    def _on_resolve(self, msg: Resolve, batch: Batch) -> None:
        escalation = self._store.get_escalation(msg.escalation_id)
        if escalation is None:
            raise EscalationNotFound(msg.escalation_id)
        if escalation.state == "resolved" or escalation.resolution is not None:
            action = escalation.resolution.action if escalation.resolution else "resolved"
            raise EscalationResolved(escalation.id, action)
        run = self._runs.get(escalation.run_id)
        if run is None or run.escalation_id != escalation.id:
            raise EscalationResolved(escalation.id, "run moved on")
        text = msg.feedback[:20_000] if msg.feedback else None  # stored: keep it decodable
        resolved = msgspec.structs.replace(
            escalation,
            state="resolved",
            resolution=Resolution(action=msg.action, feedback=text, at=time.time()),
        )
        batch.put_escalation(resolved, was=escalation.state)
        batch.event(
            "escalation.resolved",
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=escalation.stage,
            detail=f"{msg.action}: {text or ''}"[:20_000],
        )
        human = [Feedback(source="human", issue=text, severity="major")] if text else []
        if msg.action == "cancel":
            self._end_run(run, "cancelled", batch, reason=text or "cancelled by a person")
        elif msg.action == "revise":
            target = escalation.retry_stage or escalation.stage
            run = _bump(run, revisions=target)
            run = msgspec.structs.replace(run, limits={**run.limits, target: run.revisions[target]})
            self._health("revision", pipeline=run.pipeline, stage=target, run_id=run.run_id)
            self._new_task(run, target, batch, feedback=[*human, *escalation.feedback][:100])
        elif escalation.reason == "revisions_exhausted":
            if escalation.artifact_id is not None:
                accepted = self._store.get_artifact(escalation.artifact_id)
                if accepted is not None:
                    run = msgspec.structs.replace(
                        run, latest={**run.latest, accepted.stage: accepted.id}
                    )
            self._advance(run, escalation.approve_stage, batch)
        else:
            self._new_task(run, escalation.retry_stage or escalation.stage, batch, feedback=human)
        reply = msg.reply
        if reply is not None:
            self._after.append(lambda: reply.set(resolved))
        self._after.append(self._metrics.escalations_open.dec)

    def _on_cancel(self, msg: Cancel, batch: Batch) -> None:
        """End the run ``cancelled``: its tasks are withdrawn once that is committed (an
        async agent's is cancelled on its loop), an open escalation of it is resolved."""
        run = self._runs.get(msg.run_id)
        if run is None:
            stored = self._store.get_run(msg.run_id)
            if stored is None:
                raise RunNotFound(msg.run_id)
            raise RunFinished(msg.run_id, stored.state)
        for live in [t for t in self._live.values() if t.record.run_id == run.run_id]:
            self._withdraw(live)
            self._finish_task(live, batch, error=f"run cancelled: {msg.reason}")
        if run.state == "escalated" and run.escalation_id is not None:
            escalation = self._store.get_escalation(run.escalation_id)
            if escalation is not None and escalation.state == "open":
                resolution = Resolution(action="cancel", feedback=msg.reason, at=time.time())
                batch.put_escalation(
                    msgspec.structs.replace(escalation, state="resolved", resolution=resolution),
                    was=escalation.state,
                )
                self._after.append(self._metrics.escalations_open.dec)
        self._end_run(run, "cancelled", batch, reason=msg.reason)
        reply = msg.reply
        if reply is not None:
            run_id = run.run_id
            self._after.append(lambda: reply.set(self._store.get_run(run_id)))

    def _on_role_down(self, role: str, reason: str, batch: Batch) -> None:
        """Escalate every run waiting on ``role``; their work stays durably in the store."""
        self._dispatcher.down.add(role)
        waiting = [live for live in self._live.values() if live.record.role == role]
        for live in waiting:
            rec = live.record
            run = self._runs.get(rec.run_id)
            self._finish_task(live, batch, error=f"role {role} is down")
            if run is None:
                continue
            self._escalate(
                run,
                rec.stage,
                "role_down",
                f"role {role} is down ({reason}); {rec.stage} cannot run",
                batch,
                retry_stage=rec.stage,
                approve_stage=None,
                artifact_id=None,
                feedback=[],
            )
        self._dispatcher.waiting(role).clear()

    def _resume_role(self, role: str) -> None:
        """The role is back: approve its ``role_down`` escalations, which dispatches the work."""
        for escalation in self._store.escalations(state="open", limit=_ALL).items:
            if escalation.reason != "role_down":
                continue
            stage = self._pipelines.stages.get((escalation.pipeline, escalation.stage))
            if stage is not None and stage.spec.role == role:
                self._decide_one(Resolve(escalation.id, "approve", "role restarted", None))
