"""Config evolution: whether a new config can take over the runs in flight in a store.

A config is compatible with a store when every run still running or escalated finds, in
the new config, its pipeline and every stage it is at or may go back to: its current stage,
its open escalation's stage, retry stage and approve stage, and the stages of its ready or
running tasks. A run that does not is *stranded*; ``Runtime.open`` and ``handoffs serve``
refuse such a config, ``handoffs check CONFIG --data DIR`` lists them.

A pipeline may declare renames (``[pipelines.content.renamed] draft = "write"``: runs at
``draft`` go on at ``write``). ``migrate`` applies them to the runs that need them, in ONE
transaction (runs, their tasks and escalations, and the run's per-stage counters), so a
process killed meanwhile leaves the store as it was and the next open migrates again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from handoffs.actors.pipelines import pipeline_version
from handoffs.messages import Config, ConfigError, Escalation, Run, TaskRecord
from handoffs.store import Batch, Store, backup

__all__ = [
    "Stranded",
    "migrate",
    "pipeline_version",
    "stranded",
    "stranded_in",
    "stranded_message",
]

_ALL = 1 << 62


class Stranded(msgspec.Struct, frozen=True):
    """A run the new config has no place for: its pipeline, and the stage it lacks; the
    version of the pipeline it started with (``None``: made before runs recorded one;
    ``handoffs versions`` shows the graph behind it)."""

    run_id: str
    pipeline: str
    stage: str
    version: str | None = None


def _live(store: Store) -> tuple[list[Run], dict[str, list[TaskRecord]], dict[str, Escalation]]:
    runs = [
        run
        for state in ("running", "escalated")
        for run in store.runs(state=state, limit=_ALL).items
    ]
    tasks: dict[str, list[TaskRecord]] = {}
    for task in store.pending_tasks():
        tasks.setdefault(task.run_id, []).append(task)
    escalations = {e.run_id: e for e in store.escalations(state="open", limit=_ALL).items}
    return runs, tasks, escalations


def _needed(run: Run, tasks: Iterable[TaskRecord], escalation: Escalation | None) -> list[str]:
    """The stages ``run`` is at or may go back to, in a stable order."""
    needed: list[str] = []
    candidates = [run.stage, *(t.stage for t in tasks)]
    if escalation is not None:
        candidates += [escalation.stage, escalation.retry_stage, escalation.approve_stage]
    for stage in candidates:
        if stage is not None and stage not in needed:
            needed.append(stage)
    return needed


def stranded(store: Store, config: Config) -> list[Stranded]:
    """Every (run, pipeline, stage) the runs in flight need and ``config`` lacks (renames
    declared in ``config`` not applied: see :func:`migrate`)."""
    runs, tasks, escalations = _live(store)
    found: list[Stranded] = []
    for run in runs:
        spec = config.pipelines.get(run.pipeline)
        needed = _needed(run, tasks.get(run.run_id, ()), escalations.get(run.run_id))
        found.extend(
            Stranded(run.run_id, run.pipeline, stage, run.pipeline_version)
            for stage in needed
            if spec is None or stage not in spec.stages
        )
    return found


def stranded_message(found: list[Stranded]) -> str:
    """The error for a config that strands runs: one line per (run, pipeline, stage)."""
    lines = [
        f"  run {s.run_id} of pipeline {s.pipeline!r} (version {s.version or 'not recorded'}) "
        f"at stage {s.stage!r}"
        for s in found
    ]
    return (
        f"the config strands {len(found)} run(s) in flight: their stage is gone; keep the "
        'stage, or declare where its runs go ([pipelines.NAME.renamed] old = "new"):\n'
        + "\n".join(lines)
    )


def _rename(mapping: dict[str, str], stage: str | None) -> str | None:
    return None if stage is None else mapping.get(stage, stage)


def _rekey(counts: dict[str, object], mapping: dict[str, str]) -> dict[str, object]:
    return {mapping.get(stage, stage): value for stage, value in counts.items()}


def migrate(store: Store, config: Config) -> int:
    """Move runs at a stage ``config`` renamed to the new stage, in one transaction; return
    how many runs moved. Runs needing nothing are not touched.

    Raises:
        ConfigError: a rename names a stage the pipeline does not have.
        StoreError: the store refused the commit; nothing was changed.
    """
    renames = {name: spec.renamed for name, spec in config.pipelines.items() if spec.renamed}
    for name, mapping in renames.items():
        stages = config.pipelines[name].stages
        for old, new in mapping.items():
            if new not in stages:
                raise ConfigError(
                    f"pipelines.{name}.renamed.{old}: no stage named {new!r} in {name!r}"
                )
    if not renames:
        return 0
    runs, tasks, escalations = _live(store)
    batch = Batch()
    moved = 0
    for run in runs:
        mapping = renames.get(run.pipeline, {})
        if not mapping:
            continue
        pending = tasks.get(run.run_id, [])
        escalation = escalations.get(run.run_id)
        if not any(stage in mapping for stage in _needed(run, pending, escalation)):
            continue
        moved += 1
        batch.put_run(
            msgspec.structs.replace(
                run,
                stage=_rename(mapping, run.stage),
                revisions=_rekey(run.revisions, mapping),  # type: ignore[arg-type]
                outputs=_rekey(run.outputs, mapping),  # type: ignore[arg-type]
                attempts=_rekey(run.attempts, mapping),  # type: ignore[arg-type]
                latest=_rekey(run.latest, mapping),  # type: ignore[arg-type]
                limits=_rekey(run.limits, mapping),  # type: ignore[arg-type]
            ),
            was=run.state,
        )
        for task in pending:
            if task.stage in mapping:
                batch.put_task(
                    msgspec.structs.replace(task, stage=mapping[task.stage]), was=task.state
                )
        if escalation is not None:
            batch.put_escalation(
                msgspec.structs.replace(
                    escalation,
                    stage=mapping.get(escalation.stage, escalation.stage),
                    retry_stage=_rename(mapping, escalation.retry_stage),
                    approve_stage=_rename(mapping, escalation.approve_stage),
                ),
                was=escalation.state,
            )
        batch.event(
            "run.migrated",
            run_id=run.run_id,
            pipeline=run.pipeline,
            stage=_rename(mapping, run.stage),
            detail=", ".join(f"{old} -> {new}" for old, new in sorted(mapping.items())),
        )
    if moved:
        store.commit([batch], applied=_applied_hook)
    return moved


def _applied_hook() -> None:
    """Called inside the migration's transaction, before it commits (a test kills its
    process here: the store must then be as before)."""
    if _on_applied is not None:
        _on_applied()


#: Set by tests only.
_on_applied: Callable[[], None] | None = None


def stranded_in(config: Config, data_dir: str | os.PathLike[str]) -> list[Stranded]:
    """:func:`stranded` for the store in ``data_dir``, after the renames ``config`` declares
    (on a copy: the store is not changed). A store a daemon has open is read from a hot
    backup of it.

    Raises:
        StoreError: the store cannot be read.
    """
    with tempfile.TemporaryDirectory(prefix="handoffs-check-") as scratch:
        copy = Path(scratch) / "copy"
        backup(data_dir, copy)
        with Store.open(copy) as store:
            migrate(store, config)
            return stranded(store, config)
