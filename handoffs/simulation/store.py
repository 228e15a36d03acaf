"""The simulated knowledge base: what the decider's batches wrote, in memory.

It applies a group of batches all at once or not at all (as one LMDB write transaction
does), answers the decider's reads (:class:`~handoffs.actors.decision.StoreReader`) and the
listings recovery needs, and survives a simulated crash: a crash loses memory, never this.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from handoffs.messages import Escalation, Handoff, Run, TaskRecord
from handoffs.store import Batch, IdempotencyRecord

__all__ = ["SimStore"]


class SimStore:
    """Committed records by id, and the idempotency keys."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self.artifacts: dict[str, Handoff] = {}
        self.escalations: dict[str, Escalation] = {}
        self.keys: dict[str, tuple[str, str]] = {}
        #: Handoff ids per run, in the order they were committed.
        self.by_run: dict[str, list[str]] = {}
        self.commits = 0

    def commit(self, batches: Iterable[Batch]) -> None:
        """Apply ``batches`` (one transaction)."""
        for batch in batches:
            for handoff, _, _ in batch.artifacts:
                if handoff.id not in self.artifacts:
                    self.by_run.setdefault(handoff.run_id, []).append(handoff.id)
                self.artifacts[handoff.id] = handoff
            for run, _, _ in batch.runs:
                self.runs[run.run_id] = run
            for task, _, _ in batch.tasks:
                self.tasks[task.task_id] = task
            for escalation, _, _ in batch.escalations:
                self.escalations[escalation.id] = escalation
            for raw, data in batch.idempotency:
                run_id, digest = msgspec.msgpack.decode(data)
                self.keys[raw.decode()] = (run_id, digest)
        self.commits += 1

    # ----------------------------------------------------------------- StoreReader

    def get_run(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    def get_artifact(self, artifact_id: str) -> Handoff | None:
        return self.artifacts.get(artifact_id)

    def get_escalation(self, escalation_id: str) -> Escalation | None:
        return self.escalations.get(escalation_id)

    def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        known = self.keys.get(key)
        return None if known is None else IdempotencyRecord(*known)

    def run_handoffs(self, run_id: str) -> list[Handoff]:
        return [self.artifacts[i] for i in self.by_run.get(run_id, ())]

    # ----------------------------------------------------------------- recovery

    def active_runs(self) -> list[Run]:
        return [r for r in self.runs.values() if r.state in ("running", "escalated")]

    def open_escalations(self) -> list[Escalation]:
        return [e for e in self.escalations.values() if e.state == "open"]

    def pending_tasks(self) -> list[TaskRecord]:
        return [t for t in self.tasks.values() if t.state in ("ready", "running")]
