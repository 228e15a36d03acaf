"""Reading N shards as one store: listings merged with one cursor, the journal merged with
one position.

**Listings.** Ids begin with their creation time (:mod:`handoffs.messages.ids`), and every
listing is oldest first by id, in one store as across shards. A page asks each shard for
``limit`` items after the cursor (a shard seeks to any id, its own or not), merges them by
id and keeps the first ``limit``; the cursor is the last id kept, exactly as in one store,
so a client pages a sharded daemon the way it pages a single one.

**The journal.** Each shard numbers its own events (``seq``). A position across shards is
one seq per shard, written ``"12.40.7"`` (shard 0, 1, 2); one store's position is its seq
alone (``"12"``), so a client of a single daemon sees the integers it always did. A read
takes each shard's next events after its part of the position, merges them by time, and
gives each event the position just after it: resuming from any of them misses nothing and
repeats nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from handoffs.messages import Escalation, Event, Handoff, Run, TaskRecord
from handoffs.messages.ids import shard_of
from handoffs.shards.figures import summed
from handoffs.shards.link import ShardLink
from handoffs.store import InvalidKey, Page
from handoffs.store.batch import check_id

__all__ = ["MAX_SEQ", "Position", "ShardedStore", "format_position", "parse_position"]

#: The largest seq a position part may hold.
MAX_SEQ: Final = (1 << 63) - 1

Position = tuple[int, ...]


def parse_position(text: str, shards: int) -> Position:
    """``"12.40.7"`` as one seq per shard; a single number means that seq on every shard
    when there is one, and is refused otherwise.

    Raises:
        InvalidKey: it is not ``shards`` whole numbers joined by dots.
    """
    parts = text.strip().split(".")
    if not all(p.isdigit() and len(p) <= 19 and int(p) <= MAX_SEQ for p in parts):
        raise InvalidKey(
            f"after: must be a journal position (whole numbers joined by dots), not {text[:40]!r}"
        )
    if len(parts) != shards:
        if len(parts) == 1 and int(parts[0]) == 0:
            return (0,) * shards
        raise InvalidKey(
            f"after: a position of this daemon has {shards} parts (one seq per shard), "
            f"not {len(parts)}"
        )
    return tuple(int(p) for p in parts)


def format_position(position: Position) -> str:
    """The text form of ``position`` (see :func:`parse_position`)."""
    return ".".join(str(seq) for seq in position)


class Positioned(NamedTuple):
    """An event and the position just after it."""

    event: Any
    position: Position


class ShardedStore:
    """The read side of a sharded runtime: what :class:`~handoffs.store_view.StoreView` gives
    for one store, over every shard. A read that needs a shard that is down raises
    :class:`~handoffs.shards.calls.ShardUnavailable`."""

    def __init__(self, links: Sequence[ShardLink], timeout: float = 30.0) -> None:
        self._links = links  # the runtime's own list: it fills it after making this
        self._timeout = timeout

    # ------------------------------------------------------------------ records

    def link_of(self, identifier: str, what: str) -> ShardLink | None:
        """The shard an id names (``None``: a shard this daemon does not have).

        Raises:
            InvalidKey: ``identifier`` is not an id.
        """
        check_id(identifier, what)
        shard = shard_of(identifier)
        return self._links[shard] if shard < len(self._links) else None

    def _get(self, method: str, identifier: str, what: str) -> Any:
        link = self.link_of(identifier, what)
        return None if link is None else link.call(method, identifier, timeout=self._timeout)

    def get_run(self, run_id: str) -> Run | None:
        """The run ``run_id``, or ``None``."""
        run: Run | None = self._get("get_run", run_id, "run id")
        return run

    def get_artifact(self, artifact_id: str) -> Handoff | None:
        """The handoff record ``artifact_id``, or ``None``."""
        handoff: Handoff | None = self._get("get_artifact", artifact_id, "artifact id")
        return handoff

    def get_escalation(self, escalation_id: str) -> Escalation | None:
        """The escalation ``escalation_id``, or ``None``."""
        escalation: Escalation | None = self._get("get_escalation", escalation_id, "escalation id")
        return escalation

    def get_task(self, task_id: str) -> TaskRecord | None:
        """The task record ``task_id``, or ``None``."""
        task: TaskRecord | None = self._get("get_task", task_id, "task id")
        return task

    def run_handoffs(self, run_id: str) -> list[Handoff]:
        """Every handoff of a run, in commit order (empty for an unknown run)."""
        handoffs: list[Handoff] | None = self._get("run_handoffs", run_id, "run id")
        return handoffs or []

    # ------------------------------------------------------------------ listings

    def _all(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        futures = [link.call_async(method, *args, **kwargs) for link in self._links]
        return [future.result(self._timeout) for future in futures]

    def _merged(self, method: str, limit: int, cursor: str | None, **kwargs: Any) -> Page:
        if cursor:
            check_id(cursor, "cursor")
        if limit <= 0:
            self._all(method, limit=0, cursor=cursor, **kwargs)  # bad arguments raise alike
            return Page(items=[], cursor=None)
        pages: list[Page] = self._all(method, limit=limit, cursor=cursor, **kwargs)
        streams = [[(_id_of(item), item) for item in page.items] for page in pages]
        merged = list(heapq.merge(*streams, key=lambda pair: pair[0]))
        more = len(merged) > limit or any(page.cursor is not None for page in pages)
        kept = merged[:limit]
        return Page(items=[item for _, item in kept], cursor=kept[-1][0] if more and kept else None)

    def runs(
        self,
        *,
        state: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Runs, oldest first, across every shard (see ``Store.runs``)."""
        return self._merged("runs", limit, cursor, state=state, pipeline=pipeline)

    def escalations(
        self, *, state: str | None = "open", limit: int = 100, cursor: str | None = None
    ) -> Page:
        """Escalations in ``state`` (all when ``None``), oldest first, across every shard."""
        return self._merged("escalations", limit, cursor, state=state)

    def artifacts(
        self,
        *,
        run_id: str | None = None,
        pipeline: str | None = None,
        stage: str | None = None,
        kind: str | None = None,
        tag: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Handoff records through one index, oldest first (see ``Store.artifacts``): a
        run's from its shard, the others merged across shards."""
        if run_id is not None:
            link = self.link_of(run_id, "run id")
            if link is not None:
                page: Page = link.call(
                    "artifacts",
                    run_id=run_id,
                    pipeline=pipeline,
                    stage=stage,
                    kind=kind,
                    tag=tag,
                    limit=limit,
                    cursor=cursor,
                    timeout=self._timeout,
                )
                return page
        return self._merged(
            "artifacts",
            limit,
            cursor,
            run_id=run_id,
            pipeline=pipeline,
            stage=stage,
            kind=kind,
            tag=tag,
        )

    def count_runs(self) -> dict[str, int]:
        """Runs in each state, over every shard."""
        return summed(self._all("count_runs"))

    def count_escalations(self) -> dict[str, int]:
        """Escalations in each state, over every shard."""
        return summed(self._all("count_escalations"))

    def map_usage(self) -> tuple[int, int]:
        """``(bytes used, map size)`` summed over the shards' LMDB maps."""
        usages: list[tuple[int, int]] = self._all("map_usage")
        return sum(u for u, _ in usages), sum(m for _, m in usages)

    # ------------------------------------------------------------------ journal

    @property
    def position(self) -> Position:
        """Where the journal ends now, as the shards last said (their commit notices)."""
        return tuple(link.last_seq for link in self._links)

    def has_after(self, position: Position) -> bool:
        """Whether any shard has an event after its part of ``position``."""
        return any(link.last_seq > seq for link, seq in zip(self._links, position, strict=True))

    def journal_after(
        self, position: Position, limit: int, fields: type[Any] = Event
    ) -> list[Positioned]:
        """Up to ``limit`` events after ``position`` over every shard, by time (ties by
        shard), each with the position just after it."""
        futures = [
            link.call_async("journal", seq, limit, fields=fields)
            for link, seq in zip(self._links, position, strict=True)
        ]
        batches: list[list[Any]] = [future.result(self._timeout) for future in futures]
        ordered = heapq.merge(
            *([(e.at, shard, e) for e in batch] for shard, batch in enumerate(batches)),
            key=lambda entry: (entry[0], entry[1]),
        )
        current = list(position)
        out: list[Positioned] = []
        for _, shard, event in ordered:
            if len(out) == limit:
                break
            current[shard] = event.seq
            out.append(Positioned(event, tuple(current)))
        return out

    def recent(self, limit: int, fields: type[Any] = Event) -> list[Any]:
        """About the last ``limit`` events over every shard, oldest first."""
        start = tuple(max(0, link.last_seq - limit) for link in self._links)
        events = [p.event for p in self.journal_after(start, limit * len(self._links), fields)]
        return events[-limit:]


def _id_of(item: Run | Escalation | Handoff) -> str:
    # The key a listing orders by: a run's id, an escalation's or a handoff's own id.
    return item.run_id if isinstance(item, Run) else item.id
