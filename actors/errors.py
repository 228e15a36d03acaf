"""Errors raised by ``handoffs.actors`` and the runtime facade.

Each is a :class:`~handoffs.messages.errors.HandoffsError`, under the root that says whose
fault it is (trio's rule). The tree::

    CallerError                the caller's fault: the same call fails the same way again
    ├── UnknownPipeline        submit() named a pipeline the config does not have
    ├── InvalidInput           submit() was given an input JSON cannot hold (names the path)
    ├── IdempotencyConflict    an idempotency key was reused with a different request
    ├── RunNotFound            wait(), cancel() named a run that does not exist
    ├── RunFinished            cancel() on a run that already ended (completed, failed, ...)
    ├── EscalationNotFound     resolve() named an escalation that does not exist
    ├── EscalationResolved     resolve() on an escalation a person already resolved
    ├── RoleNotFound           a role name the config does not have
    └── RuntimeClosed          the runtime is closed or closing (this program closed it)
    RuntimeFault               not the caller's fault: a valid call the runtime could not do
    ├── StoreUnavailable       the store cannot take writes now (full map, disk full, I/O
    │                          errors): nothing was done; the runtime retries by itself
    ├── RuntimeTimeout         no answer within the call's timeout (also a TimeoutError);
    │                          what was asked may still happen
    └── InternalError          a bug of ours: an unexpected error, chained as ``__cause__``
"""

from __future__ import annotations

from handoffs.messages.errors import CallerError, RuntimeFault

__all__ = [
    "EscalationNotFound",
    "EscalationResolved",
    "IdempotencyConflict",
    "InternalError",
    "InvalidInput",
    "RoleNotFound",
    "RunFinished",
    "RunNotFound",
    "RuntimeClosed",
    "RuntimeFault",
    "RuntimeStopped",
    "RuntimeTimeout",
    "StoreUnavailable",
    "UnknownPipeline",
]


class UnknownPipeline(CallerError):
    """The pipeline is not in the config."""

    def __init__(self, pipeline: str, known: list[str]) -> None:
        super().__init__(f"unknown pipeline {pipeline!r} (known: {', '.join(sorted(known))})")
        self.pipeline = pipeline


class InvalidInput(CallerError):
    """A run input JSON cannot hold (a set, bytes, a datetime, NaN, a key that is not a
    string, nesting too deep) or one too large. ``path`` is where, as ``$.items[2]``."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class IdempotencyConflict(CallerError):
    """The idempotency key already names a run made from a different request."""

    def __init__(self, key: str, run_id: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was used for run {run_id} with a different request"
        )
        self.key = key
        self.run_id = run_id


class EscalationNotFound(CallerError):
    """No escalation has this id."""

    def __init__(self, escalation_id: str) -> None:
        super().__init__(f"no escalation {escalation_id!r}")
        self.escalation_id = escalation_id


class EscalationResolved(CallerError):
    """The escalation was already resolved; a second decision is refused, not applied."""

    def __init__(self, escalation_id: str, action: str) -> None:
        super().__init__(f"escalation {escalation_id} is already resolved ({action})")
        self.escalation_id = escalation_id
        self.action = action


class RoleNotFound(CallerError):
    """The role is not in the config."""


class RuntimeClosed(CallerError):
    """The runtime is closed or closing."""


class RuntimeStopped(RuntimeFault):
    """The runtime's orchestrator stopped by itself (``health()`` says why): nothing more is
    decided or committed until the runtime is opened again."""


class RunNotFound(CallerError):
    """No run has this id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r}")
        self.run_id = run_id


class RunFinished(CallerError):
    """The run already ended; it cannot be cancelled."""

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(f"run {run_id} already ended ({state})")
        self.run_id = run_id
        self.state = state


class StoreUnavailable(RuntimeFault):
    """The store refuses writes (its map at ``max_map_size``, the disk full, I/O errors).

    Nothing of the request was done. The runtime stops dispatching, keeps what is queued,
    retries with backoff and resumes by itself when room appears; ``reason`` says why
    (``"disk full"`` for ENOSPC).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"the store cannot take writes: {reason}")
        self.reason = reason


class RuntimeTimeout(RuntimeFault, TimeoutError):
    """The runtime did not answer within the call's ``timeout``. What was asked may still
    happen (a submit may yet commit: retry with the same idempotency key)."""

    def __init__(self, call: str, timeout: float) -> None:
        super().__init__(f"{call}: no answer from the runtime within {timeout:g} s")
        self.call = call
        self.timeout = timeout


class InternalError(RuntimeFault):
    """A bug of ours: the runtime failed in a way it does not expect. The original error is
    the ``__cause__``; please report it."""
