"""Pipelines compiled from a config: stage specs with their contract types, checked as a graph.

Checks (each problem names the key): every stage's role exists, every contract is registered,
every ``next`` / ``on_reject`` names a stage of the same pipeline, a review (``Verdict``)
stage has ``on_reject``, every stage is reachable from ``start``, ``next`` edges form no
cycle (so every loop passes through an ``on_reject`` edge, bounded by ``max_revisions``), and
every instruction is a format string whose replacement fields are plain names (``{topic}``):
an index, attribute, format spec or conversion could fail on the run's input at run time.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping

import msgspec
from handoffs.actors.topology import Shape, targets
from handoffs.messages import (
    Config,
    ConfigError,
    ContractError,
    ContractRegistry,
    PipelineSpec,
    StageSpec,
    TriggerSpec,
    Verdict,
)

__all__ = ["HUMAN", "Pipelines", "Stage", "config_problems", "pipeline_version"]


class Stage(msgspec.Struct, frozen=True):
    """A stage with everything the orchestrator needs at hand."""

    pipeline: str
    name: str
    spec: StageSpec
    contract: type[msgspec.Struct]
    is_review: bool
    #: Where the accepted output goes (``next`` as a list).
    targets: tuple[str, ...] = ()
    #: The branch the stage is in (``None``: the trunk) and, in a map branch, the stage
    #: whose items it runs for (see ``topology``).
    branch: str | None = None
    mapped: str | None = None


#: The role of a stage that people review: no agent runs it; the run waits in the escalation
#: inbox (reason ``approval``) until a person approves, revises or cancels.
HUMAN = "human"


def config_problems(config: Config, registry: ContractRegistry) -> list[str]:
    """Every structural problem of ``config``, each naming its key; empty when sound."""
    problems: list[str] = []
    if HUMAN in config.roles:
        problems.append(
            f"roles.{HUMAN}: the role name {HUMAN!r} is reserved for stages people review"
        )
    for pname, pipeline in config.pipelines.items():
        at = f"pipelines.{pname}"
        if pipeline.start not in pipeline.stages:
            problems.append(f"{at}.start: no stage named {pipeline.start!r}")
        for sname, stage in pipeline.stages.items():
            sat = f"{at}.stages.{sname}"
            if stage.role == HUMAN:
                if stage.output != "Verdict":
                    problems.append(
                        f"{sat}.output: a stage people review (role {HUMAN!r}) outputs Verdict"
                    )
            elif stage.role not in config.roles:
                problems.append(f"{sat}.role: no role named {stage.role!r}")
            try:
                contract = registry.get(stage.output)
            except ContractError as exc:
                problems.append(f"{sat}.output: {exc}")
                contract = None
            edges = [("next", t) for t in targets(stage)] + [("on_reject", stage.on_reject)]
            for key, target in edges:
                if target is not None and target not in pipeline.stages:
                    problems.append(f"{sat}.{key}: no stage named {target!r} in {pname!r}")
            if contract is Verdict and stage.on_reject is None:
                problems.append(f"{sat}.on_reject: a review stage (output Verdict) needs one")
            if stage.on_reject is not None and contract is not Verdict:
                problems.append(f"{sat}.on_reject: only a review stage (output Verdict) rejects")
            problems.extend(_instruction_problems(f"{sat}.instruction", stage.instruction))
        problems.extend(_graph_problems(pname, pipeline))
        problems.extend(Shape.of(pname, pipeline, registry).problems)
        if pipeline.trigger is not None:
            problems.extend(_trigger_problems(at, pipeline.trigger, registry))
    return problems


def _instruction_problems(at: str, template: str) -> list[str]:
    """Replacement fields other than a plain ``{name}``: the instruction is filled from the
    run input, whatever its values, so anything that could raise there is refused here."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"{at}: not a valid format string ({exc})"]
    problems: list[str] = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue  # literal text only
        if field.isidentifier() and not spec and conversion is None:
            continue
        written = (
            "{"
            + field
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
        problem = (
            f"{at}: replacement field {written} is not allowed: "
            "{name} only; the run input's value is inserted as text"
        )
        if problem not in problems:
            problems.append(problem)
    return problems


def _graph_problems(pname: str, pipeline: PipelineSpec) -> list[str]:
    problems: list[str] = []
    stages = pipeline.stages
    if pipeline.start not in stages:
        return problems
    seen: set[str] = set()
    frontier = [pipeline.start]
    while frontier:
        name = frontier.pop()
        if name in seen or name not in stages:
            continue
        seen.add(name)
        frontier.extend(targets(stages[name]))
        reject = stages[name].on_reject
        if reject is not None:
            frontier.append(reject)
    problems.extend(
        f"pipelines.{pname}.stages.{name}: not reachable from start"
        for name in stages
        if name not in seen
    )
    # `next` edges alone must be acyclic: then every cycle uses an on_reject edge, and those
    # are bounded by the review stage's max_revisions.
    for name in stages:
        cycle = _next_cycle(stages, name)
        if cycle:
            problems.append(
                f"pipelines.{pname}.stages.{name}.next: unbounded loop {' -> '.join(cycle)} "
                "(loops must go back through a review stage's on_reject)"
            )
    return problems


def _next_cycle(stages: Mapping[str, StageSpec], start: str) -> list[str] | None:
    """A path of ``next`` edges from ``start`` back to it, if there is one."""
    stack: list[tuple[str, list[str]]] = [(t, [start, t]) for t in targets(stages[start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        if name == start:
            return path
        if name in seen or name not in stages:
            continue
        seen.add(name)
        stack.extend((t, [*path, t]) for t in targets(stages[name]))
    return None


def _trigger_problems(at: str, trigger: TriggerSpec, registry: ContractRegistry) -> list[str]:
    try:
        contract = registry.get(trigger.kind)
    except ContractError as exc:
        return [f"{at}.trigger.kind: {exc}"]
    fields = {f.name for f in msgspec.structs.fields(contract)}
    if trigger.when not in fields:
        return [f"{at}.trigger.when: {trigger.kind} has no field {trigger.when!r}"]
    return []


def pipeline_version(spec: PipelineSpec) -> str:
    """A content hash of a pipeline's stage graph (start; each stage's role, output, next
    and on_reject): equal for configs that route work the same way."""
    graph = {
        "start": spec.start,
        "stages": {
            name: [stage.role, stage.output, stage.next, stage.on_reject]
            for name, stage in sorted(spec.stages.items())
        },
    }
    return hashlib.sha256(msgspec.json.encode(graph)).hexdigest()[:16]


class Pipelines:
    """The compiled, checked pipelines of a config.

    Raises:
        ConfigError: listing every problem ``config_problems`` finds.
    """

    def __init__(self, config: Config, registry: ContractRegistry) -> None:
        problems = config_problems(config, registry)
        if problems:
            raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
        self.config = config
        self.registry = registry
        self.stages: dict[tuple[str, str], Stage] = {}
        self.shapes: dict[str, Shape] = {}
        for pname, pipeline in config.pipelines.items():
            shape = self.shapes[pname] = Shape.of(pname, pipeline, registry)
            for sname, spec in pipeline.stages.items():
                contract = registry.get(spec.output)
                self.stages[pname, sname] = Stage(
                    pname,
                    sname,
                    spec,
                    contract,
                    contract is Verdict,
                    tuple(targets(spec)),
                    shape.branch.get(sname),
                    shape.mapped.get(sname),
                )
        #: Each pipeline's version: a content hash of its stage graph (what a run records).
        self.versions: dict[str, str] = {
            pname: pipeline_version(pipeline) for pname, pipeline in config.pipelines.items()
        }
        self.triggers: dict[str, list[tuple[str, TriggerSpec]]] = {}
        for pname, pipeline in config.pipelines.items():
            if pipeline.trigger is not None:
                self.triggers.setdefault(pipeline.trigger.kind, []).append(
                    (pname, pipeline.trigger)
                )

    @property
    def pipelines(self) -> Mapping[str, PipelineSpec]:
        """The pipeline specs by name."""
        return self.config.pipelines

    def stage(self, pipeline: str, stage: str) -> Stage:
        """The compiled stage (KeyError if unknown)."""
        return self.stages[pipeline, stage]
