"""Which agent actor gets which task: per-role slots, a bounded prefetch, a waiting queue.

Owned by the orchestrator and used only on its thread. Each slot is one agent actor; a slot
takes up to ``prefetch`` tasks at once (so agents never idle waiting for the orchestrator),
the rest wait here, in order, not in a mailbox a crash would empty.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import pykka

__all__ = ["Dispatcher", "Slot"]


class Slot:
    """One agent actor and the (task_id, attempt) pairs it holds."""

    __slots__ = ("index", "inflight", "name", "ref", "role")

    def __init__(self, role: str, index: int, ref: pykka.ActorRef[Any], name: str) -> None:
        self.role = role
        self.index = index
        self.ref = ref
        self.name = name
        self.inflight: set[tuple[str, int]] = set()


class Dispatcher:
    """Slots per role, and per role the task ids waiting for a free slot."""

    def __init__(self, prefetch: int) -> None:
        self.prefetch = prefetch
        self._slots: dict[str, dict[int, Slot]] = {}
        self._waiting: dict[str, deque[str]] = {}
        self.down: set[str] = set()

    def add(self, role: str, index: int, ref: pykka.ActorRef[Any], name: str) -> Slot:
        """A (re)started actor takes the slot ``index`` of ``role``."""
        slot = Slot(role, index, ref, name)
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
            if len(slot.inflight) >= self.prefetch:
                continue
            if best is None or _load(slot, avoid) < _load(best, avoid):
                best = slot
        return best

    def enqueue(self, role: str, task_id: str, *, front: bool = False) -> None:
        """``task_id`` waits for a slot of ``role``."""
        queue = self._waiting.setdefault(role, deque())
        if front:
            queue.appendleft(task_id)
        else:
            queue.append(task_id)

    def waiting(self, role: str) -> deque[str]:
        """The queue of ``role`` (the caller pops what it dispatches)."""
        return self._waiting.setdefault(role, deque())

    def roles(self) -> Iterator[str]:
        """Every role that has slots or waiting tasks."""
        return iter(set(self._slots) | set(self._waiting))

    def inflight_total(self) -> int:
        """Tasks held by all live slots."""
        return sum(len(s.inflight) for slots in self._slots.values() for s in slots.values())


def _load(slot: Slot, avoid: Slot | None) -> tuple[bool, int]:
    return (slot is avoid, len(slot.inflight))
