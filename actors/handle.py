"""How the orchestrator reaches an agent actor: send a task, withdraw one, how many at once.

A sync agent actor runs one task at a time on its thread; it holds up to ``prefetch`` in its
mailbox so it never idles waiting for the orchestrator. An async agent actor runs up to the
role's ``concurrency`` tasks at once on its event loop, and a withdrawn task is cancelled
there, so its slot is free at once (a hung thread cannot be cancelled: its slot stays taken
until it answers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pykka

__all__ = ["AgentHandle", "TaskKey"]

#: (task_id, attempt): one attempt of one task.
TaskKey = tuple[str, int]


class AgentHandle:
    """The orchestrator's side of one agent actor. Called on the orchestrator's thread."""

    __slots__ = ("_send", "_withdraw", "cancels", "capacity", "ref")

    def __init__(
        self,
        ref: pykka.ActorRef[Any],
        *,
        capacity: int,
        cancels: bool,
        send: Callable[[Any], None],
        withdraw: Callable[[TaskKey], None],
    ) -> None:
        self.ref = ref
        #: Tasks the actor may hold at once.
        self.capacity = capacity
        #: Whether a withdrawn task stops at once (asyncio cancellation), freeing its room.
        self.cancels = cancels
        self._send = send
        self._withdraw = withdraw

    def send(self, message: Any) -> None:
        """Hand the actor a ``Perform``.

        Raises:
            pykka.ActorDeadError: the actor is gone (its ``ActorExited`` is on the way).
        """
        self._send(message)

    def withdraw(self, key: TaskKey) -> None:
        """The attempt is no longer wanted: skip it if not started, cancel it if it can be."""
        self._withdraw(key)
