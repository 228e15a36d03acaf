"""Which agent actor gets which task: per-role slots, each with a capacity, a waiting queue.

Owned by the orchestrator and used only on its thread. Each slot is one agent actor; it takes
up to its handle's capacity at once (a thread: a small prefetch, so it never idles waiting
for the orchestrator; an event loop: the role's concurrency), the rest wait here, in order,
not in a mailbox a crash would empty.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from handoffs.actors.handle import AgentHandle

__all__ = ["Dispatcher", "Slot"]


class Slot:
    """One agent actor and the (task_id, attempt) pairs it holds."""

    __slots__ = ("capacity", "handle", "index", "inflight", "name", "role", "stuck")

    def __init__(self, role: str, index: int, handle: AgentHandle, name: str) -> None:
        self.role = role
        self.index = index
        self.handle = handle
        self.capacity = handle.capacity
        self.name = name
        self.inflight: set[tuple[str, int]] = set()
        #: A task overran its lease here and the agent has not answered since: a thread
        #: busy with a hung task starts nothing else, so nothing more is sent to it.
        self.stuck = False


class Dispatcher:
    """Slots per role, and per role the task ids waiting for a free slot."""

    def __init__(self) -> None:
        self._slots: dict[str, dict[int, Slot]] = {}
        self._waiting: dict[str, deque[str]] = {}
        self.down: set[str] = set()

    def add(self, role: str, index: int, handle: AgentHandle, name: str) -> Slot:
        """A (re)started actor takes the slot ``index`` of ``role``."""
        slot = Slot(role, index, handle, name)
        self._slots.setdefault(role, {})[index] = slot
        return slot

    def remove(self, role: str, index: int, name: str) -> Slot | None:
        """The actor ``name`` in ``role``/``index`` is gone; return its slot (with what it held).

        ``None`` when that slot already holds a newer actor.
        """
        slots = self._slots.get(role, {})
        slot = slots.get(index)
        if slot is None or slot.name != name:
            return None
        del slots[index]
        return slot

    def pick(self, role: str, avoid: Slot | None = None) -> Slot | None:
        """The least-loaded live slot of ``role`` with room, preferring not ``avoid``."""
        if role in self.down:
            return None
        best: Slot | None = None
        for slot in self._slots.get(role, {}).values():
            if slot.stuck or len(slot.inflight) >= slot.capacity:
                continue
            if best is None or _load(slot, avoid) < _load(best, avoid):
                best = slot
        return best

    def enqueue(self, role: str, task_id: str, *, front: bool = False) -> None:
        """``task_id`` waits for a slot of ``role``."""
        queue = self.waiting(role)
        if front:
            queue.appendleft(task_id)
        else:
            queue.append(task_id)

    def waiting(self, role: str) -> deque[str]:
        """The queue of ``role`` (the caller pops what it dispatches)."""
        # Not setdefault: that would build a deque on every call (once per answer).
        queue = self._waiting.get(role)
        if queue is None:
            queue = self._waiting[role] = deque()
        return queue

    def roles(self) -> Iterator[str]:
        """Every role that has slots or waiting tasks."""
        return iter(set(self._slots) | set(self._waiting))

    def has_room(self, role: str, beyond: int) -> bool:
        """Whether the live slots of ``role`` take more than ``beyond`` more tasks now
        (stuck ones take none). Called once per task: it stops as soon as it knows."""
        if role in self.down:
            return False
        room = 0
        for slot in self._slots.get(role, {}).values():
            if not slot.stuck:
                room += slot.capacity - len(slot.inflight)
                if room > beyond:
                    return True
        return False

    def inflight_total(self) -> int:
        """Tasks held by all live slots."""
        return sum(len(s.inflight) for slots in self._slots.values() for s in slots.values())


def _load(slot: Slot, avoid: Slot | None) -> tuple[bool, int]:
    return (slot is avoid, len(slot.inflight))
