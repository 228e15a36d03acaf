"""Exceptions an agent raises to tell the runtime what its failure means.

Any other exception is a task failure, retried with backoff up to the stage's
``max_attempts``. These two say more::

    AgentSignal
    ├── OutputInvalid    the output cannot be made valid as it is: the stage runs again with
    │                    ``Feedback(source="validator")`` naming the field, like a contract
    │                    violation found by the runtime (bounded by ``max_attempts``)
    └── Unrecoverable    retrying cannot help (a wrong API key, an unknown model): no more
                         attempts, the run escalates at once (reason ``unrecoverable``) with
                         the message

``handoffs.llm`` raises subclasses of both.
"""

from __future__ import annotations

__all__ = ["AgentSignal", "OutputInvalid", "Unrecoverable"]


class AgentSignal(Exception):
    """Root of the exceptions an agent raises on purpose."""


class OutputInvalid(AgentSignal):
    """The agent's output is invalid; ``field`` is its JSON path (``$.sources[0].url``)."""

    def __init__(self, issue: str, *, field: str | None = None) -> None:
        super().__init__(issue if field is None else f"{issue} (at {field})")
        self.issue = issue
        self.field = field


class Unrecoverable(AgentSignal):
    """Retrying the task cannot succeed: escalate its run now, with this message."""
