"""The shape of a pipeline: branches, joins and map fan-outs, and what makes one unsound.

A stage whose ``next`` names several stages fans out: each target starts a branch. A stage
with ``for_each`` starts a map branch: it, and every stage after it up to the join, runs once
per item. A stage with ``join`` waits for the branches that reach it. One level of fan-out is
supported: a branch does not fan out again. Every stage belongs to at most one branch, and a
review loop stays inside its branch, so revision counts per (branch, stage, item) are the
counts per stage (and item).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
import msgspec.inspect as mi
from handoffs.messages import ContractError, ContractRegistry, PipelineSpec, StageSpec

__all__ = ["Shape", "item_key", "split_key", "targets"]


def targets(spec: StageSpec) -> list[str]:
    """The stages ``spec`` hands its accepted output to."""
    nxt = spec.next
    if nxt is None:
        return []
    return [nxt] if isinstance(nxt, str) else list(nxt)


def item_key(stage: str, item: int | None) -> str:
    """How a run counts ``stage`` for one item of a map branch (``stage:item``)."""
    return stage if item is None else f"{stage}:{item}"


def split_key(key: str) -> tuple[str, int | None]:
    """``item_key`` read back."""
    stage, sep, item = key.partition(":")
    return (stage, int(item)) if sep and item.isdigit() else (key, None)


class Shape(msgspec.Struct, frozen=True):
    """One pipeline's branches and joins, by stage name."""

    #: The branch a stage is in (named after the stage that starts it), ``None``: the trunk.
    branch: dict[str, str | None]
    #: The ``for_each`` stage of the map branch a stage is in (it runs per item), or ``None``.
    mapped: dict[str, str | None]
    #: Per join stage, the stages whose ``next`` reaches it.
    inbound: dict[str, list[str]]
    #: Per branch, the join it ends in (``None``: it ends the run's work by itself).
    joins: dict[str, str | None]
    problems: list[str]

    @classmethod
    def of(cls, name: str, pipeline: PipelineSpec, registry: ContractRegistry) -> Shape:
        """Label every stage reachable from ``start``; collect what is unsound."""
        stages = pipeline.stages
        at = f"pipelines.{name}.stages"
        problems: list[str] = []
        branch: dict[str, str | None] = {}
        mapped: dict[str, str | None] = {}
        inbound: dict[str, list[str]] = {}
        for sname, spec in stages.items():
            if ":" in sname:
                problems.append(f"{at}.{sname}: ':' is reserved (a stage's items are stage:N)")
            for target in targets(spec):
                inbound.setdefault(target, []).append(sname)
        if pipeline.start not in stages:
            return cls(branch, mapped, {}, {}, problems)
        frontier: list[tuple[str, str | None, str | None]] = [(pipeline.start, None, None)]
        while frontier:
            sname, label, mapping = frontier.pop()
            if sname not in stages:
                continue
            spec = stages[sname]
            if spec.join is not None:
                label, mapping = None, None  # branches end at their join
            elif spec.for_each is not None:
                if label is not None:
                    problems.append(f"{at}.{sname}.for_each: a branch does not fan out again")
                label, mapping = sname, sname
            if sname in branch:
                if (branch[sname], mapped[sname]) != (label, mapping):
                    problems.append(f"{at}.{sname}: reached from two branches (join them first)")
                continue
            branch[sname], mapped[sname] = label, mapping
            nexts = targets(spec)
            if len(nexts) > 1 and label is not None:
                problems.append(f"{at}.{sname}.next: a branch does not fan out again")
            for target in nexts:
                fans = len(nexts) > 1 and (target not in stages or stages[target].join is None)
                frontier.append((target, target if fans else label, None if fans else mapping))
        joins: dict[str, str | None] = {}
        for sname, label in branch.items():
            if label is not None:
                joins.setdefault(label, None)
                for target in targets(stages[sname]):
                    if target in stages and stages[target].join is not None:
                        joins[label] = target
        problems += _join_problems(at, stages, inbound, branch, mapped)
        problems += _loop_problems(at, stages, branch)
        problems += _for_each_problems(at, stages, registry)
        return cls(branch, mapped, {j: inbound.get(j, []) for j in stages}, joins, problems)


def _join_problems(
    at: str,
    stages: Mapping[str, StageSpec],
    inbound: dict[str, list[str]],
    branch: dict[str, str | None],
    mapped: dict[str, str | None],
) -> list[str]:
    problems: list[str] = []
    for sname, spec in stages.items():
        into = inbound.get(sname, [])
        if spec.join is None:
            # Stages of one line reaching it one after the other (a loop) need no join.
            labels = {branch.get(p) for p in into} - {None, branch.get(sname)}
            if len(into) > 1 and labels:
                problems.append(
                    f"{at}.{sname}: {len(into)} branches reach it ({', '.join(into)}): "
                    'say how it waits for them (join = "all", "any" or { quorum = N })'
                )
            continue
        if len(into) < 2 and not any(mapped.get(p) for p in into):
            problems.append(f"{at}.{sname}.join: no branches to join (one stage reaches it)")
        quorum = getattr(spec.join, "quorum", None)
        if quorum is not None and not any(mapped.get(p) for p in into) and quorum > len(into):
            problems.append(f"{at}.{sname}.join: quorum {quorum} of {len(into)} branches")
    return problems


def _loop_problems(
    at: str, stages: Mapping[str, StageSpec], branch: dict[str, str | None]
) -> list[str]:
    problems: list[str] = []
    for sname, spec in stages.items():
        target = spec.on_reject
        if target is None or target not in branch or sname not in branch:
            continue
        if branch[target] != branch[sname]:
            problems.append(
                f"{at}.{sname}.on_reject: {target} is in another branch; a review loop stays "
                "inside its branch"
            )
    return problems


def _for_each_problems(
    at: str, stages: Mapping[str, StageSpec], registry: ContractRegistry
) -> list[str]:
    problems: list[str] = []
    for sname, spec in stages.items():
        if spec.for_each is None:
            continue
        source, _, field = spec.for_each.rpartition(".")
        if source not in stages:
            problems.append(f"{at}.{sname}.for_each: no stage named {source!r}")
            continue
        try:
            contract = registry.get(stages[source].output)
        except ContractError:
            continue  # said at its output
        info = mi.type_info(contract)
        fields = {f.name: f.type for f in getattr(info, "fields", ())}
        if field not in fields:
            problems.append(
                f"{at}.{sname}.for_each: {stages[source].output} has no field {field!r}"
            )
        elif not _is_list(fields[field]):
            problems.append(f"{at}.{sname}.for_each: {source}.{field} is not a list")
    return problems


def _is_list(tp: mi.Type) -> bool:
    if isinstance(tp, mi.UnionType):
        return any(_is_list(t) for t in tp.types if not isinstance(t, mi.NoneType))
    return isinstance(tp, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType)
