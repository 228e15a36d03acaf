"""(f) AutoGen core on the bench work.

A ``SingleThreadedAgentRuntime`` with four ``RoutedAgent`` types, each subscribed to its own
topic; a stage publishes the run to the next stage's topic (AutoGen's fire-and-forget
``tell``). ``window`` runs in flight, all on one event loop. Imported only when AutoGen is
installed: its message handlers resolve their type hints from this module's globals.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from typing import Any

from autogen_core import (
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    TopicId,
    TypeSubscription,
    message_handler,
)

from bench import work
from bench.peers import require, stage_on_builtins
from bench.timing import Trace, summarize

__all__ = ["AutogenHop", "run"]


@dataclass
class AutogenHop:
    """The message the agents pass along: the run's topic, its trace, the last output."""

    topic: str
    trace: list[float]
    output: Any = None


class _Stage(RoutedAgent):
    """Runs one stage and publishes the run to the next stage's topic."""

    def __init__(self, stage: str, nxt: str | None, finish: Any) -> None:
        super().__init__(f"bench stage {stage}")
        self._stage = stage
        self._next = nxt
        self._finish = finish

    @message_handler
    async def on_hop(self, message: AutogenHop, ctx: MessageContext) -> None:
        message.output = stage_on_builtins(self._stage, message.output, message.topic)
        message.trace.append(time.time())
        if self._next is None:
            self._finish(message.trace)
        else:
            await self.publish_message(message, TopicId(self._next, "default"))


def run(params: dict[str, Any]) -> dict[str, Any]:
    """``window`` runs in flight through the four agents for ``warmup + duration`` seconds."""
    require("autogen")
    return asyncio.run(_run(params))


async def _run(params: dict[str, Any]) -> dict[str, Any]:
    finished: list[tuple[float, Trace]] = []
    slots = asyncio.Semaphore(params["window"])
    all_done = asyncio.Event()
    counts = {"started": 0, "ended": 0, "stopping": 0}

    def finish(trace: Trace) -> None:
        finished.append((trace[-1], tuple(trace)))
        counts["ended"] += 1
        slots.release()
        if counts["stopping"] and counts["ended"] == counts["started"]:
            all_done.set()

    runtime = SingleThreadedAgentRuntime()
    stages = work.STAGES
    for index, stage in enumerate(stages):
        nxt = stages[index + 1] if index + 1 < len(stages) else None
        await _Stage.register(runtime, stage, functools.partial(_Stage, stage, nxt, finish))
        await runtime.add_subscription(TypeSubscription(topic_type=stage, agent_type=stage))
    runtime.start()
    t_warm = time.time() + params["warmup"]
    t_stop = t_warm + params["duration"]
    first = TopicId(stages[0], "default")
    while time.time() < t_stop:
        await slots.acquire()
        i = counts["started"]
        counts["started"] += 1
        await runtime.publish_message(AutogenHop(f"topic {i}", [time.time()]), first)
    counts["stopping"] = 1
    if counts["ended"] < counts["started"]:
        await asyncio.wait_for(all_done.wait(), 60)
    await runtime.stop()
    result = summarize(finished, (t_warm, t_stop))
    result["extra"] = {}
    return result
