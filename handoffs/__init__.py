"""handoffs: AI agents hand work to each other through structured, validated, durable handoffs.

The public API: open a :class:`Runtime` on a config and a data directory, submit runs, wait
for them, resolve escalations. Agents are plain callables taking a :class:`Task` and
returning their stage's contract (or a :class:`Result` with quality markers).
"""

from handoffs.actors import (
    EscalationNotFound,
    EscalationResolved,
    IdempotencyConflict,
    InvalidInput,
    Knowledge,
    OutputInvalid,
    RoleNotFound,
    RunFinished,
    RunNotFound,
    RuntimeClosed,
    RuntimeFault,
    StoreUnavailable,
    UnknownPipeline,
    Unrecoverable,
)
from handoffs.config import LoadedConfig, check_config, load_config
from handoffs.messages import (
    ConfigError,
    ContractRegistry,
    Escalation,
    Feedback,
    Handoff,
    QualityMarkers,
    Result,
    Run,
    Task,
    Verdict,
)
from handoffs.runtime import Runtime, RuntimeStatistics
from handoffs.store import StoreError, StoreOptions

__all__ = [
    "ConfigError",
    "ContractRegistry",
    "Escalation",
    "EscalationNotFound",
    "EscalationResolved",
    "Feedback",
    "Handoff",
    "IdempotencyConflict",
    "InvalidInput",
    "Knowledge",
    "LoadedConfig",
    "OutputInvalid",
    "QualityMarkers",
    "Result",
    "RoleNotFound",
    "Run",
    "RunFinished",
    "RunNotFound",
    "Runtime",
    "RuntimeClosed",
    "RuntimeFault",
    "RuntimeStatistics",
    "StoreError",
    "StoreOptions",
    "StoreUnavailable",
    "Task",
    "UnknownPipeline",
    "Unrecoverable",
    "Verdict",
    "check_config",
    "load_config",
]
