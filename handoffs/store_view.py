"""A runtime's knowledge base, read-only: what callers may look at, nothing they may change.

The orchestrator is the single writer of pipeline state; a caller holding the store itself
could commit, close it, or swap its hooks under a running runtime. :class:`StoreView` hands
out the store's read methods only (they are the store's own bound methods, so they cost no
extra call and keep their signatures and documentation).

Threads: every method may be called from any thread (short read transactions).
"""

from __future__ import annotations

from pathlib import Path

from handoffs.store import Store

__all__ = ["StoreView"]


class StoreView:
    """Read access to a :class:`~handoffs.store.Store`; see its methods for what each does.

    Records: ``get_run``, ``get_artifact``, ``get_task``, ``get_escalation``,
    ``run_handoffs``. Listings (pages, oldest first): ``runs``, ``escalations``,
    ``artifacts``, ``newest_artifacts``, ``tasks``, ``pending_tasks``, ``journal``.
    Figures: ``count_runs``, ``count_escalations``, ``statistics``, ``map_usage``,
    ``last_seq``, ``verify`` (the indexes against the records). ``pipeline_versions``: the
    stage graph behind each run's ``pipeline_version``. ``subscribe(listener)``
    calls ``listener(events)`` with each commit's journal events, on the committing
    thread, and returns the function that unsubscribes.
    """

    __slots__ = (
        "_store",
        "artifacts",
        "count_escalations",
        "count_runs",
        "escalations",
        "get_artifact",
        "get_escalation",
        "get_run",
        "get_task",
        "journal",
        "map_usage",
        "newest_artifacts",
        "pending_tasks",
        "pipeline_versions",
        "run_handoffs",
        "runs",
        "statistics",
        "subscribe",
        "tasks",
        "verify",
    )

    def __init__(self, store: Store) -> None:
        self._store = store
        self.get_run = store.get_run
        self.get_artifact = store.get_artifact
        self.get_task = store.get_task
        self.get_escalation = store.get_escalation
        self.run_handoffs = store.run_handoffs
        self.runs = store.runs
        self.escalations = store.escalations
        self.artifacts = store.artifacts
        self.newest_artifacts = store.newest_artifacts
        self.tasks = store.tasks
        self.pending_tasks = store.pending_tasks
        self.pipeline_versions = store.pipeline_versions
        self.journal = store.journal
        self.count_runs = store.count_runs
        self.count_escalations = store.count_escalations
        self.statistics = store.statistics
        self.map_usage = store.map_usage
        self.verify = store.verify
        self.subscribe = store.subscribe

    @property
    def path(self) -> Path:
        """The store's directory."""
        return self._store.path

    @property
    def closed(self) -> bool:
        """Whether the store is closed (the runtime closes it last)."""
        return self._store.closed

    @property
    def last_seq(self) -> int:
        """The journal's last sequence number (tail with ``journal(after=...)``)."""
        return self._store.last_seq

    def __repr__(self) -> str:
        return f"<StoreView {self._store.path}>"
