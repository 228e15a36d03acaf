"""The shards' figures as one runtime's: statistics summed, metrics with a ``shard`` label.

**Metrics.** Each shard keeps its own Prometheus registry. The front's registry holds one
collector that, at each scrape, asks every shard for its exposition (in parallel), parses it
and yields each family once with every sample labelled ``shard="K"``, plus
``handoffs_shard_up`` and ``handoffs_shard_restarts_total`` per shard. A shard that does not
answer is left out of that scrape (``handoffs_shard_up`` says 0), never the whole scrape.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Final

import msgspec
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from handoffs.actors.supervisor import RoleHealth
from handoffs.runtime import QueueWait, RuntimeStatistics

if TYPE_CHECKING:
    from handoffs.shards.link import ShardLink

__all__ = ["ShardCollector", "merge_statistics", "summed"]

#: Seconds a scrape waits for a shard's exposition.
SCRAPE_TIMEOUT: Final = 5.0


class ShardCollector(Collector):
    """Every shard's metrics, labelled by shard (see the module's docstring)."""

    def __init__(self, links: Sequence[ShardLink]) -> None:
        self._links = links

    def collect(self) -> Iterator[Metric]:
        futures = [link.call_async("metrics") for link in self._links]
        up = GaugeMetricFamily(
            "handoffs_shard_up", "1 when the shard process is serving", labels=["shard"]
        )
        restarts = CounterMetricFamily(
            "handoffs_shard_restarts",
            "Times the shard process was started again after it died",
            labels=["shard"],
        )
        merged: dict[str, Metric] = {}
        for link, future in zip(self._links, futures, strict=True):
            shard = str(link.shard)
            restarts.add_metric([shard], link.restarts)
            try:
                text: bytes = future.result(SCRAPE_TIMEOUT)
            except (Exception, concurrent.futures.TimeoutError):
                up.add_metric([shard], 0)
                continue
            up.add_metric([shard], 1)
            for family in text_string_to_metric_families(text.decode()):
                target = merged.get(family.name)
                if target is None:
                    target = merged[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for sample in family.samples:
                    target.add_sample(
                        sample.name,
                        {**sample.labels, "shard": shard},
                        sample.value,
                        sample.timestamp,
                        sample.exemplar,
                    )
        yield up
        yield restarts
        yield from merged.values()


def merge_statistics(each: Sequence[RuntimeStatistics]) -> RuntimeStatistics:
    """One runtime's statistics from every shard's: counts summed, roles up only where
    they are up on every shard, the runs bouncing most over all."""
    first = each[0]
    roles: dict[str, RoleHealth] = {}
    for stats in each:
        for role in stats.supervisor.roles:
            seen = roles.get(role.role)
            roles[role.role] = role if seen is None else _role(seen, role)
    supervisor = msgspec.structs.replace(
        first.supervisor,
        roles=list(roles.values()),
        revisions=sum(s.supervisor.revisions for s in each),
        escalations=summed(s.supervisor.escalations for s in each),
        failures=sum(s.supervisor.failures for s in each),
        stale_results=sum(s.supervisor.stale_results for s in each),
        top_runs=sorted((run for s in each for run in s.supervisor.top_runs), key=lambda r: -r[1])[
            :20
        ],
    )
    orchestrators = [s.orchestrator for s in each]
    orchestrator = msgspec.structs.replace(
        first.orchestrator,
        active_runs=sum(o.active_runs for o in orchestrators),
        live_tasks=sum(o.live_tasks for o in orchestrators),
        inflight=sum(o.inflight for o in orchestrators),
        waiting=summed(o.waiting for o in orchestrators),
        roles_down=sorted({r for o in orchestrators for r in o.roles_down}),
        processed=sum(o.processed for o in orchestrators),
        stale=sum(o.stale for o in orchestrators),
        degraded=next((o.degraded for o in orchestrators if o.degraded), None),
    )
    queue: dict[str, QueueWait] = {}
    for stats in each:
        for name, wait in stats.queue.items():
            seen_wait = queue.get(name)
            queue[name] = wait if seen_wait is None else _queue(seen_wait, wait)
    return RuntimeStatistics(
        store=first.store,
        supervisor=supervisor,
        orchestrator=orchestrator,
        runs=summed(s.runs for s in each),
        escalations_open=sum(s.escalations_open for s in each),
        queue=queue,
    )


def _role(a: RoleHealth, b: RoleHealth) -> RoleHealth:
    return msgspec.structs.replace(
        a,
        up=a.up and b.up,
        actors=a.actors + b.actors,
        restarts=a.restarts + b.restarts,
        failures=a.failures + b.failures,
        last_exit=a.last_exit or b.last_exit,
        down_reason=a.down_reason or b.down_reason,
    )


def _queue(a: QueueWait, b: QueueWait) -> QueueWait:
    started = a.started + b.started
    mean = (a.mean_seconds * a.started + b.mean_seconds * b.started) / started if started else 0.0
    return QueueWait(started=started, mean_seconds=mean, waiting=a.waiting + b.waiting)


def summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    """Counts by key, added up."""
    total: dict[str, int] = {}
    for each in counts:
        for key, value in each.items():
            total[key] = total.get(key, 0) + value
    return total
