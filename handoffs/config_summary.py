"""What ``handoffs check`` says about a sound config: its pipelines with their stages in
order, the most outputs each review or gate loop lets a run see, and its roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handoffs.actors.topology import targets
from handoffs.messages import GateSpec, PipelineSpec

if TYPE_CHECKING:
    from handoffs.config import LoadedConfig

__all__ = ["summarize"]


def summarize(loaded: LoadedConfig, name: str) -> list[str]:
    """The summary of ``loaded`` (read from ``name``): a line saying it is sound, then
    ``pipelines:`` and ``roles:`` with their details indented below."""
    config = loaded.config
    counts = f"{_count(len(config.pipelines), 'pipeline')}, {_count(len(config.roles), 'role')}"
    lines = [f"{name}: ok, {counts}", "pipelines:"]
    for pname, pipeline in config.pipelines.items():
        trigger = pipeline.trigger
        started = f" (started by a {trigger.kind} with {trigger.when})" if trigger else ""
        lines.append(f"  {pname}{started}: {_order(pipeline)}")
        for sname, stage in pipeline.stages.items():
            limit = stage.max_revisions
            if stage.on_reject is not None:
                lines.append(
                    f"    review loop {stage.on_reject} -> {sname}: at most {limit + 1} drafts, "
                    f"then escalation (max_revisions {limit})"
                )
            if stage.gates != GateSpec():
                lines.append(
                    f"    gate loop {sname}: at most {limit + 1} outputs, then escalation "
                    f"(max_revisions {limit})"
                )
    lines.append("roles:")
    for role, spec in config.roles.items():
        if spec.llm is not None:
            kind = f"model {spec.llm.model}, {_count(spec.concurrency, 'call')} in flight"
        elif role in loaded.asynchronous:
            kind = f"async agent, {_count(spec.concurrency, 'task')} in flight"
        else:
            kind = f"sync agent, {_count(spec.concurrency, 'thread')}"
        stages = [
            f"{pname}.{sname}"
            for pname, pipeline in config.pipelines.items()
            for sname, stage in pipeline.stages.items()
            if stage.role == role
        ]
        lines.append(f"  {role}: {kind} ({', '.join(stages) or 'no stage'})")
    return lines


def _order(pipeline: PipelineSpec) -> str:
    """The stages along ``next`` from ``start``; then any only an ``on_reject`` reaches."""
    chain: list[str] = []
    said: list[str] = []
    current: list[str] = [pipeline.start]
    while current and not all(name in chain for name in current):
        current = [name for name in current if name not in chain]
        chain.extend(current)
        step = "(" + ", ".join(current) + ")" if len(current) > 1 else current[0]
        said.append(step)
        current = list(dict.fromkeys(t for name in current for t in targets(pipeline.stages[name])))
    rest = [name for name in pipeline.stages if name not in chain]
    return " -> ".join(said) + (f" (and {', '.join(rest)})" if rest else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
