"""What a task carries: upstream outputs found by contract type (agents do not hard-code stage
names) and required run-input fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import msgspec
from handoffs.messages import Task

__all__ = ["MissingInputError", "previous", "run_input", "upstream"]

_T = TypeVar("_T", bound=msgspec.Struct)


class MissingInputError(ValueError):
    """A task lacks an upstream output (or run input) its agent needs."""


def upstream(task: Task, contract: type[_T]) -> _T:
    """The upstream output of type ``contract`` in ``task.inputs`` (not the stage's own).

    Raises:
        MissingInputError: no upstream output has that type; the message lists what there is.
    """
    for stage, value in task.inputs.items():
        if stage != task.stage and isinstance(value, contract):
            return value
    for stage, value in task.inputs.items():
        # Tolerate inputs handed over as plain mappings (e.g. decoded from JSON).
        if stage != task.stage and isinstance(value, Mapping):
            try:
                return msgspec.convert(value, contract)
            except msgspec.ValidationError:
                continue
    have = ", ".join(f"{k}: {type(v).__name__}" for k, v in task.inputs.items()) or "nothing"
    raise MissingInputError(
        f"stage {task.stage!r} needs an upstream {contract.__name__}; its inputs hold {have}"
    )


def previous(task: Task, contract: type[_T]) -> _T | None:
    """This stage's own previous output, when the task carries it (a revision)."""
    value = task.inputs.get(task.stage)
    return value if isinstance(value, contract) else None


def run_input(task: Task, key: str) -> str:
    """The run input's non-empty string field ``key``, stripped.

    Raises:
        MissingInputError: the field is missing, empty or not a string.
    """
    value = task.input.get(key)
    if not isinstance(value, str) or not value.strip():
        raise MissingInputError(
            f"run input field {key!r} must be a non-empty string, got {value!r}"
        )
    return value.strip()
