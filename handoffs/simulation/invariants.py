"""What must hold after every simulated step, and at the end.

- at most one accepted handoff per (run, stage, item, revision);
- no attempt count above its stage's ``max_attempts``; no revision count above its loop's
  ``max_revisions`` (or the limit a person raised with ``revise``);
- nothing acknowledged is lost: every run whose submission was answered is in the store;
- no task is left without an owner: whenever no decision is open, every ready or running
  task of an active run is on an agent, waiting for one, or waiting out a backoff, and every
  running run has such a task; memory and store agree on what is active;
- every run ends: after the faulty steps and a quiet phase, every run is completed, failed
  or cancelled (a person resolves every escalation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handoffs.actors.pipelines import Pipelines
from handoffs.actors.topology import split_key

if TYPE_CHECKING:
    from handoffs.simulation.world import World

__all__ = ["Invariants"]


class Invariants:
    """Checks one world; raises ``Violation`` (from the world module) naming what broke."""

    def __init__(self, pipelines: Pipelines) -> None:
        self._pipelines = pipelines
        self._accepted: set[tuple[str, str, int | None, int]] = set()
        #: (pipeline, stage) -> the most revisions a loop allows that stage.
        self._limits: dict[tuple[str, str], int] = {}
        for (pipeline, name), stage in pipelines.stages.items():
            spec = stage.spec
            if spec.on_reject is not None:
                key = (pipeline, spec.on_reject)
                self._limits[key] = max(self._limits.get(key, 0), spec.max_revisions)
            if spec.gates != type(spec.gates)():
                key = (pipeline, name)
                self._limits[key] = max(self._limits.get(key, 0), spec.max_revisions)

    def committed(self, world: World, group: list[tuple[Any, Any]]) -> None:
        from handoffs.simulation.world import Violation

        for _, decision in group:
            batch = decision.batch
            for handoff, _, _ in batch.artifacts:
                if handoff.outcome != "accepted":
                    continue
                key = (handoff.run_id, handoff.stage, handoff.item, handoff.revision)
                if key in self._accepted:
                    raise Violation(f"a second accepted handoff for {key}")
                self._accepted.add(key)
            for task, _, _ in batch.tasks:
                stage = self._pipelines.stage(task.pipeline, task.stage).spec
                if task.attempt > stage.max_attempts:
                    raise Violation(
                        f"task {task.task_id} ({task.stage}) at attempt {task.attempt} of "
                        f"max_attempts {stage.max_attempts}"
                    )
            for run, _, _ in batch.runs:
                for target, count in run.revisions.items():
                    name, _ = split_key(target)
                    limit = max(
                        self._limits.get((run.pipeline, name), 0), run.limits.get(target, 0)
                    )
                    if count > limit:
                        raise Violation(
                            f"run {run.run_id}: {target} revised {count} times, limit {limit}"
                        )

    def after_step(self, world: World) -> None:
        from handoffs.simulation.world import Violation

        store = world.store
        lost = [r for r in world.acked_runs if r not in store.runs]
        if lost:
            raise Violation(f"acknowledged runs lost: {sorted(lost)[:3]}")
        if world.open or world.refeed:
            return
        memory = world.decider.ledger
        active = {r.run_id for r in store.active_runs()}
        if set(memory.runs) != active:
            diff = sorted(set(memory.runs) ^ active)[:3]
            raise Violation(f"memory and store disagree on active runs: {diff}")
        timed = {p for _, _, kind, p in world.timers() if kind == "redispatch"}
        waiting = {t for q in world.waiting.values() for t in q}
        with_task: set[str] = set()
        for task in store.pending_tasks():
            if task.run_id not in active:
                raise Violation(f"task {task.task_id} is {task.state} but its run ended")
            with_task.add(task.run_id)
            key = (task.task_id, task.attempt)
            if task.task_id not in memory.tasks:
                raise Violation(f"task {task.task_id} is {task.state} in the store, not in memory")
            if key not in world.held and task.task_id not in waiting and key not in timed:
                raise Violation(f"task {key} of {task.stage} is {task.state} with no owner")
        for run_id in active:
            run = store.runs[run_id]
            if run.state == "running" and run_id not in with_task:
                raise Violation(f"run {run_id} is running at {run.stage} with no task")

    def at_end(self, world: World) -> None:
        from handoffs.simulation.world import Violation

        for run in world.store.runs.values():
            if run.state not in ("completed", "failed", "cancelled"):
                raise Violation(
                    f"run {run.run_id} is still {run.state} at {run.stage} after the quiet phase"
                )
