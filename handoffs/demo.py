"""The bundled demo: the seed's four handoff patterns on a store in a named directory.

:func:`run_demo` submits the demo inputs, waits for every run (the runs a trigger starts
too), resolves the first escalation as a person would (through :meth:`Runtime.resolve`),
and returns a :class:`DemoReport`: a row per pipeline, and the runs to tell (one of each
pattern, the run a trigger started, the escalation and how it was resolved), read back
through the runtime's public API. :mod:`handoffs.demo_text` turns the report into text.

The store stays in its directory afterwards, for ``handoffs serve`` and ``mdb_stat``. A
file named :data:`MARKER` in it says the demo made it: only such a directory is ever
removed (when the next demo starts fresh there), never one the demo did not make.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from handoffs.examples.inputs import demo_inputs
from handoffs.messages import CallerError, Escalation, Handoff, Run, RuntimeFault
from handoffs.messages.pipeline import TriggerSpec
from handoffs.runtime import TUNING, Runtime
from handoffs.store import Store

__all__ = [
    "DEFAULT_DIR",
    "MARKER",
    "DemoDirectoryError",
    "DemoReport",
    "DemoRow",
    "DemoStalled",
    "Resolved",
    "Story",
    "Told",
    "Triggered",
    "demo_config_path",
    "prepare_directory",
    "run_demo",
]

#: Where the demo keeps its store unless told otherwise (relative to the working directory).
DEFAULT_DIR = Path("handoffs-demo")
#: The file that marks a directory as the demo's own.
MARKER = ".handoffs-demo"
#: What the demo's "person" says when approving the escalated run.
APPROVAL = "one good source is enough here"


class DemoDirectoryError(CallerError):
    """The directory given to the demo holds something else: the demo leaves it alone."""


class DemoStalled(RuntimeFault):
    """Runs were still running when the demo's time ran out."""


def demo_config_path() -> Path:
    """The bundled config holding all four patterns."""
    return Path(str(resources.files("handoffs.examples").joinpath("demo.toml")))


@dataclass(frozen=True)
class Story:
    """One run as it ended, and its handoffs in order."""

    run: Run
    handoffs: list[Handoff]


@dataclass(frozen=True)
class Triggered:
    """A run a trigger started: the run whose handoff fired it, and the rule that did."""

    parent: Story
    artifact: Handoff
    trigger: TriggerSpec
    child: Story


#: What the demo tells of a pipeline: one of its runs, or a run and the run it triggered.
Told = Story | Triggered


@dataclass(frozen=True)
class Resolved:
    """An escalation, resolved by the demo, and its run's whole chain afterwards."""

    escalation: Escalation
    story: Story


@dataclass
class DemoRow:
    """One pipeline's line in the demo table (``triggered``: runs a trigger started)."""

    pipeline: str
    runs: int = 0
    triggered: int = 0
    completed: int = 0
    escalated: int = 0
    failed: int = 0
    cancelled: int = 0
    revisions: int = 0
    handoffs: int = 0
    wall_seconds: float = 0.0
    states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoReport:
    """What one demo did: ``rows`` per pipeline then the total, the runs to tell (a run of
    each pipeline), and the escalation it resolved."""

    directory: Path
    submitted: int
    rows: list[DemoRow]
    told: list[Told]
    resolved: Resolved | None
    descriptions: dict[str, str]


def prepare_directory(directory: Path, *, keep: bool) -> str | None:
    """Make ``directory`` ready: start fresh (remove the previous demo store) unless
    ``keep``; return what was done, in words, or ``None`` for a new directory.

    Raises:
        DemoDirectoryError: ``directory`` is a file, or holds files the demo did not make.
        StoreLocked: another process (a ``handoffs serve``?) has the demo store open.
    """
    if directory.exists() and not directory.is_dir():
        raise DemoDirectoryError(f"{directory} is not a directory")
    done: str | None = None
    if directory.is_dir() and any(directory.iterdir()):
        if not (directory / MARKER).is_file():
            raise DemoDirectoryError(
                f"{directory} is not a demo store (it has no {MARKER} file): "
                "pass another --data, or empty it first"
            )
        # Removing the files under a process that has them open would wreck its store.
        Store.open(directory).close()
        if keep:
            done = f"reusing the demo store at {directory} (--keep)"
        else:
            shutil.rmtree(directory)
            done = f"removing the previous demo store at {directory} (--keep reuses it)"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    (directory / MARKER).write_text(
        "Made by `handoffs demo`, which removes this directory when it runs here again.\n"
    )
    return done


def run_demo(
    data_dir: Path,
    runs: int,
    *,
    progress: Callable[[int], None] | None = None,
    timeout: float = 120.0,
) -> DemoReport:
    """Submit ``runs`` demo inputs spread over the four patterns, wait for every run (those
    the triggers start included), approve the first escalation, and report. Runs already
    in ``data_dir`` (a kept store) are left out of the report.

    ``progress(1)`` is called as each submitted run settles, on the calling thread.

    Raises:
        DemoStalled: a run still ran after ``timeout`` seconds.
    """
    started = time.monotonic()
    deadline = started + timeout
    with Runtime.open(demo_config_path(), data_dir, **TUNING) as runtime:
        before = {run.run_id for run in _all_runs(runtime)}
        # Submitted without waiting, so the commits of many submissions are shared.
        futures = [runtime.submit_async(p, payload) for p, payload in demo_inputs(runs)]
        for future in futures:
            _settle(runtime, future.result(timeout=_left(deadline)).run_id, deadline)
            if progress is not None:
                progress(1)
        # Triggered runs (support -> knowledge base) start while the others run.
        while running := runtime.store.runs(state="running", limit=1000).items:
            for run in running:
                _settle(runtime, run.run_id, deadline)
        resolved = _resolve_first(runtime, before, deadline)
        wall = time.monotonic() - started
        ours = [run for run in _all_runs(runtime) if run.run_id not in before]
        told = _stories(runtime, ours, resolved)
        descriptions = {
            name: spec.description for name, spec in runtime.config.config.pipelines.items()
        }
    return DemoReport(
        directory=data_dir,
        submitted=runs,
        rows=_rows(ours, wall),
        told=told,
        resolved=resolved,
        descriptions=descriptions,
    )


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _settle(runtime: Runtime, run_id: str, deadline: float) -> Run:
    run = runtime.wait(run_id, timeout=_left(deadline))
    if run.state == "running":
        raise DemoStalled(f"run {run_id} was still running when the demo's time ran out")
    return run


def _all_runs(runtime: Runtime) -> list[Run]:
    items: list[Run] = runtime.store.runs(limit=1 << 62).items
    return items


def _story(runtime: Runtime, run: Run) -> Story:
    return Story(run, runtime.handoffs(run.run_id))


def _resolve_first(runtime: Runtime, before: set[str], deadline: float) -> Resolved | None:
    """Approve the oldest open escalation of this demo's runs, as a person would, and wait
    for its run to go on to its end."""
    open_ = [e for e in runtime.escalations("open") if e.run_id not in before]
    if not open_:
        return None
    # The escalation of the run submitted first, not the first to escalate: the same each time.
    created = {run.run_id: run.created_at for run in _all_runs(runtime)}
    escalation = min(open_, key=lambda e: created.get(e.run_id, 0.0))
    done = runtime.resolve(escalation.id, "approve", APPROVAL)
    run = _settle(runtime, escalation.run_id, deadline)
    return Resolved(done, _story(runtime, run))


def _first_triggered(runtime: Runtime, runs: list[Run]) -> Triggered | None:
    """The first run (in the order submitted, not the first to finish) whose handoff fired
    a trigger, with the run it started."""
    fired: dict[str, tuple[Handoff, Run]] = {}  # run id -> its handoff that fired, the run
    for run in runs:
        artifact = (
            runtime.store.get_artifact(run.trigger_artifact) if run.trigger_artifact else None
        )
        if artifact is not None:
            fired.setdefault(artifact.run_id, (artifact, run))
    for run in runs:
        if run.run_id in fired:
            artifact, child = fired[run.run_id]
            trigger = runtime.config.config.pipelines[child.pipeline].trigger
            if trigger is not None:
                return Triggered(_story(runtime, run), artifact, trigger, _story(runtime, child))
    return None


def _stories(runtime: Runtime, runs: list[Run], resolved: Resolved | None) -> list[Told]:
    """One run of each pipeline, in the order they first ran: one that needed a revision
    when there is one; the pipeline whose run fired the first trigger is told by that run
    and the run it started."""
    skip = resolved.escalation.run_id if resolved else None
    triggered = _first_triggered(runtime, runs)
    told: list[Told] = []
    for pipeline in dict.fromkeys(run.pipeline for run in runs):
        if triggered and pipeline == triggered.parent.run.pipeline:
            told.append(triggered)
        elif not triggered or pipeline != triggered.child.run.pipeline:
            mine = [run for run in runs if run.pipeline == pipeline and run.run_id != skip]
            revised = [run for run in mine if run.state == "completed" and run.revisions]
            if pick := (revised or mine)[:1]:
                told.append(_story(runtime, pick[0]))
    return told


def _rows(runs: list[Run], wall: float) -> list[DemoRow]:
    """A row per pipeline (sorted), then the total."""
    rows: dict[str, DemoRow] = {}
    spans: dict[str, tuple[float, float]] = {}
    for run in runs:
        row = rows.setdefault(run.pipeline, DemoRow(run.pipeline))
        row.runs += 1
        row.triggered += run.trigger_artifact is not None
        row.states[run.state] = row.states.get(run.state, 0) + 1
        row.revisions += sum(run.revisions.values())
        row.handoffs += run.handoffs
        first, last = spans.get(run.pipeline, (run.created_at, run.updated_at))
        spans[run.pipeline] = (min(first, run.created_at), max(last, run.updated_at))
    for row in rows.values():
        # The pipeline's wall time: its first run's start to its last run's settling.
        first, last = spans[row.pipeline]
        row.wall_seconds = max(last - first, 0.0)
        row.completed = row.states.get("completed", 0)
        row.escalated = row.states.get("escalated", 0)
        row.failed = row.states.get("failed", 0)
        row.cancelled = row.states.get("cancelled", 0)
    total = DemoRow("total", wall_seconds=wall)
    for row in rows.values():
        for name in (
            "runs",
            "triggered",
            "completed",
            "escalated",
            "failed",
            "cancelled",
            "revisions",
            "handoffs",
        ):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    return [*sorted(rows.values(), key=lambda r: r.pipeline), total]
