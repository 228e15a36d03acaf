"""What ``handoffs check`` says about a sound config: its pipelines with their stages in
order, the most outputs each review or gate loop lets a run see, its fan-outs (how many
branches, where they join, the most outputs a run can see in each branch, the widest fan-out),
and its roles. A config without fan-out gets no fan-out lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from handoffs.actors.topology import Shape, targets
from handoffs.messages import GateSpec, JoinQuorum, PipelineSpec, StageSpec

if TYPE_CHECKING:
    from handoffs.config import LoadedConfig

__all__ = ["summarize"]


def summarize(loaded: LoadedConfig, name: str) -> list[str]:
    """The summary of ``loaded`` (read from ``name``): a line saying it is sound, then
    ``pipelines:`` and ``roles:`` with their details indented below."""
    config = loaded.config
    counts = f"{_count(len(config.pipelines), 'pipeline')}, {_count(len(config.roles), 'role')}"
    lines = [f"{name}: ok, {counts}", "pipelines:"]
    widest: tuple[int, str] = (1, "")
    for pname, pipeline in config.pipelines.items():
        trigger = pipeline.trigger
        started = f" (started by a {trigger.kind} with {trigger.when})" if trigger else ""
        shape = loaded.pipelines.shapes[pname]
        lines.append(f"  {pname}{started}: {_order(pipeline, shape)}")
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
        lines.extend(_fan_out_lines(pipeline, shape))
        for sname, stage in pipeline.stages.items():
            width = stage.max_items if stage.for_each is not None else len(targets(stage))
            if width > widest[0]:
                how = "up to max_items" if stage.for_each is not None else "branches"
                widest = (width, f"widest fan-out: {width} ({pname}.{sname}, {how})")
    if widest[1]:
        lines.append(widest[1])
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


def _order(pipeline: PipelineSpec, shape: Shape) -> str:
    """The stages along ``next`` from ``start`` (a fan-out's branches in parentheses, each
    up to its join); then any only an ``on_reject`` reaches."""
    stages = pipeline.stages
    seen: list[str] = []

    def walk(first: str, branch: str | None) -> tuple[list[str], str | None]:
        """The stages from ``first`` while they stay in ``branch``, and where that goes."""
        said: list[str] = []
        current: str | None = first
        while current is not None and current in stages and current not in seen:
            if said and shape.branch.get(current) != branch:
                return said, current  # the branch reached its join
            seen.append(current)
            nexts = targets(stages[current])
            said.append(current)
            if len(nexts) > 1:  # a static fan-out: one chain per branch, then the join
                chains: list[str] = []
                joins: list[str] = []
                for target in nexts:
                    chain, after = walk(target, shape.branch.get(target))
                    chains.append(" -> ".join(chain))
                    joins += [after] if after is not None and after not in joins else []
                said.append("(" + ", ".join(chains) + ")")
                current = joins[0] if joins else None
                continue
            current = nexts[0] if nexts else None
            if current is not None and stages.get(current, _NO_STAGE).for_each is not None:
                chain, current = walk(current, current)
                said.append(f"({' -> '.join(chain)} for each {stages[chain[0]].for_each})")
        return said, current

    said, _ = walk(pipeline.start, None)
    rest = [name for name in stages if name not in seen]
    return " -> ".join(said) + (f" (and {', '.join(rest)})" if rest else "")


_NO_STAGE = StageSpec(role="-", output="-")


def _fan_out_lines(pipeline: PipelineSpec, shape: Shape) -> list[str]:
    """Per fan-out: its branches and join; per branch: the most outputs a run sees in it."""
    stages = pipeline.stages
    lines: list[str] = []
    for sname, spec in stages.items():
        if sname not in shape.branch:
            continue
        branches = [t for t in targets(spec) if shape.branch.get(t) == t]
        if len(branches) > 1:
            lines.append(
                f"    fan-out {sname}: {len(branches)} branches ({', '.join(branches)})"
                + _joined(stages, shape, branches[0])
            )
        if spec.for_each is not None:
            lines.append(
                f"    map {sname}: one branch per item of {spec.for_each}, up to "
                f"{spec.max_items} (max_items)" + _joined(stages, shape, sname)
            )
    for label in sorted(shape.joins, key=list(stages).index):
        members = [s for s in stages if shape.branch.get(s) == label]
        runs = _outputs(stages, members)
        parts = ", ".join(f"{s} {runs[s]}" for s in members)
        most = sum(runs.values())
        per_item = stages[label].for_each is not None
        if per_item:
            items = stages[label].max_items
            said = f"at most {most} outputs per item ({parts}), {most * items} for {items} items"
        else:
            said = f"at most {_count(most, 'output')} ({parts})"
        lines.append(f"    branch {label}: {said}")
    return lines


def _joined(stages: Mapping[str, StageSpec], shape: Shape, label: str) -> str:
    join = shape.joins.get(label)
    if join is None:
        return ", each ends the run's work on its own"
    rule = stages[join].join
    kind = f"quorum {rule.quorum}" if isinstance(rule, JoinQuorum) else str(rule)
    return f", joined at {join} (join {kind})"


def _outputs(stages: Mapping[str, StageSpec], members: list[str]) -> dict[str, int]:
    """The most outputs each stage of one branch can hand over in a run (per item): one,
    or ``max_revisions + 1`` along a review loop of the branch or in a gate loop."""
    runs = dict.fromkeys(members, 1)
    for sname in members:
        spec = stages[sname]
        if spec.gates != GateSpec():
            runs[sname] = max(runs[sname], spec.max_revisions + 1)
        if spec.on_reject in runs:
            # Every stage from the one sent back to the review reruns per draft.
            current: str | None = spec.on_reject
            while current in runs and current != sname:
                runs[current] = max(runs[current], spec.max_revisions + 1)
                nxt = targets(stages[current])
                current = nxt[0] if len(nxt) == 1 else None
            runs[sname] = max(runs[sname], spec.max_revisions + 1)
    return runs


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
