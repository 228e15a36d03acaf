"""The runtime's Prometheus metrics, on a registry the caller passes in (never the global one).

Labels are bounded: pipeline, stage, role, reason, outcome, state. Never run or task ids.
Children used on the hot path are bound once and cached. What the orchestrator counts per
decision goes into a :class:`Tally` applied once per group commit (every prometheus_client
increment takes a lock), and what it alone moves (runs by state, tasks in flight, stage
durations) is kept as plain counts, read at scrape time.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator

from handoffs.actors.decision import Decision
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["OwnedSeries", "RuntimeMetrics", "Tally"]

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

    def __init__(self, read: Callable[[], tuple[int, int]], limit: int | None) -> None:
        self._read = read
        self._limit = limit

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
        if self._limit is not None:
            # The map grows up to this: the denominator of "how full is the store".
            yield GaugeMetricFamily(
                "handoffs_store_map_max_bytes",
                "The size the LMDB map may grow to (max_map_size).",
                value=self._limit,
            )


class _LiveGauge(Collector):
    """A gauge with one label, read at scrape time from counts one thread keeps.

    Only the orchestrator's thread writes the counts, so the hot path takes no lock; a scrape
    copies them in one call, which holds the GIL.
    """

    def __init__(self, name: str, doc: str, label: str, counts: dict[str, int]) -> None:
        self._name = name
        self._doc = doc
        self._label = label
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._doc, labels=[self._label])
        for key, value in sorted(self._counts.copy().items()):
            family.add_metric([key], value)
        yield family


class _LiveHistogram(Collector):
    """A labelled histogram kept as plain bucket counts by one thread, read at scrape time.

    ``observe`` is a binary search and an increment, no lock (prometheus_client's takes two
    per observation); a scrape copies the counts in one call, which holds the GIL.
    """

    def __init__(self, name: str, doc: str, labels: list[str], buckets: tuple[float, ...]) -> None:
        self._name = name
        self._doc = doc
        self._labels = labels
        self._bounds = buckets
        #: Per label values: a count per bucket (the last one is +Inf), then the sum.
        self._series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0.0] * (len(self._bounds) + 2)
        series[bisect.bisect_left(self._bounds, value)] += 1
        series[-1] += value

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._doc, labels=self._labels)
        bounds = [*map(repr, self._bounds), "+Inf"]
        for labels, series in sorted(self._series.copy().items()):
            counts = series[:-1]  # a copy: the owner may add while we read
            cumulative = list(itertools.accumulate(counts))
            family.add_metric(
                list(labels), list(zip(bounds, cumulative, strict=True)), sum_value=series[-1]
            )
        yield family


class OwnedSeries:
    """One histogram series written by one thread only: plain bucket counts, no lock."""

    __slots__ = ("bounds", "counts")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        #: A count per bucket (the last one is +Inf), then the sum.
        self.counts = [0.0] * (len(bounds) + 2)

    def observe(self, value: float) -> None:
        """Count ``value`` (from the owning thread only)."""
        counts = self.counts
        counts[bisect.bisect_left(self.bounds, value)] += 1
        counts[-1] += value


class _ShardedHistogram(Collector):
    """A histogram labelled by role whose every series is the sum of shards, each written by
    one thread (an agent actor): observing takes no lock (prometheus_client's takes two),
    and a scrape adds the shards up."""

    def __init__(self, name: str, doc: str, label: str, buckets: tuple[float, ...]) -> None:
        self._name = name
        self._doc = doc
        self._label = label
        self._bounds = buckets
        self._shards: dict[str, list[OwnedSeries]] = {}

    def shard(self, value: str) -> OwnedSeries:
        """A new shard of the series ``value``, for one thread to write."""
        series = OwnedSeries(self._bounds)
        self._shards.setdefault(value, []).append(series)  # a restarted actor keeps counting
        return series

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._doc, labels=[self._label])
        bounds = [*map(repr, self._bounds), "+Inf"]
        for value, shards in sorted(self._shards.copy().items()):
            total = [0.0] * (len(self._bounds) + 2)
            for shard in list(shards):
                for i, count in enumerate(shard.counts[:]):  # a copy: the owner may add
                    total[i] += count
            cumulative = list(itertools.accumulate(total[:-1]))
            family.add_metric(
                [value], list(zip(bounds, cumulative, strict=True)), sum_value=total[-1]
            )
        yield family


class Tally:
    """What one group of decisions adds to the metrics, applied when the group commits."""

    __slots__ = ("durations", "handoffs", "run_revisions", "run_states")

    def __init__(self) -> None:
        self.handoffs: dict[tuple[str, str, str], int] = {}
        self.durations: list[tuple[str, str, float]] = []
        #: Runs entering (+1) or leaving (-1) each state.
        self.run_states: dict[str, int] = {}
        self.run_revisions: list[int] = []

    def add(self, decision: Decision) -> None:
        """Count one committed decision."""
        handoffs = self.handoffs
        for key in decision.handoffs:
            handoffs[key] = handoffs.get(key, 0) + 1
        if decision.durations:
            self.durations += decision.durations
        states = self.run_states
        for before, after in decision.run_states:
            if before is not None:
                states[before] = states.get(before, 0) - 1
            states[after] = states.get(after, 0) + 1
        if decision.run_revisions:
            self.run_revisions += decision.run_revisions


class RuntimeMetrics:
    """Every metric handoffs exports. ``apply`` and ``inflight`` belong to the orchestrator's
    thread (they write plain counts); everything else is thread-safe, as prometheus_client
    children are."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.handoffs = Counter(
            "handoffs",
            "Outputs recorded, by what the pipeline did with them.",
            ["pipeline", "stage", "outcome"],
            registry=registry,
        )
        self.stage_duration = _LiveHistogram(
            "handoffs_stage_duration_seconds",
            "Time agents spent on a task of the stage.",
            ["pipeline", "stage"],
            _LATENCY_BUCKETS,
        )
        registry.register(self.stage_duration)
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
        #: Runs by state and tasks in flight by role: kept by the orchestrator's thread only.
        self.run_counts: dict[str, int] = {}
        self.inflight_counts: dict[str, int] = {}
        registry.register(_LiveGauge("handoffs_runs", "Runs by state.", "state", self.run_counts))
        registry.register(
            _LiveGauge(
                "handoffs_tasks_inflight",
                "Tasks handed to agents, not answered yet.",
                "role",
                self.inflight_counts,
            )
        )
        self.task_failures = Counter(
            "handoffs_task_failures",
            "Agent attempts that raised, timed out, crashed or returned invalid output.",
            ["role"],
            registry=registry,
        )
        #: Written by the agent actors, a shard each (``task_queue.shard(role)``).
        self.task_queue = _ShardedHistogram(
            "handoffs_task_queue_seconds",
            "Time a task waited for an agent to start it (not counted against its timeout).",
            "role",
            _LATENCY_BUCKETS,
        )
        registry.register(self.task_queue)
        #: Set by the supervisor: 1 while the role has live actors, 0 once it is down.
        self.role_up = Gauge(
            "handoffs_role_up",
            "Whether the role is up (1) or down until a person restarts it (0).",
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

    def watch_store(self, read: Callable[[], tuple[int, int]], limit: int | None = None) -> None:
        """Export the map gauges from ``read() -> (used, size)`` at scrape time, and
        ``limit`` (the store's ``max_map_size``) when given."""
        if self._store_collector is not None:
            self.registry.unregister(self._store_collector)
        self._store_collector = _StoreMapCollector(read, limit)
        self.registry.register(self._store_collector)

    def on_commit(self, seconds: float, _batches: int) -> None:
        """The store's commit hook."""
        self.store_commits.inc()
        self.store_commit_seconds.observe(seconds)

    def apply(self, tally: Tally) -> None:
        """Add a committed group's tally: one increment per label set."""
        for key, n in tally.handoffs.items():
            child = self._handoff_children.get(key)
            if child is None:
                child = self._handoff_children[key] = self.handoffs.labels(*key)
            child.inc(n)
        observe = self.stage_duration.observe
        for pipeline, stage, seconds in tally.durations:
            observe((pipeline, stage), seconds)
        counts = self.run_counts
        for state, delta in tally.run_states.items():
            counts[state] = counts.get(state, 0) + delta
        for revisions in tally.run_revisions:
            self.run_revisions.observe(revisions)

    def inflight(self, role: str, delta: int) -> None:
        """Tasks of ``role`` handed to (positive) or answered by (negative) agents."""
        counts = self.inflight_counts
        counts[role] = counts.get(role, 0) + delta
