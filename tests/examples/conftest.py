"""Fixtures for the example agents: hand-built tasks, no runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from handoffs.messages import Feedback, Result, Task


@pytest.fixture
def make_task() -> Callable[..., Task]:
    """Build the Task an agent would receive for ``stage``."""

    def make(
        stage: str,
        input: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        feedback: list[Feedback] | None = None,
        revision: int = 0,
    ) -> Task:
        return Task(
            task_id="task-00000000000000000000000a",
            run_id="run-00000000000000000000000a",
            pipeline="test",
            stage=stage,
            instruction=f"do the {stage} stage",
            input=input or {},
            inputs=inputs or {},
            feedback=feedback or [],
            revision=revision,
        )

    return make


@pytest.fixture
def output() -> Callable[[object], Any]:
    """Unwrap an agent's return value (a contract instance or a Result), checking it would
    pass the runtime's validation: it round-trips through msgpack into its own type."""

    def unwrap(value: object) -> Any:
        out = value.output if isinstance(value, Result) else value
        assert isinstance(out, msgspec.Struct)
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(out), type=type(out)) == out
        return out

    return unwrap
