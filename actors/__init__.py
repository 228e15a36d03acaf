"""The actors: agent pools, the orchestrator, the supervisor, and what they tell each other."""

from handoffs.actors.agent import AgentActor, AgentFactory, is_async_agent, make_agent_factory
from handoffs.actors.async_agent import AsyncAgentActor
from handoffs.actors.checks import (
    MAX_TAGS,
    ValidOutput,
    check_gates,
    check_tags,
    effective_quality,
    validate_output,
)
from handoffs.actors.dispatch import Dispatcher, Slot
from handoffs.actors.errors import (
    EscalationNotFound,
    EscalationResolved,
    IdempotencyConflict,
    InvalidInput,
    RoleNotFound,
    RunFinished,
    RunNotFound,
    RuntimeClosed,
    RuntimeFault,
    RuntimeStopped,
    StoreUnavailable,
    UnknownPipeline,
)
from handoffs.actors.handle import AgentHandle
from handoffs.actors.knowledge import Found, Knowledge
from handoffs.actors.metrics import RuntimeMetrics
from handoffs.actors.orchestrator import Orchestrator, OrchestratorStatistics, render_instruction
from handoffs.actors.pipelines import Pipelines, Stage, config_problems
from handoffs.actors.signals import AgentSignal, OutputInvalid, Unrecoverable
from handoffs.actors.supervisor import ChildSpec, RoleHealth, Supervisor, SupervisorStatistics
from handoffs.actors.timers import Timers
from handoffs.actors.waiters import RunWaiters
from handoffs.actors.work import AgentContext

__all__ = [
    "MAX_TAGS",
    "AgentActor",
    "AgentContext",
    "AgentFactory",
    "AgentHandle",
    "AgentSignal",
    "AsyncAgentActor",
    "ChildSpec",
    "Dispatcher",
    "EscalationNotFound",
    "EscalationResolved",
    "Found",
    "IdempotencyConflict",
    "InvalidInput",
    "Knowledge",
    "Orchestrator",
    "OrchestratorStatistics",
    "OutputInvalid",
    "Pipelines",
    "RoleHealth",
    "RoleNotFound",
    "RunFinished",
    "RunNotFound",
    "RunWaiters",
    "RuntimeClosed",
    "RuntimeFault",
    "RuntimeMetrics",
    "RuntimeStopped",
    "Slot",
    "Stage",
    "StoreUnavailable",
    "Supervisor",
    "SupervisorStatistics",
    "Timers",
    "UnknownPipeline",
    "Unrecoverable",
    "ValidOutput",
    "check_gates",
    "check_tags",
    "config_problems",
    "effective_quality",
    "is_async_agent",
    "make_agent_factory",
    "render_instruction",
    "validate_output",
]
