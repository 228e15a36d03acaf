"""The fake agents of ``fakes`` as ``async def`` agents, for roles on an event loop.

Each follows the same plan (``input["plan"][stage]``), except ``hang``: it awaits forever
(until its lease expires and the runtime cancels it, counted in ``CANCELLED``) instead of
blocking a thread. ``sleepy`` awaits ``input["sleep"]`` seconds (a model call's latency).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import fakes
from handoffs.messages import Task

#: (run_id, stage) of every hung task the runtime cancelled.
CANCELLED: list[tuple[str, str]] = []
#: Set when an agent starts hanging, and when a hanging one is cancelled.
HANGING = threading.Event()
WAS_CANCELLED = threading.Event()


def _peek(task: Task) -> str:
    plan = task.input.get("plan", {}).get(task.stage, [])
    n = fakes.calls(task.run_id, task.stage)
    return str(plan[n]) if n < len(plan) else "ok"


async def _run(task: Task, sync_agent: Any) -> Any:
    if _peek(task) == "hang":
        fakes._step(task)
        HANGING.set()
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            CANCELLED.append((task.run_id, task.stage))
            WAS_CANCELLED.set()
            raise
    seconds = float(task.input.get("sleep", 0))
    if seconds:
        await asyncio.sleep(seconds)
    return sync_agent(task)


async def research(task: Task) -> Any:
    return await _run(task, fakes.research)


async def write(task: Task) -> Any:
    return await _run(task, fakes.write)


async def review(task: Task) -> Any:
    return await _run(task, fakes.review)


async def publish(task: Task) -> Any:
    return await _run(task, fakes.publish)


async def support(task: Task) -> Any:
    return await _run(task, fakes.support)


async def faq(task: Task) -> Any:
    return await _run(task, fakes.faq)


async def code(task: Task) -> Any:
    return await _run(task, fakes.code)
