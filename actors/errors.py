"""Errors raised by ``handoffs.actors`` and the runtime facade.

The tree::

    RuntimeFault
    ├── UnknownPipeline        submit() named a pipeline the config does not have
    ├── InvalidInput           submit() was given an input that cannot be stored
    ├── IdempotencyConflict    an idempotency key was reused with a different request
    ├── EscalationNotFound     resolve() named an escalation that does not exist
    ├── EscalationResolved     resolve() on an escalation a person already resolved
    ├── RoleNotFound           a role name the config does not have
    ├── RunNotFound            cancel() named a run that does not exist
    ├── RunFinished            cancel() on a run that already ended (completed, failed, ...)
    ├── StoreUnavailable       the store cannot take writes now (full map, disk full, I/O
    │                          errors): nothing was done; the runtime retries by itself
    └── RuntimeClosed          the runtime is closed or closing
"""

from __future__ import annotations

__all__ = [
    "EscalationNotFound",
    "EscalationResolved",
    "IdempotencyConflict",
    "InvalidInput",
    "RoleNotFound",
    "RunFinished",
    "RunNotFound",
    "RuntimeClosed",
    "RuntimeFault",
    "StoreUnavailable",
    "UnknownPipeline",
]


class RuntimeFault(Exception):
    """Root of the errors the runtime raises to its callers."""


class UnknownPipeline(RuntimeFault):
    """The pipeline is not in the config."""

    def __init__(self, pipeline: str, known: list[str]) -> None:
        super().__init__(f"unknown pipeline {pipeline!r} (known: {', '.join(sorted(known))})")
        self.pipeline = pipeline


class InvalidInput(RuntimeFault):
    """A run input that is not a JSON-like object with string keys, or is too large."""


class IdempotencyConflict(RuntimeFault):
    """The idempotency key already names a run made from a different request."""

    def __init__(self, key: str, run_id: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was used for run {run_id} with a different request"
        )
        self.key = key
        self.run_id = run_id


class EscalationNotFound(RuntimeFault):
    """No escalation has this id."""

    def __init__(self, escalation_id: str) -> None:
        super().__init__(f"no escalation {escalation_id!r}")
        self.escalation_id = escalation_id


class EscalationResolved(RuntimeFault):
    """The escalation was already resolved; a second decision is refused, not applied."""

    def __init__(self, escalation_id: str, action: str) -> None:
        super().__init__(f"escalation {escalation_id} is already resolved ({action})")
        self.escalation_id = escalation_id
        self.action = action


class RoleNotFound(RuntimeFault):
    """The role is not in the config."""


class RuntimeClosed(RuntimeFault):
    """The runtime is closed or closing."""


class RunNotFound(RuntimeFault):
    """No run has this id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run {run_id!r}")
        self.run_id = run_id


class RunFinished(RuntimeFault):
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
