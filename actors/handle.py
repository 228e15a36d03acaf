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

    __slots__ = ("cancels", "capacity", "ref", "send", "withdraw")

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
        #: ``send(perform)`` hands the actor a task; raises ``pykka.ActorDeadError`` when the
        #: actor is gone (its ``ActorExited`` is on the way). A plain attribute, not a
        #: method: it is called once per task.
        self.send = send
        #: ``withdraw((task_id, attempt))``: the attempt is no longer wanted; skipped if not
        #: started, cancelled if it can be.
        self.withdraw = withdraw
