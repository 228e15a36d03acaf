"""Agents for the Ray tests, and the gate they meet the test at.

They run in Ray worker processes, so they coordinate with the test through a named Ray
actor (``Gate``), not through this process's memory: an agent says it started (with its own
Ray actor's handle, for the test to kill), and waits there until the test lets it go.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import ray
from handoffs.messages import Draft, Task


@ray.remote(num_cpus=0)
class Gate:
    """Where agents and the test meet: who started, what was cancelled, when to go on."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.actors: list[Any] = []
        self.cancelled: list[str] = []
        self._arrived = asyncio.Event()
        self._cancelled = asyncio.Event()
        self._released = asyncio.Event()

    async def arrive(self, task_id: str, actor: Any) -> int:
        """An agent started ``task_id``: how many times it has, counting this one."""
        self.calls[task_id] += 1
        self.actors.append(actor)
        self._arrived.set()
        return self.calls[task_id]

    async def wait_arrived(self) -> list[Any]:
        await self._arrived.wait()
        return self.actors

    async def wait_released(self) -> None:
        await self._released.wait()

    async def release(self) -> None:
        self._released.set()

    async def cancel_seen(self, task_id: str) -> None:
        self.cancelled.append(task_id)
        self._cancelled.set()

    async def wait_cancelled(self) -> list[str]:
        await self._cancelled.wait()
        return self.cancelled

    async def seen(self) -> tuple[dict[str, int], list[str]]:
        return dict(self.calls), self.cancelled


def _draft(task: Task) -> Draft:
    return Draft(title=f"On {task.input.get('topic', 'it')}", body="A body.", citations=[])


def hold_first(task: Task) -> Draft:
    """Blocks on its first call of a task until the gate is released (or its actor is
    killed); every later call answers at once."""
    gate = ray.get_actor(task.input["gate"])
    me = ray.get_runtime_context().current_actor
    if ray.get(gate.arrive.remote(task.task_id, me)) == 1:
        ray.get(gate.wait_released.remote())
    return _draft(task)


def die(task: Task) -> Draft:
    """The Ray actor's process exits: a Ray actor that keeps dying."""
    os._exit(1)


async def hang_first(task: Task) -> Draft:
    """On its event loop: hangs on the first attempt until cancelled (a lease expiry's
    ``ray.cancel``); the retry answers."""
    gate = ray.get_actor(task.input["gate"])
    if task.attempt == 1:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await gate.cancel_seen.remote(task.task_id)
            raise
    return _draft(task)


def takes_kb(task: Task, kb: object) -> Draft:
    return _draft(task)
