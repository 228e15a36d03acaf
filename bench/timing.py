"""Drivers that offer load to a system, and the statistics of what came back.

A run's *trace* is its timestamps (``time.time()``): when it started, then when each stage's
output was produced (for a durable system: committed), the last one being its end. A *hop*
is the time between two consecutive entries: the next stage's dispatch, work, validation
and, where there is one, the commit in between. A run's end-to-end latency is its last entry
minus its first.

Throughput counts the runs that ended inside the measured window (after the warm-up, before
the stop); latencies come from the runs that started inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bench.footprint import Footprint

__all__ = ["AsyncWindow", "FixedRate", "Trace", "Window", "percentile", "summarize"]

#: A run's timestamps (start, each output). Kept as a tuple once finished: tuples of floats
#: leave the garbage collector's care, lists would make every full collection slower.
Trace = Sequence[float]
#: Seconds a driver waits for the runs still in flight once it stops offering load.
DRAIN_TIMEOUT = 60.0


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of already sorted values, nearest rank; NaN when empty."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def summarize(
    finished: Sequence[tuple[float, Trace]], started_window: tuple[float, float]
) -> dict[str, Any]:
    """Throughput and latency percentiles of ``(end time, trace)`` pairs.

    ``started_window`` is ``(t_warm, t_stop)``: runs ending inside it count for throughput,
    runs starting inside it for latency.
    """
    t_warm, t_stop = started_window
    seconds = max(t_stop - t_warm, 1e-9)
    ended = [trace for end, trace in finished if t_warm <= end <= t_stop]
    measured = [trace for _, trace in finished if t_warm <= trace[0] < t_stop]
    hops = sorted(b - a for trace in measured for a, b in itertools.pairwise(trace))
    e2e = sorted(trace[-1] - trace[0] for trace in measured)
    handoffs = sum(len(trace) - 1 for trace in ended)
    return {
        "runs": len(ended),
        "seconds": seconds,
        "runs_per_s": len(ended) / seconds,
        "handoffs_per_s": handoffs / seconds,
        "handoffs_per_run": handoffs / len(ended) if ended else float("nan"),
        "e2e_p50_ms": percentile(e2e, 0.50) * 1e3,
        "e2e_p99_ms": percentile(e2e, 0.99) * 1e3,
        "hop_p50_ms": percentile(hops, 0.50) * 1e3,
        "hop_p99_ms": percentile(hops, 0.99) * 1e3,
        "latency_runs": len(measured),
        "hops": len(hops),
    }


def _measured(
    finished: Sequence[tuple[float, Trace]],
    window: tuple[float, float],
    cpu: float,
    footprint: dict[str, float],
) -> dict[str, Any]:
    """:func:`summarize`, plus the CPU time (all threads, user + system) per run ended in the
    window: steadier than runs/s on a shared machine; plus threads and RSS when sampled."""
    result = summarize(finished, window)
    result["cpu_cores"] = cpu / result["seconds"]
    result["cpu_us_per_run"] = cpu / result["runs"] * 1e6 if result["runs"] else float("nan")
    result.update(footprint)
    return result


class _Offer:
    """What both closed loops share: the first ``window`` runs start spread over ``ramp``
    seconds (started at once, they would move through the stages as one cohort), and with
    ``footprint`` the process's threads and RSS are sampled while load is offered."""

    def __init__(self, window: int, ramp: float, footprint: bool) -> None:
        self.window = window
        self.ramp = ramp
        self.footprint = Footprint() if footprint else None
        self.t_begin = 0.0

    def begin(self) -> float:
        """Load starts now: take the footprint's baseline; return the time."""
        if self.footprint is not None:
            self.footprint.start()
        self.t_begin = time.time()
        return self.t_begin

    def delay(self, i: int) -> float:
        """Seconds run ``i`` should still wait (ramping up), if more than a millisecond."""
        if not self.ramp or i >= self.window:
            return 0.0
        delay = self.t_begin + self.ramp * i / self.window - time.time()
        return delay if delay > 0.001 else 0.0

    def end(self) -> dict[str, float]:
        """Load stops now: the footprint's figures (none when not sampled)."""
        return self.footprint.stop() if self.footprint is not None else {}


class _Collected:
    """Finished traces, appended from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finished: list[tuple[float, Trace]] = []
        self.count = 0
        self.all_done = threading.Condition(self.lock)

    def add(self, trace: Trace) -> None:
        """Record a finished run's trace and wake whoever waits for the count."""
        with self.lock:
            self.finished.append((trace[-1], tuple(trace)))
            self.count += 1
            self.all_done.notify_all()


class Window:
    """A closed loop: ``submitters`` threads keep up to ``window`` runs in flight.

    ``start(i)`` starts run ``i`` (it may block, e.g. until the run is committed, or run the
    whole thing); whoever sees the run end calls :meth:`finish` with its trace, from any
    thread. :meth:`run` offers load for ``warmup + duration`` seconds, then waits for the
    runs in flight and returns their statistics.
    """

    def __init__(
        self,
        start: Callable[[int], None],
        *,
        window: int,
        submitters: int = 1,
        ramp: float = 0.0,
        footprint: bool = False,
    ) -> None:
        """``ramp``: seconds over which the first ``window`` runs start; ``footprint``:
        sample threads and RSS (:class:`~bench.footprint.Footprint`) while load is offered."""
        self._start = start
        self._slots = threading.Semaphore(window)
        self._submitters = submitters
        self._offer = _Offer(window, ramp, footprint)
        self._next = 0
        self._next_lock = threading.Lock()
        self._stop = threading.Event()
        self._collected = _Collected()
        self.started = 0
        self.errors: list[BaseException] = []

    def finish(self, trace: Trace) -> None:
        """A run ended (any thread)."""
        self._collected.add(trace)
        self._slots.release()

    def _submit_loop(self) -> None:
        while True:
            self._slots.acquire()
            if self._stop.is_set():
                self._slots.release()
                return
            with self._next_lock:
                i = self._next
                self._next += 1
            delay = self._offer.delay(i)
            if delay:
                self._stop.wait(delay)
            try:
                self._start(i)
            except BaseException as exc:
                self.errors.append(exc)
                self._stop.set()
                self._slots.release()
                return

    def run(self, *, warmup: float, duration: float) -> dict[str, Any]:
        """Offer load, then return :func:`summarize` of the measured window."""
        threads = [
            threading.Thread(target=self._submit_loop, name=f"bench-submit-{n}", daemon=True)
            for n in range(self._submitters)
        ]
        t_begin = self._offer.begin()
        for thread in threads:
            thread.start()
        t_warm = t_begin + warmup
        t_stop = t_warm + duration
        self._stop.wait(max(0.0, t_warm - time.time()))
        cpu_warm = time.process_time()
        self._stop.wait(max(0.0, t_stop - time.time()))
        cpu = time.process_time() - cpu_warm
        figures = self._offer.end()
        self._stop.set()
        for thread in threads:
            thread.join(DRAIN_TIMEOUT)
        self.started = self._next
        self._wait_all(self.started)
        if self.errors:
            raise self.errors[0]
        return _measured(self._collected.finished, (t_warm, t_stop), cpu, figures)

    def _wait_all(self, count: int) -> None:
        c = self._collected
        with c.lock:
            if not c.all_done.wait_for(lambda: c.count >= count, DRAIN_TIMEOUT):
                raise TimeoutError(f"{count - c.count} of {count} runs did not finish")


class AsyncWindow:
    """A closed loop on the running event loop: keeps up to ``window`` runs in flight.

    ``await start(i)`` hands run ``i`` over and returns without waiting for it to end;
    whoever sees a run end calls :meth:`finish` with its trace, on the loop. ``ramp`` and
    ``footprint`` as for :class:`Window`. With ``drain`` false, :meth:`run` returns at the
    stop without waiting for the runs in flight (a system that cannot finish them in time
    still reports what it did); the caller cancels them.
    """

    def __init__(
        self,
        start: Callable[[int], Awaitable[None]],
        *,
        window: int,
        ramp: float = 0.0,
        footprint: bool = False,
        drain: bool = True,
    ) -> None:
        self._start = start
        self._slots = asyncio.Semaphore(window)
        self._offer = _Offer(window, ramp, footprint)
        self._drain = drain
        self._finished: list[tuple[float, Trace]] = []
        self._all_done = asyncio.Event()
        self._stopping = False
        self.started = 0
        self.ended = 0

    def finish(self, trace: Trace) -> None:
        """A run ended (on the loop)."""
        self._finished.append((trace[-1], tuple(trace)))
        self.ended += 1
        self._slots.release()
        if self._stopping and self.ended >= self.started:
            self._all_done.set()

    async def _offer_load(self) -> None:
        while True:
            await self._slots.acquire()
            delay = self._offer.delay(self.started)
            if delay:
                await asyncio.sleep(delay)
            await self._start(self.started)
            self.started += 1

    async def run(self, *, warmup: float, duration: float) -> dict[str, Any]:
        """Offer load, then return :func:`summarize` of the measured window."""
        t_warm = self._offer.begin() + warmup
        t_stop = t_warm + duration
        offer = asyncio.create_task(self._offer_load())
        await asyncio.sleep(max(0.0, t_warm - time.time()))
        cpu_warm = time.process_time()
        await asyncio.sleep(max(0.0, t_stop - time.time()))
        cpu = time.process_time() - cpu_warm
        figures = self._offer.end()
        offer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await offer  # an error in ``start`` is raised here
        self._stopping = True
        if self._drain and self.ended < self.started:
            await asyncio.wait_for(self._all_done.wait(), DRAIN_TIMEOUT)
        return _measured(self._finished, (t_warm, t_stop), cpu, figures)


class FixedRate:
    """An open loop: runs start at ``rate`` per second, whatever is in flight.

    ``submitters`` threads share the schedule (run ``i`` is due at ``t0 + i / rate``); a
    thread that falls behind starts its next run at once, so the offered load holds as long
    as the starts themselves keep up.
    """

    def __init__(self, start: Callable[[int], None], *, rate: float, submitters: int) -> None:
        self._start = start
        self._rate = rate
        self._submitters = submitters
        self._collected = _Collected()
        self.started = 0
        self.errors: list[BaseException] = []

    def finish(self, trace: Trace) -> None:
        """A run ended (any thread)."""
        self._collected.add(trace)

    def run(self, *, warmup: float, duration: float) -> dict[str, Any]:
        """Offer load at the rate, then return :func:`summarize` of the measured window."""
        t0 = time.time() + 0.01
        t_warm = t0 + warmup
        t_stop = t_warm + duration
        total = int((warmup + duration) * self._rate)
        counts = [0] * self._submitters

        def loop(k: int) -> None:
            for i in range(k, total, self._submitters):
                delay = t0 + i / self._rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                try:
                    self._start(i)
                except BaseException as exc:
                    self.errors.append(exc)
                    return
                counts[k] += 1

        threads = [
            threading.Thread(target=loop, args=(k,), name=f"bench-pace-{k}", daemon=True)
            for k in range(self._submitters)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(warmup + duration + DRAIN_TIMEOUT)
        self.started = sum(counts)
        c = self._collected
        with c.lock:
            c.all_done.wait_for(lambda: c.count >= self.started, DRAIN_TIMEOUT)
        if self.errors:
            raise self.errors[0]
        result = summarize(c.finished, (t_warm, t_stop))
        result["offered_runs_per_s"] = self._rate
        return result
