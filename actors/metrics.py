"""The runtime's Prometheus metrics, on a registry the caller passes in (never the global one).

Labels are bounded: pipeline, stage, role, reason, outcome, state. Never run or task ids.
Children used on the hot path are bound once and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["RuntimeMetrics"]

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
_COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
_REVISION_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21)


class _StoreMapCollector(Collector):
    """Reads the store's map size and use at scrape time."""

    def __init__(self, read: Callable[[], tuple[int, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            used, size = self._read()
        except Exception:  # a closed store has nothing to report
            return
        yield GaugeMetricFamily(
            "handoffs_store_map_used_bytes", "Bytes of the LMDB map in use.", value=used
        )
        yield GaugeMetricFamily(
            "handoffs_store_map_size_bytes", "Current size of the LMDB map.", value=size
        )


class RuntimeMetrics:
    """Every metric handoffs exports. Thread-safe (prometheus_client children are)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.handoffs = Counter(
            "handoffs",
            "Outputs recorded, by what the pipeline did with them.",
            ["pipeline", "stage", "outcome"],
            registry=registry,
        )
        self.stage_duration = Histogram(
            "handoffs_stage_duration_seconds",
            "Time agents spent on a task of the stage.",
            ["pipeline", "stage"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.revisions = Counter(
            "handoffs_revisions",
            "Outputs sent back to their stage (review, gate or person).",
            ["pipeline", "stage"],
            registry=registry,
        )
        self.run_revisions = Histogram(
            "handoffs_run_revisions",
            "Revisions per finished run.",
            buckets=_REVISION_BUCKETS,
            registry=registry,
        )
        self.escalations = Counter(
            "handoffs_escalations",
            "Runs escalated to a person.",
            ["pipeline", "reason"],
            registry=registry,
        )
        self.escalations_open = Gauge(
            "handoffs_escalations_open", "Escalations waiting for a person.", registry=registry
        )
        self.runs = Gauge("handoffs_runs", "Runs by state.", ["state"], registry=registry)
        self.tasks_inflight = Gauge(
            "handoffs_tasks_inflight",
            "Tasks handed to agents, not answered yet.",
            ["role"],
            registry=registry,
        )
        self.task_failures = Counter(
            "handoffs_task_failures",
            "Agent attempts that raised, timed out, crashed or returned invalid output.",
            ["role"],
            registry=registry,
        )
        self.agent_restarts = Counter(
            "handoffs_agent_restarts",
            "Agent actors restarted by the supervisor.",
            ["role"],
            registry=registry,
        )
        self.stale_results = Counter(
            "handoffs_stale_results",
            "Results dropped because their task had moved on (late, duplicate, superseded).",
            registry=registry,
        )
        self.store_commits = Counter(
            "handoffs_store_commits", "LMDB write transactions committed.", registry=registry
        )
        self.store_commit_seconds = Histogram(
            "handoffs_store_commit_seconds",
            "Time to apply and commit one write transaction.",
            buckets=_COMMIT_BUCKETS,
            registry=registry,
        )
        self._store_collector: _StoreMapCollector | None = None
        self._handoff_children: dict[tuple[str, str, str], Counter] = {}
        self._duration_children: dict[tuple[str, str], Histogram] = {}
        self._inflight_children: dict[str, Gauge] = {}

    def watch_store(self, read: Callable[[], tuple[int, int]]) -> None:
        """Export the map gauges from ``read() -> (used, size)`` at scrape time."""
        if self._store_collector is not None:
            self.registry.unregister(self._store_collector)
        self._store_collector = _StoreMapCollector(read)
        self.registry.register(self._store_collector)

    def on_commit(self, seconds: float, _batches: int) -> None:
        """The store's commit hook."""
        self.store_commits.inc()
        self.store_commit_seconds.observe(seconds)

    def handoff(self, pipeline: str, stage: str, outcome: str, seconds: float) -> None:
        """Count one recorded output and the agent time it took."""
        key = (pipeline, stage, outcome)
        child = self._handoff_children.get(key)
        if child is None:
            child = self._handoff_children[key] = self.handoffs.labels(*key)
        child.inc()
        dkey = (pipeline, stage)
        hist = self._duration_children.get(dkey)
        if hist is None:
            hist = self._duration_children[dkey] = self.stage_duration.labels(*dkey)
        hist.observe(seconds)

    def inflight(self, role: str) -> Gauge:
        """The bound in-flight gauge of ``role``."""
        gauge = self._inflight_children.get(role)
        if gauge is None:
            gauge = self._inflight_children[role] = self.tasks_inflight.labels(role)
        return gauge
