"""Scenarios (a), (b), (c): the handoffs runtime on the bench pipeline.

Runs are submitted through the public API (``Runtime.submit_async``: one thread keeps the
window full without waiting for each commit). Their traces come from the store's journal,
which is the truth, as each commit lands (``Store.subscribe``): a run's ``run.submitted``
event, each ``handoff.recorded`` event, and its end. Every journal timestamp is the time of
the commit that wrote it, so a hop spans exactly one commit (fsync included when ``sync`` is
on).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handoffs.messages import Config, Event
from handoffs.store import StoreOptions

from bench.agents import PIPELINE, bench_config, set_reject_percent
from bench.timing import FixedRate, Trace, Window
from handoffs.runtime import Runtime

__all__ = ["measure", "run_fixed_rate", "run_saturated", "run_unloaded"]

_END_EVENTS = frozenset({"run.completed", "run.failed", "run.escalated", "run.cancelled"})


class _Traces:
    """Builds each run's trace from the events of every commit (``Store.subscribe``: the
    journal as it is written, without polling) and hands an ended run's to ``finish``."""

    def __init__(self, runtime: Runtime, finish: Callable[[Trace], None]) -> None:
        self._runtime = runtime
        self._finish = finish
        self._traces: dict[str, list[float]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self.unexpected: dict[str, int] = {}

    def start(self) -> None:
        self._unsubscribe = self._runtime.store.subscribe(self._committed)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _committed(self, events: list[Event]) -> None:
        traces = self._traces
        for event in events:
            run_id = event.run_id
            if run_id is None:
                continue
            kind = event.type
            if kind == "handoff.recorded":
                traces[run_id].append(event.at)
            elif kind == "run.submitted":
                traces[run_id] = [event.at]
            elif kind in _END_EVENTS:
                trace = traces.pop(run_id)
                if kind != "run.completed":
                    self.unexpected[kind] = self.unexpected.get(kind, 0) + 1
                self._finish(trace)


def _open(data_dir: Path, params: dict[str, Any], config: Config | None) -> Runtime:
    set_reject_percent(params.get("reject_percent", 0))
    if config is None:
        config = bench_config(concurrency=params["concurrency"])
    options = StoreOptions(sync=params["sync"], map_size=1 << 30)
    # No interpreter settings of its own: bench.child set them for this row's process, the
    # same as for every peer's.
    return Runtime.open(config, data_dir, store_options=options, prefetch=params["prefetch"])


def _extra(runtime: Runtime, traces: _Traces, before: tuple[int, int]) -> dict[str, Any]:
    stats = runtime.store.statistics()
    commits = stats.commits - before[0]
    batches = stats.batches - before[1]
    return {
        "commits": commits,
        "decisions": batches,
        "group_mean": batches / commits if commits else 0.0,
        "not_completed": dict(traces.unexpected),
    }


def measure(
    params: dict[str, Any],
    make_driver: Callable[[Callable[[int], None]], Window | FixedRate],
    config: Config | None = None,
) -> dict[str, Any]:
    """Open a runtime on a fresh store (``config``: the bench pipeline's, by default), offer
    load through the driver ``make_driver(start)`` builds, follow every run from the journal,
    and return the driver's statistics with the store's figures under ``extra``."""
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-", dir=params.get("data_root")) as d:
        runtime = _open(Path(d) / "kb", params, config)
        try:
            submit = runtime.submit_async

            def start(i: int) -> None:
                # Not waiting for the commit: the window, not the submit call, bounds load.
                submit(PIPELINE, {"topic": f"topic {i}"})

            driver = make_driver(start)
            traces = _Traces(runtime, driver.finish)
            traces.start()
            stats = runtime.store.statistics()
            before = (stats.commits, stats.batches)
            try:
                result = driver.run(warmup=params["warmup"], duration=params["duration"])
            finally:
                traces.stop()
            result["extra"] = _extra(runtime, traces, before)
        finally:
            runtime.close()
    return result


def run_saturated(params: dict[str, Any]) -> dict[str, Any]:
    """(a) and (b): keep ``window`` runs in flight for ``duration`` seconds."""
    return measure(
        params,
        lambda start: Window(start, window=params["window"], submitters=params["submitters"]),
    )


def run_fixed_rate(params: dict[str, Any]) -> dict[str, Any]:
    """(c): offer ``rate`` runs per second, whatever is in flight."""
    return measure(
        params,
        lambda start: FixedRate(start, rate=params["rate"], submitters=params["submitters"]),
    )


def run_unloaded(params: dict[str, Any]) -> dict[str, Any]:
    """(c) unloaded: one run at a time, the next submitted when the last has ended."""
    return measure(params, lambda start: Window(start, window=1, submitters=1))
