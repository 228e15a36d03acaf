"""What runs in flight cost a process: its peak thread count and resident memory, and how
far its throughput is from the ideal of an I/O-bound pipeline (scenario g).

Threads and RSS come from ``/proc/self/status`` (every OS thread, Python's or not), sampled
on a thread of its own, which is not counted. The RSS counted is the anonymous part (the
heap, stacks): a durable store's memory-mapped file grows with every run committed, in flight
or not, and its pages are the kernel's cache. Elsewhere than Linux the figures are NaN.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

__all__ = ["Footprint", "in_flight_figures", "read_status"]

_STATUS = Path("/proc/self/status")


def read_status() -> tuple[int, int] | None:
    """This process's ``(threads, anonymous RSS in KiB)``, or ``None`` without ``/proc``."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    threads = rss = 0
    for line in text.splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
        elif line.startswith("RssAnon:"):
            rss = int(line.split()[1])
    return threads, rss


class Footprint:
    """Samples threads and RSS every ``interval`` seconds from :meth:`start` to :meth:`stop`.

    The baseline is the sample :meth:`start` takes (before the load starts); the growth is
    the peak RSS over it. The sampler's own thread is left out of the counts.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-footprint", daemon=True)
        self._base: tuple[int, int] | None = None
        self._peak_threads = 0
        self._peak_rss = 0

    def start(self) -> None:
        """Take the baseline, then sample until :meth:`stop`."""
        self._base = read_status()
        if self._base is not None:
            self._peak_threads, self._peak_rss = self._base
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._take()

    def _take(self) -> None:
        status = read_status()
        if status is not None:
            self._peak_threads = max(self._peak_threads, status[0] - 1)  # not the sampler
            self._peak_rss = max(self._peak_rss, status[1])

    def stop(self) -> dict[str, float]:
        """Stop sampling; the baseline and peaks (NaN without ``/proc``)."""
        if self._base is None:
            return dict.fromkeys(
                ("threads_base", "threads_peak", "rss_base_kib", "rss_growth_kib"), math.nan
            )
        self._take()
        self._stop.set()
        self._thread.join()
        return {
            "threads_base": float(self._base[0]),
            "threads_peak": float(self._peak_threads),
            "rss_base_kib": float(self._base[1]),
            "rss_growth_kib": float(self._peak_rss - self._base[1]),
        }


def in_flight_figures(result: dict[str, Any], in_flight: int, stage_seconds: float,
                      stages: int = 4) -> dict[str, Any]:  # fmt: skip
    """Add the ideal runs/s (every run waiting ``stages * stage_seconds`` and nothing else),
    the percent of it reached, and the RSS growth per run in flight, to ``result``."""
    ideal = in_flight / (stages * stage_seconds)
    result["in_flight"] = in_flight
    result["ideal_runs_per_s"] = ideal
    result["percent_of_ideal"] = 100.0 * result["runs_per_s"] / ideal
    result["rss_kib_per_in_flight"] = result.get("rss_growth_kib", math.nan) / in_flight
    return result
