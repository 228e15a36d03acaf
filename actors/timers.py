"""One timer thread for the whole runtime: retry backoffs, stage deadlines, restart delays.

A heap of (due, seq, callback); the thread sleeps on a condition until the earliest is due.
Callbacks only ``tell`` an actor, so they are quick and never block the timer thread.
Cancelling is not needed: receivers ignore timers that no longer match current state.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable

__all__ = ["Timers"]


class Timers:
    """Run callbacks at monotonic times, from one daemon thread."""

    def __init__(self, name: str = "handoffs-timers") -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` (on the timer thread) ``delay`` seconds from now."""
        due = time.monotonic() + max(0.0, delay)
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), callback))
            if self._heap[0][0] == due:
                self._cond.notify()

    def stop(self) -> None:
        """Stop the thread; pending callbacks are dropped."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if self._heap:
                        wait = self._heap[0][0] - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopped:
                    return
                _, _, callback = heapq.heappop(self._heap)
            # A dead actor's ref raises ActorDeadError: the timer no longer matters then.
            with contextlib.suppress(Exception):
                callback()
