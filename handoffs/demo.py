"""The bundled demo: the seed's four handoff patterns on an embedded store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from handoffs.messages import Run
from handoffs.runtime import TUNING, Runtime

__all__ = ["DemoRow", "demo_config_path", "run_demo"]


def demo_config_path() -> Path:
    """The bundled config holding all four patterns."""
    return Path(str(resources.files("handoffs.examples").joinpath("demo.toml")))


@dataclass
class DemoRow:
    """One pipeline's line in the demo table."""

    pipeline: str
    runs: int = 0
    completed: int = 0
    escalated: int = 0
    failed: int = 0
    cancelled: int = 0
    revisions: int = 0
    handoffs: int = 0
    wall_seconds: float = 0.0
    states: dict[str, int] = field(default_factory=dict)


def run_demo(
    data_dir: Path,
    runs: int,
    *,
    progress: Callable[[int], None] | None = None,
    timeout: float = 120.0,
) -> list[DemoRow]:
    """Submit ``runs`` demo inputs spread over the four patterns, wait for every run (those
    the triggers start included) to settle, and summarise per pipeline."""
    from handoffs.examples.inputs import demo_inputs

    inputs: list[tuple[str, dict[str, Any]]] = demo_inputs(runs)
    started = time.perf_counter()
    with Runtime.open(demo_config_path(), data_dir, **TUNING) as runtime:
        submitted = [runtime.submit(pipeline, payload).run_id for pipeline, payload in inputs]
        for run_id in submitted:
            runtime.wait(run_id, timeout=timeout)
            if progress is not None:
                progress(1)
        # Triggered runs (support -> knowledge base) start while the others run.
        deadline = time.monotonic() + timeout
        while True:
            running = runtime.store.runs(state="running", limit=1000).items
            if not running or time.monotonic() > deadline:
                break
            for run in running:
                runtime.wait(run.run_id, timeout=max(0.0, deadline - time.monotonic()))
        wall = time.perf_counter() - started
        all_runs: list[Run] = runtime.store.runs(limit=1 << 62).items
    rows: dict[str, DemoRow] = {}
    spans: dict[str, tuple[float, float]] = {}
    for run in all_runs:
        row = rows.setdefault(run.pipeline, DemoRow(run.pipeline))
        row.runs += 1
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
            "completed",
            "escalated",
            "failed",
            "cancelled",
            "revisions",
            "handoffs",
        ):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    return [*sorted(rows.values(), key=lambda r: r.pipeline), total]
