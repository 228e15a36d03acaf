"""The pipeline spec: roles, pipelines and stages as decoded from a TOML config.

These types come from outside (a config file), so unknown keys are errors: a misspelt
``max_revison`` must not silently mean "the default". They are never persisted.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from handoffs.messages.ids import Name
from handoffs.messages.quality import Fraction, Text

__all__ = [
    "Config",
    "Executor",
    "GateSpec",
    "Join",
    "JoinQuorum",
    "LLMSpec",
    "PipelineSpec",
    "RaySpec",
    "RestartPolicy",
    "RoleSpec",
    "StageSpec",
    "StoreSpec",
    "TriggerSpec",
]

RestartPolicy = Literal["permanent", "transient", "temporary"]
#: Where a role's agents run: threads or an event loop here, or Ray actors (``RaySpec``).
Executor = Literal["local", "ray"]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
#: An age or a period: a number and a unit, ``45s``, ``30m``, ``12h``, ``30d``
#: (``handoffs.store.parse_duration`` reads it).
Duration = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]+)?[smhd]$")]


class GateSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Quality gates: an output that fails one goes back to its stage as a revision."""

    min_confidence: Fraction | None = None
    min_completeness: Fraction | None = None
    min_sources: Annotated[int, msgspec.Meta(ge=0)] | None = None
    require_tests_passed: bool = False
    require_sources_verified: bool = False


class JoinQuorum(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A join that starts once ``quorum`` of its inbound branches arrived."""

    quorum: Annotated[int, msgspec.Meta(ge=1, le=1000)]


#: How a stage with several inbound branches waits: for all of them, the first, or a quorum.
Join = Literal["all", "any"] | JoinQuorum


class StageSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One stage: who runs it, what it must produce, and where its output goes.

    ``next`` may name several stages: all of them start once the output is accepted (static
    fan-out, one branch each). A stage with ``join`` waits for the branches that reach it;
    a stage with ``for_each = "stage.field"`` runs once per item of that list field of an
    upstream output (map fan-out, at most ``max_items``), and so does every stage after it
    up to the join.
    """

    role: Name
    output: Name
    instruction: Text = ""
    next: Name | Annotated[list[Name], msgspec.Meta(min_length=1, max_length=64)] | None = None
    join: Join | None = None
    for_each: (
        Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}\.[A-Za-z_][A-Za-z0-9_]{0,63}$")]
        | None
    ) = None
    max_items: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100
    on_reject: Name | None = None
    max_revisions: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 3
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 3
    timeout: Seconds | None = None
    #: Seconds a task may wait for a free agent before its run escalates (``queue_timeout``);
    #: ``None``: it waits as long as it takes.
    queue_timeout: Seconds | None = None
    retry_backoff: Annotated[float, msgspec.Meta(ge=0)] = 0.05
    gates: GateSpec = GateSpec()
    tags: list[Name] = []
    #: The largest output (encoded) the stage accepts; a larger one goes back to the
    #: stage with validator feedback, like any invalid output.
    max_output_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1 << 20


class TriggerSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Start a run of this pipeline when an artifact of ``kind`` is committed with ``when`` true."""

    kind: Name
    when: Name


class PipelineSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Named stages, a start stage, and optionally a trigger."""

    start: Name
    stages: dict[Name, StageSpec]
    description: Text = ""
    trigger: TriggerSpec | None = None
    #: Stages renamed since runs started (old name -> new name): runs in flight at an old
    #: stage move to the new one when the runtime opens (``handoffs.evolution``).
    renamed: dict[Name, Name] = {}


class LLMSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A role whose agent is a model behind an OpenAI-compatible endpoint (``[roles.X.llm]``).

    The key is never in the file: ``api_key_env`` names the variable that holds it.
    """

    model: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    #: The endpoint, e.g. ``http://127.0.0.1:8000/v1``; ``None``: ``$OPENAI_BASE_URL``, else
    #: the SDK's default.
    base_url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    api_key_env: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")] = (
        "OPENAI_API_KEY"
    )
    system: Text | None = None
    #: The user message template (placeholders documented in ``handoffs.llm.prompt``).
    prompt: Text | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    seed: int | None = None
    extra_body: dict[str, Any] = {}
    structured: Literal["json_schema", "json_object", "tools"] = "json_schema"
    #: Seconds per HTTP request.
    timeout: Seconds = 60.0
    #: Retries of one call after a 429, a 5xx or a connection error (then the task fails).
    max_retries: Annotated[int, msgspec.Meta(ge=0, le=100)] = 4
    #: First retry delay in seconds (doubles, with jitter; a ``Retry-After`` wins).
    retry_backoff: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    max_retry_delay: Annotated[float, msgspec.Meta(ge=0)] = 30.0


class RaySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where and how a role on Ray runs its agents: one Ray actor per unit of concurrency
    (a sync agent), or one Ray actor running ``concurrency`` tasks on its event loop (async).

    ``address`` is what ``ray.init`` connects to: ``"auto"`` (a running cluster, or
    ``RAY_ADDRESS``), ``"local"`` (start one in this process), ``"ray://HOST:PORT"`` or
    ``"HOST:PORT"``. ``num_cpus`` and ``num_gpus`` are each Ray actor's resources;
    ``runtime_env`` is Ray's (``pip``, ``env_vars``, ``working_dir``, ...). An actor that
    has not started after ``start_timeout`` seconds (no node has its resources) has crashed.
    """

    address: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] = "auto"
    num_cpus: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    num_gpus: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    runtime_env: dict[str, Any] = {}
    start_timeout: Seconds = 300.0


class RoleSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An agent pool: the agent (an import path, or a model) and how the supervisor treats
    its actors. ``concurrency`` is threads for a sync agent, tasks in flight on the role's
    event loop for an async or LLM agent. ``executor = "ray"`` runs them on Ray actors
    instead (``ray``: where and with what resources)."""

    agent: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    llm: LLMSpec | None = None
    concurrency: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    restart: RestartPolicy = "permanent"
    max_restarts: Annotated[int, msgspec.Meta(ge=0)] = 5
    period: Seconds = 10.0
    restart_backoff: Annotated[float, msgspec.Meta(ge=0)] = 0.01
    executor: Executor = "local"
    ray: RaySpec | None = None


class StoreSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Knowledge-base settings (see ``handoffs.store.StoreOptions``)."""

    map_size: Annotated[int, msgspec.Meta(ge=1 << 20)] = 64 << 20
    max_map_size: Annotated[int, msgspec.Meta(ge=1 << 20)] = 64 << 30
    sync: bool = True
    #: Retention (``None``: kept for ever): completed runs, failed and cancelled runs, and
    #: the journal (``None``: the shorter of the two run ages). Escalated and running runs
    #: are always kept. The runtime prunes every ``retention_every`` in small transactions.
    retain_completed: Duration | None = None
    retain_failed: Duration | None = None
    retain_journal: Duration | None = None
    retention_every: Duration = "10m"


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A whole runtime config: roles, pipelines, user contracts by import path, store options."""

    roles: dict[Name, RoleSpec] = {}
    pipelines: dict[Name, PipelineSpec] = {}
    contracts: dict[Name, Annotated[str, msgspec.Meta(max_length=300)]] = {}
    store: StoreSpec = StoreSpec()
