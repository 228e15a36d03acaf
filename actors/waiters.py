"""Wake threads waiting for runs to settle (leave ``running``).

The orchestrator calls :meth:`RunWaiters.notify` after the commit that settles a run; a waiter
re-reads the store (the truth) whenever the version moves, so no wake-up can be missed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from handoffs.messages import Run

__all__ = ["RunWaiters"]


class RunWaiters:
    """A version counter under a condition variable."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 0

    def notify(self) -> None:
        """Some run settled: wake every waiter to re-check."""
        with self._cond:
            self._version += 1
            self._cond.notify_all()

    def wait(
        self, run_id: str, read: Callable[[str], Run | None], timeout: float | None
    ) -> Run | None:
        """Wait until ``read(run_id)`` is not running (or gone); return it, or the last state
        seen when ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cond:
                version = self._version
            run = read(run_id)
            if run is None or run.state != "running":
                return run
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return run
            with self._cond:
                self._cond.wait_for(lambda v=version: self._version != v, remaining)  # type: ignore[misc]
