"""Faults the test model server injects, and the queue that holds them.

A fault is a small frozen Struct; over HTTP (``POST /_faults`` with
``{"faults": [...], "model": null}``) the same thing is a JSON object tagged by ``kind``::

    {"kind": "status", "status": 429, "message": "slow down", "retry_after": 2}
    {"kind": "delay", "seconds": 1.5}              answer normally, that much later
    {"kind": "truncated"}                          the JSON answer cut in half
    {"kind": "not_json"}                           prose instead of JSON
    {"kind": "schema_violation", "how": "wrong_type"}  the first required field given a
                                                   wrong type ("missing": removed)
    {"kind": "refusal", "text": "I can't"}         ``refusal`` set, ``content`` null
    {"kind": "drop"}                               the connection closed unanswered

The queue is consumed in order, one fault per chat completion request that passed the
request checks (key, body, model, schema). A fault queued for a model waits for a request to
that model; faults behind it for other models (or any) go first.

The answers a fault spoils are built in :mod:`handoffs.testing.llm_wire`.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Annotated, Literal

import msgspec

__all__ = [
    "Delay",
    "Drop",
    "Fault",
    "FaultQueue",
    "FaultRequest",
    "NotJson",
    "Refusal",
    "SchemaViolation",
    "Status",
    "Truncated",
]


class Status(
    msgspec.Struct,
    tag="status",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Answer with an HTTP error: ``retry_after`` (seconds) becomes a ``Retry-After`` header."""

    status: Annotated[int, msgspec.Meta(ge=400, le=599)]
    message: str = ""
    retry_after: Annotated[float, msgspec.Meta(ge=0)] | None = None


class Delay(
    msgspec.Struct,
    tag="delay",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Answer normally after ``seconds`` (an asyncio sleep: other requests go on)."""

    seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)]


class Truncated(
    msgspec.Struct,
    tag="truncated",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """The answer's JSON cut in half, as when a model hits its token limit."""


class NotJson(
    msgspec.Struct,
    tag="not_json",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Prose instead of the JSON answer."""


class SchemaViolation(
    msgspec.Struct,
    tag="schema_violation",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """Valid JSON that breaks the schema: the first required field retyped or missing.

    ``missing`` is not rejected by a decoder that fills in defaults if that field has one."""

    how: Literal["wrong_type", "missing"] = "wrong_type"


class Refusal(
    msgspec.Struct,
    tag="refusal",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """The model refuses: ``message.refusal`` holds ``text``, ``content`` is null."""

    text: str = "I'm sorry, I can't help with that."


class Drop(
    msgspec.Struct,
    tag="drop",
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
    tag_field="kind",
):
    """The server closes the connection without answering."""


Fault = Status | Delay | Truncated | NotJson | SchemaViolation | Refusal | Drop


class FaultRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /_faults``."""

    faults: list[Fault]
    model: str | None = None


class FaultQueue:
    """Faults waiting for requests. Thread-safe: tests push, the server's loop pops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[tuple[str | None, Fault]] = deque()

    def push(self, faults: tuple[Fault, ...] | list[Fault], model: str | None = None) -> None:
        """Queue ``faults`` in order, for requests to ``model`` (``None``: any model)."""
        with self._lock:
            self._queue.extend((model, fault) for fault in faults)

    def pop(self, model: str) -> Fault | None:
        """The first fault for a request to ``model``, removed from the queue; else ``None``."""
        with self._lock:
            for i, (wanted, fault) in enumerate(self._queue):
                if wanted is None or wanted == model:
                    del self._queue[i]
                    return fault
        return None

    def clear(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)
