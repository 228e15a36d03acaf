"""What the daemon serves: one :class:`~handoffs.runtime.Runtime`, or N shards behind a
:class:`~handoffs.shards.ShardedRuntime`, and the journal of either as one tail.

The two answer the same calls (submit, cancel, resolve, the store's reads); they differ in
how the journal is positioned. One store numbers its events (``seq``); N shards number
theirs each, so a position there is one seq per shard (``"12.40.7"``,
:mod:`handoffs.shards.merged`). :class:`Tail` hides the difference: positions are text, and
one store's are the integers its API always gave.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias

from handoffs.messages import Event
from handoffs.runtime import Runtime
from handoffs.shards import ShardedRuntime, format_position, parse_position
from handoffs.shards.merged import MAX_SEQ, ShardedStore
from handoffs.store import InvalidKey
from handoffs.store_view import StoreView

__all__ = ["POSITION_PATTERN", "Host", "Tail", "checked", "tail_of"]

Host: TypeAlias = Runtime | ShardedRuntime

#: A journal position as the API takes it: a seq, or one per shard joined by dots.
POSITION_PATTERN = r"^[0-9]{1,19}(\.[0-9]{1,19}){0,255}$"


class Tail(Protocol):
    """The journal, for tailing, whatever holds it."""

    def end(self) -> str:
        """The position after the last committed event."""
        ...

    def has_after(self, position: str) -> bool:
        """Whether an event follows ``position`` (cheap: the loop polls it)."""
        ...

    def read(self, position: str, limit: int) -> list[tuple[Event, str]]:
        """Up to ``limit`` events after ``position``, each with the position after it.

        Raises:
            InvalidKey: ``position`` is not a position of this journal.
        """
        ...

    def recent(self, limit: int, fields: type[Any]) -> list[Any]:
        """About the last ``limit`` events, oldest first, decoded into ``fields``."""
        ...

    def total(self) -> int:
        """How many events were ever committed (one store: its last seq)."""
        ...


def _seq(position: str) -> int:
    text = position.strip()
    if not text.isdigit() or len(text) > 19 or int(text) > MAX_SEQ:
        raise InvalidKey(f"after: must be a journal seq (a whole number), not {position[:40]!r}")
    return int(text)


class _StoreTail:
    def __init__(self, store: StoreView) -> None:
        self._store = store

    def end(self) -> str:
        return str(self._store.last_seq)

    def has_after(self, position: str) -> bool:
        return self._store.last_seq > _seq(position)

    def read(self, position: str, limit: int) -> list[tuple[Event, str]]:
        return [(e, str(e.seq)) for e in self._store.journal(_seq(position), limit)]

    def recent(self, limit: int, fields: type[Any]) -> list[Any]:
        start = max(0, self._store.last_seq - limit)
        events: list[Any] = self._store.journal(start, limit, fields=fields)
        return events

    def total(self) -> int:
        return self._store.last_seq


class _ShardTail:
    def __init__(self, store: ShardedStore, shards: int) -> None:
        self._store = store
        self._shards = shards

    def end(self) -> str:
        return format_position(self._store.position)

    def has_after(self, position: str) -> bool:
        return self._store.has_after(parse_position(position, self._shards))

    def read(self, position: str, limit: int) -> list[tuple[Event, str]]:
        found = self._store.journal_after(parse_position(position, self._shards), limit)
        return [(p.event, format_position(p.position)) for p in found]

    def recent(self, limit: int, fields: type[Any]) -> list[Any]:
        return self._store.recent(limit, fields)

    def total(self) -> int:
        return sum(self._store.position)


def checked(tail: Tail, position: str, where: str) -> str:
    """``position`` if it is one of ``tail``'s, else the API's 400 naming ``where``."""
    from handoffs.daemon.errors import ApiError

    try:
        tail.has_after(position)
    except InvalidKey as exc:
        message = str(exc).removeprefix("after: ")
        raise ApiError(400, "invalid_parameter", f"{where}: {message}", where) from None
    return position


def tail_of(host: Host) -> Tail:
    """The journal tail of ``host``."""
    if isinstance(host, ShardedRuntime):
        return _ShardTail(host.store, len(host.shards))
    return _StoreTail(host.store)
