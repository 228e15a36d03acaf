"""(f) AutoGen core on the bench work.

A ``SingleThreadedAgentRuntime`` with four ``RoutedAgent`` types, each subscribed to its own
topic; a stage publishes the run to the next stage's topic (AutoGen's fire-and-forget
``tell``). ``window`` runs in flight, all on one event loop. Imported only when AutoGen is
installed: its message handlers resolve their type hints from this module's globals.

(g) is the same with ``stage_seconds``: each handler first awaits ``asyncio.sleep`` (the
runtime runs every delivered message as a task of its own, so the waits overlap), and the
runs still in flight at the stop are dropped at their next stage, not waited for.
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
from bench.footprint import in_flight_figures
from bench.peers import require, stage_on_builtins
from bench.timing import AsyncWindow, Trace

__all__ = ["AutogenHop", "run"]


@dataclass
class AutogenHop:
    """The message the agents pass along: the run's topic, its trace, the last output."""

    topic: str
    trace: list[float]
    output: Any = None


class _Stage(RoutedAgent):
    """Runs one stage and publishes the run to the next stage's topic."""

    def __init__(
        self, stage: str, nxt: str | None, finish: Any, wait: float, halt: asyncio.Event
    ) -> None:
        super().__init__(f"bench stage {stage}")
        self._stage = stage
        self._next = nxt
        self._finish = finish
        self._wait = wait
        self._halt = halt

    @message_handler
    async def on_hop(self, message: AutogenHop, ctx: MessageContext) -> None:
        if self._wait:
            await asyncio.sleep(self._wait)
        if self._halt.is_set():
            return  # measured and stopped: drop the run here (cancelling logs every task)
        message.output = stage_on_builtins(self._stage, message.output, message.topic)
        message.trace.append(time.time())
        if self._next is None:
            self._finish(message.trace)
        else:
            await self.publish_message(message, TopicId(self._next, "default"))


def run(params: dict[str, Any]) -> dict[str, Any]:
    """``window`` runs in flight through the four agents for ``warmup + duration`` seconds
    (with ``in_flight`` and ``stage_seconds``: scenario g)."""
    require("autogen")
    return asyncio.run(_run(params))


async def _run(params: dict[str, Any]) -> dict[str, Any]:
    wait: float = params.get("stage_seconds", 0.0)
    in_flight: int | None = params.get("in_flight")
    windows: list[AsyncWindow] = []
    halt = asyncio.Event()

    def finish(trace: Trace) -> None:
        windows[0].finish(trace)

    runtime = SingleThreadedAgentRuntime()
    stages = work.STAGES
    for index, stage in enumerate(stages):
        nxt = stages[index + 1] if index + 1 < len(stages) else None
        factory = functools.partial(_Stage, stage, nxt, finish, wait, halt)
        await _Stage.register(runtime, stage, factory)
        await runtime.add_subscription(TypeSubscription(topic_type=stage, agent_type=stage))
    runtime.start()
    first = TopicId(stages[0], "default")

    async def start(i: int) -> None:
        await runtime.publish_message(AutogenHop(f"topic {i}", [time.time()]), first)

    io_bound = in_flight is not None
    windows.append(AsyncWindow(start, window=params["window"], ramp=4 * wait,
                               footprint=io_bound, drain=not io_bound))  # fmt: skip
    result = await windows[0].run(warmup=params["warmup"], duration=params["duration"])
    halt.set()
    await runtime.stop_when_idle()
    result["extra"] = {}
    if in_flight is not None:
        in_flight_figures(result, in_flight, wait)
    return result
