"""Errors raised by ``handoffs.llm``.

The tree::

    LLMError
    ├── SchemaUnsupported  a contract cannot be a strict JSON schema (names the field)
    ├── OutputRejected     (an OutputInvalid) the model's answer is malformed JSON or breaks
    │                      the contract (names the field): the task goes back to its stage
    │                      with validator feedback
    ├── ModelRefusal       the model refused; the refusal text is the reason (a task failure)
    ├── RequestFailed      429 / 5xx / connection errors outlasted the retries (a task failure)
    └── RequestRefused     (an Unrecoverable) the endpoint refused the request for good (400,
                           401, 403, 404, 422): not retried, the run escalates at once with
                           the server's message

None of them ever carries the API key.
"""

from __future__ import annotations

from handoffs.actors.signals import OutputInvalid, Unrecoverable

__all__ = [
    "LLMError",
    "ModelRefusal",
    "OutputRejected",
    "RequestFailed",
    "RequestRefused",
    "SchemaUnsupported",
]


class LLMError(Exception):
    """Root of the errors raised by ``handoffs.llm``."""


class SchemaUnsupported(LLMError):
    """A contract cannot be sent as a strict JSON schema. ``field`` is the path, if known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class OutputRejected(LLMError, OutputInvalid):
    """The model's output is not valid JSON or not a valid contract instance.

    ``field`` is the JSON path of the offending field (``$.sources[0].url``) when known;
    ``issue`` is what is wrong, written for the model to fix on its next attempt.
    """


class ModelRefusal(LLMError):
    """The model refused to answer; ``refusal`` is its text."""

    def __init__(self, refusal: str) -> None:
        super().__init__(f"the model refused: {refusal}")
        self.refusal = refusal


class RequestFailed(LLMError):
    """A transient failure (429, 5xx, timeout, connection) that outlasted the retries."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class RequestRefused(LLMError, Unrecoverable):
    """The endpoint refused the request (a wrong key, an unknown model, a bad schema)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
