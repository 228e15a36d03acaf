"""Handoffs as the decider records them: an output, where it came from, what comes next.

Functions over the ledger (the decider's memory); pure like it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from handoffs.actors.checks import ValidOutput
from handoffs.actors.decision import Decision, render_instruction
from handoffs.actors.ledger import Ledger
from handoffs.actors.topology import item_key
from handoffs.messages import Feedback, Handoff, QualityMarkers, Run

__all__ = ["accepted", "bump", "next_action", "record"]


def record(
    ledger: Ledger,
    run: Run,
    stage_name: str,
    checked: ValidOutput,
    quality: QualityMarkers,
    d: Decision,
    *,
    produced_by: str,
    outcome: str,
    next_action: str,
    revision: int,
    attempt: int,
    task_id: str | None = None,
    tags: list[str] | None = None,
    feedback: list[Feedback] | None = None,
    latest: bool = False,
    item: int | None = None,
) -> tuple[Run, Handoff]:
    """Record an output of ``stage_name`` as a handoff; return the run with it counted
    (and, if ``latest``, as its stage's latest output) and the handoff."""
    spec = ledger.pipelines.stage(run.pipeline, stage_name).spec
    handoff = Handoff(
        id=ledger.ids("art"),
        run_id=run.run_id,
        pipeline=run.pipeline,
        stage=stage_name,
        kind=spec.output,
        next_action=next_action[:20_000],
        produced_by=produced_by,
        quality=quality,
        revision=revision,
        attempt=attempt,
        created_at=d.now,
        parents=list(run.latest.values())[-100:],
        tags=[*spec.tags, *tags] if tags else list(spec.tags) if spec.tags else [],
        outcome=outcome,
        feedback=feedback or [],
        payload=msgspec.Raw(checked.payload),
        item=item,
    )
    d.batch.put_artifact(handoff, new=True)
    d.batch.event(
        "handoff.recorded",
        run_id=run.run_id,
        pipeline=run.pipeline,
        stage=stage_name,
        task_id=task_id,
        artifact_id=handoff.id,
        attempt=attempt,
        detail=outcome,
    )
    key = item_key(stage_name, item)
    # ``bump``, inlined: one copy of the run per recorded output.
    run = msgspec.structs.replace(
        run,
        outputs={**run.outputs, key: run.outputs.get(key, 0) + 1},
        handoffs=run.handoffs + 1,
        latest={**run.latest, key: handoff.id} if latest else run.latest,
    )
    d.handoffs.append((run.pipeline, stage_name, outcome))
    return run, handoff


def accepted(
    ledger: Ledger, run: Run, handoff: Handoff, value: Any, quality: QualityMarkers, d: Decision
) -> None:
    """``handoff`` (an output worth ``value``) was accepted: downstream tasks get it, and
    the pipelines it triggers start."""
    ledger.payloads[handoff.id] = (value, quality)
    for pipeline, trigger in ledger.pipelines.triggers.get(handoff.kind, ()):
        if getattr(value, trigger.when, False) is True:
            ledger.start_run(pipeline, msgspec.to_builtins(value), d, trigger_artifact=handoff.id)


def next_action(ledger: Ledger, run: Run, stage: str) -> str:
    """What happens after ``stage``'s output is accepted, in words."""
    nexts = ledger.pipelines.stage(run.pipeline, stage).targets
    if not nexts:
        return "complete the run"
    said = []
    for nxt in nexts:
        spec = ledger.pipelines.stage(run.pipeline, nxt).spec
        said.append(f"{nxt}: {render_instruction(spec.instruction, run.input)}")
    return "; ".join(said)


def bump(
    run: Run,
    *,
    outputs: str | None = None,
    revisions: str | None = None,
    handoffs: bool = False,
    latest: tuple[str, str] | None = None,
) -> Run:
    """``run`` with counters bumped (and ``latest`` set: stage, artifact id), in one copy."""
    changes: dict[str, Any] = {}
    if outputs is not None:
        changes["outputs"] = {**run.outputs, outputs: run.outputs.get(outputs, 0) + 1}
    if revisions is not None:
        changes["revisions"] = {**run.revisions, revisions: run.revisions.get(revisions, 0) + 1}
    if handoffs:
        changes["handoffs"] = run.handoffs + 1
    if latest is not None:
        changes["latest"] = {**run.latest, latest[0]: latest[1]}
    return msgspec.structs.replace(run, **changes)
