"""The runtime's retention loop: a thread that prunes the store by the config's ``[store]``
retention, one pass at open and one every ``retention_every`` after.

Each pass is many small write transactions (see ``handoffs.store.retention``) with a pause
between them nine times as long as the last one, in which the orchestrator's committer takes
the write lock: a commit waits for at most one of them (a few milliseconds), and a pass
takes at most a tenth of the time.
"""

from __future__ import annotations

import logging
import threading

from handoffs.messages import StoreSpec
from handoffs.store import PruneReport, RetentionPolicy, Store, StoreError, parse_duration, prune

__all__ = ["Housekeeper", "retention_policy"]

log = logging.getLogger("handoffs.retention")

#: Runs per transaction (and 8x tasks, 20x journal entries): about 3 ms each, so a commit
#: waits at most that long, and the fsync each one costs is shared by 64 runs (pruning
#: 100,000 runs held the lock 10.8 s in all at 16 runs per transaction, 6.5 s at 64).
_BATCH = 64
#: Seconds between two transactions of a pass at least: the committer's turn at the lock.
_PAUSE = 0.002
#: And a multiple of the last transaction's length: a pass takes at most a tenth of the
#: time (of the write lock and, on a small machine, of the CPU the runtime shares with it).
_DUTY = 9.0


def retention_policy(spec: StoreSpec) -> RetentionPolicy:
    """The retention a ``[store]`` table asks for (its durations were checked when the
    config was decoded)."""

    def age(text: str | None) -> float | None:
        return None if text is None else parse_duration(text)

    return RetentionPolicy(
        completed=age(spec.retain_completed),
        failed=age(spec.retain_failed),
        journal=age(spec.retain_journal),
    )


class Housekeeper:
    """Prunes ``store`` by ``policy`` on a thread of its own until :meth:`stop`."""

    def __init__(self, store: Store, policy: RetentionPolicy, every: float) -> None:
        self._store = store
        self._policy = policy
        self._every = every
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time: the loop's or a caller's
        self._passed = threading.Condition()
        self.passes = 0
        self.last: PruneReport | None = None
        self._thread = threading.Thread(target=self._loop, name="handoffs-retention", daemon=True)

    @property
    def active(self) -> bool:
        """Whether the policy would ever prune anything (else the thread is not started)."""
        return self._policy.active

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End the pass in progress after its current transaction, and the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_pass(self) -> PruneReport:
        """One pass now, on the calling thread.

        Raises:
            StoreError: the store failed; what was committed stays.
        """
        with self._lock:
            report = prune(
                self._store,
                self._policy,
                batch=_BATCH,
                pause=self._pause,
                stop=self._stop.is_set,
            )
        with self._passed:
            self.last = report
            self.passes += 1
            self._passed.notify_all()
        if report.runs or report.journal:
            log.info(
                "retention: pruned %d runs, %d handoffs, %d tasks, %d journal entries "
                "(%d transactions, longest %.1f ms)",
                report.runs,
                report.handoffs,
                report.tasks,
                report.journal,
                report.transactions,
                report.longest_transaction * 1000,
            )
        return report

    def wait_passes(self, n: int, timeout: float) -> bool:
        """Wait until ``n`` passes have finished; whether they did within ``timeout``."""
        with self._passed:
            return self._passed.wait_for(lambda: self.passes >= n, timeout)

    def _pause(self, took: float) -> None:
        self._stop.wait(max(_PAUSE, _DUTY * took))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pass()
            except StoreError:
                # The store refuses writes (full disk, closed): the orchestrator reports that;
                # retention tries again next time.
                log.exception("retention: the pass failed; trying again in %.0f s", self._every)
            self._stop.wait(self._every)
