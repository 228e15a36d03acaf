"""Agents that start spans of their own, as an agent's model or HTTP client would, and keep
the trace context their tasks carried (tests/test_tracing.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from handoffs.messages import Draft, Task
from opentelemetry import trace

log = logging.getLogger("an-agent")

#: (task id, attempt) -> the trace context the agent received.
received: dict[tuple[str, int], dict[str, str]] = {}


def write(task: Task) -> Any:
    received[task.task_id, task.attempt] = dict(task.trace_context)
    log.info("calling the model")
    with trace.get_tracer("an-agent").start_as_current_span("model call"):
        if task.input.get("fail") and task.attempt == 1:
            raise RuntimeError("the model timed out")
        return Draft(title=f"about {task.input['topic']}", body="text")


async def write_async(task: Task) -> Any:
    received[task.task_id, task.attempt] = dict(task.trace_context)
    log.info("calling the model")
    with trace.get_tracer("an-agent").start_as_current_span("model call"):
        await asyncio.sleep(0)
        return Draft(title=f"about {task.input['topic']}", body="text")
