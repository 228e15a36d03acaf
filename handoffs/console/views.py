"""What the console's pages show, computed from stored records (no HTTP here): a run's
timeline with each output decoded, the raw JSON beside it, and what changed between two
revisions of a stage (a line diff of its text fields); a run's branches as columns side by
side (one per item of a map branch), then the join.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, Final

import msgspec

from handoffs.messages import Handoff

if TYPE_CHECKING:
    from handoffs.actors.pipelines import Pipelines

__all__ = [
    "MAX_DIFF_LINES",
    "Change",
    "Column",
    "Entry",
    "Section",
    "decode_payload",
    "sections",
    "text_changes",
    "timeline",
]

#: Longest diff shown per field; the rest is summarised.
MAX_DIFF_LINES: Final = 400
_OUTCOMES: Final = {
    "accepted": "accepted",
    "rejected": "rejected",
    "gate_failed": "gate failed",
}


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One text field's change: lines as ``(" " | "+" | "-", text)``."""

    field: str
    lines: list[tuple[str, str]]
    omitted: int = 0


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One handoff on a timeline, ready to render."""

    number: int
    handoff: Handoff
    outcome: str
    payload: Any
    raw: str
    #: The stage, with the item of a map branch: ``section[2]``.
    label: str = ""
    #: The branch it ran in (``sections[2]``: one per item of a map branch); ``None``: none.
    branch: str | None = None
    previous_revision: int | None = None
    changes: list[Change] = []


class Column(msgspec.Struct, frozen=True, kw_only=True):
    """One branch's handoffs, in commit order."""

    branch: str
    entries: list[Entry]


class Section(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of the timeline: handoffs outside any branch (``joined``: the first after
    branches, the join), or branches side by side."""

    entries: list[Entry] = []
    columns: list[Column] = []
    joined: bool = False


def decode_payload(handoff: Handoff) -> Any:
    """The handoff's output as plain data (dicts, lists, text, numbers)."""
    return msgspec.msgpack.decode(handoff.payload)


def _raw(payload: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(payload), indent=2).decode()


def text_changes(old: Any, new: Any) -> list[Change]:
    """The line diffs of the text fields two outputs share, in the new output's order."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    changes = []
    for field, value in new.items():
        before = old.get(field)
        if not isinstance(value, str) or not isinstance(before, str) or value == before:
            continue
        lines = [
            (line[0], line[2:])
            for line in difflib.ndiff(before.splitlines(), value.splitlines())
            if line[:1] in (" ", "+", "-")
        ]
        changes.append(
            Change(
                field=field,
                lines=lines[:MAX_DIFF_LINES],
                omitted=max(0, len(lines) - MAX_DIFF_LINES),
            )
        )
    return changes


def _branch(handoff: Handoff, pipelines: Pipelines | None) -> str | None:
    """The branch ``handoff`` ran in, by the running config (as ``handoffs show`` says it);
    a stage gone from the config is placed by its item alone."""
    stage = None if pipelines is None else pipelines.stages.get((handoff.pipeline, handoff.stage))
    if stage is not None and stage.branch is not None:
        return stage.branch if handoff.item is None else f"{stage.branch}[{handoff.item}]"
    return None if handoff.item is None else f"item {handoff.item}"


def timeline(handoffs: list[Handoff], pipelines: Pipelines | None = None) -> list[Entry]:
    """Every handoff in order, each with the changes since its stage's (and item's) previous
    output; ``pipelines`` (the running config's) say which branch each ran in."""
    entries: list[Entry] = []
    last: dict[tuple[str, int | None], tuple[int, Any]] = {}
    for number, handoff in enumerate(handoffs, start=1):
        payload = decode_payload(handoff)
        key = (handoff.stage, handoff.item)
        previous = last.get(key)
        entries.append(
            Entry(
                number=number,
                handoff=handoff,
                outcome=_OUTCOMES.get(handoff.outcome, handoff.outcome),
                payload=payload,
                raw=_raw(payload),
                label=handoff.stage if handoff.item is None else f"{handoff.stage}[{handoff.item}]",
                branch=_branch(handoff, pipelines),
                previous_revision=previous[0] if previous else None,
                changes=text_changes(previous[1], payload) if previous else [],
            )
        )
        last[key] = (handoff.revision, payload)
    return entries


def sections(entries: list[Entry]) -> list[Section]:
    """The timeline in stretches: handoffs outside branches in commit order; those committed
    while branches ran, one column per branch (by name, a map branch's items in order);
    the first handoff after them (the join) starts a ``joined`` stretch."""
    found: list[Section] = []
    branches: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.branch is None:
            joined = bool(branches)
            if branches:
                found.append(_columns(branches))
                branches = {}
            if joined or not found or found[-1].columns:
                found.append(Section(joined=joined))
            found[-1].entries.append(entry)
        else:
            branches.setdefault(entry.branch, []).append(entry)
    if branches:
        found.append(_columns(branches))
    return found


def _columns(branches: dict[str, list[Entry]]) -> Section:
    def order(name: str) -> tuple[str, int]:
        first = branches[name][0]
        item = first.handoff.item
        return (name.partition("[")[0], -1 if item is None else item)

    names = sorted(branches, key=order)
    return Section(columns=[Column(branch=name, entries=branches[name]) for name in names])
