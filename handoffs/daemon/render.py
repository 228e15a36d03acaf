"""Text for people: tables of runs and escalations, a run's handoff timeline (its branches
as a tree), journal lines."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from handoffs.actors.topology import split_key
from handoffs.daemon.wire import HandoffView, RunDetail, RunSummary
from handoffs.messages import Escalation, Event, QualityMarkers
from handoffs.tables import format_table

__all__ = [
    "escalation_table",
    "event_line",
    "quality_text",
    "run_table",
    "timeline",
]


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at else "-"


def _short(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def run_table(runs: list[RunSummary]) -> str:
    """Runs, one per row."""
    rows: list[tuple[object, ...]] = [
        (
            r.run_id,
            r.pipeline,
            r.state,
            r.stage or "-",
            r.handoff_count,
            sum(r.revisions.values()),
            _clock(r.updated_at),
            _short(r.reason, 40) or "-",
        )
        for r in runs
    ]
    headers = ("run", "pipeline", "state", "stage", "handoffs", "revisions", "updated", "reason")
    return format_table(headers, rows)


def escalation_table(escalations: list[Escalation]) -> str:
    """Escalations, one per row."""
    rows: list[tuple[object, ...]] = [
        (
            e.id,
            e.run_id,
            e.pipeline,
            e.stage,
            e.reason,
            e.state if e.resolution is None else f"{e.state} ({e.resolution.action})",
            _short(e.summary, 60),
        )
        for e in escalations
    ]
    return format_table(
        ("escalation", "run", "pipeline", "stage", "reason", "state", "summary"), rows
    )


def quality_text(quality: QualityMarkers) -> str:
    """Quality markers in one line: ``confidence 0.90, completeness 1.00, tests passed``."""
    parts: list[str] = []
    if quality.confidence is not None:
        parts.append(f"confidence {quality.confidence:.2f}")
    if quality.completeness is not None:
        parts.append(f"completeness {quality.completeness:.2f}")
    if quality.sources_verified is not None:
        parts.append("sources verified" if quality.sources_verified else "sources NOT verified")
    if quality.tests_passed is not None:
        parts.append("tests passed" if quality.tests_passed else "tests FAILED")
    parts.extend(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in quality.checks.items())
    if quality.notes:
        parts.append(f"notes: {_short(quality.notes, 80)}")
    return ", ".join(parts)


def _label(h: HandoffView) -> str:
    """The stage, with the item of a map branch: ``section[2]``."""
    return h.stage if h.item is None else f"{h.stage}[{h.item}]"


def _item_key(key: str) -> str:
    """A run's count key for one item of a map branch, ``section:2``, as ``section[2]``."""
    stage, item = split_key(key)
    return stage if item is None else f"{stage}[{item}]"


def _branch(h: HandoffView) -> str | None:
    """The branch a handoff belongs to (one per item of a map branch); ``None``: none.
    Without the config's branch (the stage left the config), the item alone says it."""
    if h.branch is not None:
        return h.branch if h.item is None else f"{h.branch}[{h.item}]"
    return None if h.item is None else f"item {h.item}"


def _tree(handoffs: list[HandoffView]) -> list[tuple[str | None, list[HandoffView]]]:
    """The handoffs in commit order, except that those committed while branches ran are
    grouped by branch (by name, a map branch's items in order): each group with its
    header line (``None``: none, before any branch), ``joined:`` after the branches."""
    groups: list[tuple[str | None, list[HandoffView]]] = []
    branches: dict[str, list[HandoffView]] = {}
    for h in handoffs:
        label = _branch(h)
        if label is None:
            if branches:  # the first handoff after the branches: the join (or what follows)
                groups.extend(_by_branch(branches))
                branches = {}
                groups.append((_JOINED, []))
            if not groups or groups[-1][0] not in (None, _JOINED):
                groups.append((None, []))
            groups[-1][1].append(h)
        else:
            branches.setdefault(label, []).append(h)
    groups.extend(_by_branch(branches))
    return groups


def _by_branch(
    branches: dict[str, list[HandoffView]],
) -> list[tuple[str | None, list[HandoffView]]]:
    def order(label: str) -> tuple[str, int]:
        h = branches[label][0]
        return (h.branch or "", -1 if h.item is None else h.item)

    return [(f"  branch {label}:", branches[label]) for label in sorted(branches, key=order)]


_JOINED = "  joined:"


def _handoff_lines(h: HandoffView, start: float, width: int) -> list[str]:
    offset = f"+{max(h.created_at - start, 0.0):.3f}s" if h.created_at and start else "-"
    stage = _label(h)
    head = f"{offset:>10}  {stage:<{width}}  r{h.revision} a{h.attempt}  {h.outcome:<11} {h.kind}"
    pad = " " * 12
    lines = [head.rstrip()]
    quality = quality_text(h.quality)
    if quality:
        lines.append(f"{pad}quality: {quality}")
    for f in h.feedback:
        aspect = f"{f.aspect}: " if f.aspect else ""
        suggestion = f" -> {_short(f.suggestion, 100)}" if f.suggestion else ""
        lines.append(
            f"{pad}feedback [{f.source}/{f.severity}] {aspect}{_short(f.issue, 100)}{suggestion}"
        )
    if h.next_action:
        lines.append(f"{pad}next: {_short(h.next_action, 100)}")
    if not isinstance(h.payload, msgspec.UnsetType):
        body = msgspec.json.format(msgspec.json.encode(h.payload), indent=2).decode()
        lines.extend(f"{pad}  {line}" for line in body.splitlines())
    return lines


def timeline(run: RunDetail, escalation: Escalation | None = None) -> str:
    """A run's header and its handoffs in order, with quality markers and feedback; the
    handoffs of a run's branches grouped under a ``branch NAME:`` line each, in commit order
    within the branch, and ``joined:`` before what came after them."""
    lines = [
        f"run {run.run_id}  pipeline {run.pipeline}  state {run.state}"
        + (f"  stage {run.stage}" if run.stage else ""),
        f"input: {_short(msgspec.json.encode(run.input).decode(), 200)}",
    ]
    if run.revisions:
        said = (f"{_item_key(k)} {v}" for k, v in run.revisions.items())
        lines.append("revisions: " + ", ".join(said))
    if run.reason:
        lines.append(f"reason: {run.reason}")
    if escalation is not None:
        lines.append(
            f"escalation {escalation.id} ({escalation.reason}, {escalation.state}): "
            f"{_short(escalation.summary, 160)}"
        )
    lines.append("")
    if not run.handoffs:
        lines.append("no handoffs yet")
    width = max((len(_label(h)) for h in run.handoffs), default=5)
    for header, handoffs in _tree(run.handoffs):
        if header is not None:
            lines.append(header)
        for handoff in handoffs:
            lines.extend(_handoff_lines(handoff, run.created_at, width))
    return "\n".join(lines)


def event_line(event: Event) -> str:
    """One journal event on one line."""
    where = "/".join(x for x in (event.pipeline, event.stage) if x)
    parts: list[Any] = [
        f"{event.seq:>6}",
        _clock(event.at),
        f"{event.type:<20}",
        event.run_id or "-",
        where or "-",
    ]
    if event.detail:
        parts.append(_short(event.detail, 120))
    return "  ".join(str(p) for p in parts)
