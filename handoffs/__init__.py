"""handoffs: AI agents hand work to each other through structured, validated, durable handoffs.

The public API: open a :class:`Runtime` on a config and a data directory, submit runs, wait
for them, resolve escalations. Agents are plain callables taking a :class:`Task` and
returning their stage's contract (or a :class:`Result` with quality markers).

Every error the API raises is a :class:`HandoffsError`, and either a :class:`CallerError`
(the caller's fault: fix the call) or a :class:`RuntimeFault` (the runtime could not do a
valid call; it may succeed later). The tree::

    HandoffsError
    ├── CallerError
    │   ├── UnknownPipeline, InvalidInput (names the path), IdempotencyConflict
    │   ├── RunNotFound, RunFinished, EscalationNotFound, EscalationResolved, RoleNotFound
    │   ├── RuntimeClosed                   this program closed the runtime
    │   ├── ConfigError, ContractError      (also MessagesError)
    │   └── StorePathError, StoreClosed, InvalidKey               (also StoreError)
    └── RuntimeFault
        ├── StoreUnavailable                the store refuses writes now; nothing was done
        ├── RuntimeTimeout                  no answer in time (also a TimeoutError)
        ├── RuntimeStopped                  the orchestrator stopped by itself; reopen the runtime
        ├── InternalError                   a bug of ours; the original is its __cause__
        └── StoreLocked, StoreFull, StoreCorrupt, StoreIOError    (also StoreError)
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
    RuntimeStopped,
    StoreUnavailable,
    UnknownPipeline,
    Unrecoverable,
)
from handoffs.actors.errors import InternalError, RuntimeTimeout
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
from handoffs.messages.errors import CallerError, HandoffsError
from handoffs.runtime import Runtime, RuntimeStatistics, Submitted
from handoffs.store import StoreError, StoreOptions, StorePathError
from handoffs.store_view import StoreView

__all__ = [
    "CallerError",
    "ConfigError",
    "ContractRegistry",
    "Escalation",
    "EscalationNotFound",
    "EscalationResolved",
    "Feedback",
    "Handoff",
    "HandoffsError",
    "IdempotencyConflict",
    "InternalError",
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
    "RuntimeStopped",
    "RuntimeTimeout",
    "StoreError",
    "StoreOptions",
    "StorePathError",
    "StoreUnavailable",
    "StoreView",
    "Submitted",
    "Task",
    "UnknownPipeline",
    "Unrecoverable",
    "Verdict",
    "check_config",
    "load_config",
]
