"""Scenarios (a), (b), (c): the handoffs runtime on the bench pipeline.

Runs are submitted through the public API (``Runtime.submit``, which returns once the run
is committed) from several threads, since each call waits for a group commit. Their traces
come from the store's journal, which is the truth: a run's ``run.submitted`` event, each
``handoff.recorded`` event, and its end. Every journal timestamp is the time of the commit
that wrote it, so a hop spans exactly one commit (fsync included when ``sync`` is on).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from handoffs.store import StoreOptions

from bench.agents import PIPELINE, bench_config, set_reject_percent
from bench.timing import FixedRate, Trace, Window
from handoffs.runtime import Runtime

__all__ = ["run_fixed_rate", "run_saturated", "run_unloaded"]

_END_EVENTS = frozenset({"run.completed", "run.failed", "run.escalated", "run.cancelled"})
#: How long the journal tail sleeps when it found nothing new (it competes for the GIL).
_POLL_SECONDS = 0.002


class _Mark(msgspec.Struct):
    """The journal fields a trace needs; decoding only these keeps the reader cheap."""

    seq: int
    at: float
    type: str
    run_id: str | None = None


class _JournalTail:
    """Follows the journal on its own thread and hands each ended run's trace to ``finish``."""

    def __init__(self, runtime: Runtime, finish: Callable[[Trace], None]) -> None:
        self._runtime = runtime
        self._finish = finish
        self._after = runtime.store.last_seq
        self._traces: dict[str, Trace] = {}
        self._stop = threading.Event()
        self.unexpected: dict[str, int] = {}
        self._thread = threading.Thread(target=self._loop, name="bench-journal", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        journal = self._runtime.store.journal
        traces = self._traces
        while not self._stop.is_set():
            events = journal(after=self._after, limit=4096, fields=_Mark)
            if not events:
                time.sleep(_POLL_SECONDS)
                continue
            self._after = events[-1].seq
            for event in events:
                run_id = event.run_id
                if run_id is None:
                    continue
                if event.type == "run.submitted":
                    traces[run_id] = [event.at]
                elif event.type == "handoff.recorded":
                    traces[run_id].append(event.at)
                elif event.type in _END_EVENTS:
                    trace = traces.pop(run_id)
                    if event.type != "run.completed":
                        self.unexpected[event.type] = self.unexpected.get(event.type, 0) + 1
                    self._finish(trace)


def _open(data_dir: Path, params: dict[str, Any]) -> Runtime:
    set_reject_percent(params.get("reject_percent", 0))
    config = bench_config(concurrency=params["concurrency"])
    options = StoreOptions(sync=params["sync"], map_size=1 << 30)
    return Runtime.open(config, data_dir, store_options=options, prefetch=params["prefetch"])


def _extra(runtime: Runtime, tail: _JournalTail, before: tuple[int, int]) -> dict[str, Any]:
    stats = runtime.store.statistics()
    commits = stats.commits - before[0]
    batches = stats.batches - before[1]
    return {
        "commits": commits,
        "decisions": batches,
        "group_mean": batches / commits if commits else 0.0,
        "not_completed": dict(tail.unexpected),
    }


def _measure(
    params: dict[str, Any], make_driver: Callable[[Callable[[int], None]], Window | FixedRate]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="handoffs-bench-", dir=params.get("data_root")) as d:
        runtime = _open(Path(d) / "kb", params)
        try:
            submit = runtime.submit_async

            def start(i: int) -> None:
                # Not waiting for the commit: the window, not the submit call, bounds load.
                submit(PIPELINE, {"topic": f"topic {i}"})

            driver = make_driver(start)
            tail = _JournalTail(runtime, driver.finish)
            tail.start()
            stats = runtime.store.statistics()
            before = (stats.commits, stats.batches)
            try:
                result = driver.run(warmup=params["warmup"], duration=params["duration"])
            finally:
                tail.stop()
            result["extra"] = _extra(runtime, tail, before)
        finally:
            runtime.close()
    return result


def run_saturated(params: dict[str, Any]) -> dict[str, Any]:
    """(a) and (b): keep ``window`` runs in flight for ``duration`` seconds."""
    return _measure(
        params,
        lambda start: Window(start, window=params["window"], submitters=params["submitters"]),
    )


def run_fixed_rate(params: dict[str, Any]) -> dict[str, Any]:
    """(c): offer ``rate`` runs per second, whatever is in flight."""
    return _measure(
        params,
        lambda start: FixedRate(start, rate=params["rate"], submitters=params["submitters"]),
    )


def run_unloaded(params: dict[str, Any]) -> dict[str, Any]:
    """(c) unloaded: one run at a time, the next submitted when the last has ended."""
    return _measure(params, lambda start: Window(start, window=1, submitters=1))
