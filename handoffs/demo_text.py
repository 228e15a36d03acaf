"""The demo's report as text for people: each told run's handoff chain (stage, revision,
outcome, quality markers, feedback, next action), the run a trigger started, the escalation
and its resolution, then the table and the commands to look further."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path

import msgspec

from handoffs.demo import DemoReport, Resolved, Story, Triggered
from handoffs.messages import Handoff, QualityMarkers
from handoffs.tables import format_table

__all__ = ["report_text", "summary_text"]

#: The widest line the report prints (longer ones end in "...").
WIDTH = 100
#: Feedback items shown per handoff; the rest are counted.
FEEDBACK_SHOWN = 2


def _short(text: str, width: int = WIDTH) -> str:
    """One line of at most ``width`` characters, its indentation kept."""
    indent = text[: len(text) - len(text.lstrip())]
    text = indent + " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _wrap(text: str, lines: int = 2) -> list[str]:
    """``text`` on at most ``lines`` lines of :data:`WIDTH`, the rest cut short."""
    indent = " " * (len(text) - len(text.lstrip()) + 2)
    return textwrap.wrap(text, WIDTH, subsequent_indent=indent, max_lines=lines, placeholder="...")


def _quality(quality: QualityMarkers) -> list[str]:
    """The markers in a few words: what failed first, then the figures; passed checks are
    left out."""
    failed = [f"{name} FAILED" for name, ok in quality.checks.items() if not ok]
    parts: list[str] = []
    if quality.tests_passed is False:
        failed.insert(0, "tests FAILED")
    if quality.sources_verified is False:
        failed.insert(0, "sources NOT verified")
    if quality.confidence is not None:
        parts.append(f"confidence {quality.confidence:.2f}")
    if quality.completeness is not None:
        parts.append(f"completeness {quality.completeness:.2f}")
    if quality.sources_verified:
        parts.append("sources verified")
    if quality.tests_passed:
        parts.append("tests passed")
    return failed + parts


def _fit(head: str, parts: list[str]) -> str:
    """``head`` and as many whole ``parts`` as fit in :data:`WIDTH`, then how many did not."""
    for shown in range(len(parts), 0, -1):
        more = f" (+{len(parts) - shown} more)" if shown < len(parts) else ""
        line = head + ", ".join(parts[:shown]) + more
        if len(line) <= WIDTH:
            return line
    return head.rstrip()


def _next(handoff: Handoff) -> str:
    """The next action, without a repeat of the feedback printed just above it."""
    head, _, rest = handoff.next_action.partition(": ")
    if handoff.feedback and rest and rest.startswith(handoff.feedback[0].issue[:40]):
        return head
    return handoff.next_action


def _says(h: Handoff) -> tuple[object, ...]:
    return (h.stage, h.outcome, [f.issue for f in h.feedback], h.next_action)


def _groups(handoffs: list[Handoff]) -> list[list[Handoff]]:
    """Consecutive handoffs that say the same thing (the same stage, outcome, feedback and
    next action, as a gate that fails every revision) are told once."""
    groups: list[list[Handoff]] = []
    for handoff in handoffs:
        if groups and _says(groups[-1][-1]) == _says(handoff):
            groups[-1].append(handoff)
        else:
            groups.append([handoff])
    return groups


def chain_lines(handoffs: list[Handoff], indent: str = "    ") -> list[str]:
    """A run's handoffs in order: what each stage handed on and where it went next (a next
    action already shown is not shown again)."""
    width = max((len(h.stage) for h in handoffs), default=0)
    pad = indent + " " * (width + 2)
    lines: list[str] = []
    shown: set[str] = set()
    for group in _groups(handoffs):
        first, last = group[0], group[-1]
        revision = f"r{first.revision}" + (f"-r{last.revision}" if len(group) > 1 else "")
        head = f"{indent}{first.stage:<{width}}  {revision:<5} {first.outcome:<11} "
        lines.append(_fit(head, _quality(first.quality)))
        for item in first.feedback[:FEEDBACK_SHOWN]:
            suggestion = f" -> {item.suggestion}" if item.suggestion else ""
            lines.append(_short(f"{pad}{item.source}: {item.issue}{suggestion}"))
        if len(first.feedback) > FEEDBACK_SHOWN:
            lines.append(f"{pad}(and {len(first.feedback) - FEEDBACK_SHOWN} more)")
        if (action := _next(last)) not in shown:
            shown.add(action)
            lines.append(_short(f"{pad}next: {action}"))
    return lines


def _input(story: Story) -> str:
    return msgspec.json.encode(story.run.input).decode()


def _ending(story: Story) -> str:
    run = story.run
    revisions = sum(run.revisions.values())
    counts = f"{run.handoffs} handoff{'s' * (run.handoffs != 1)}"
    if revisions:
        counts += f", {revisions} revision{'s' * (revisions != 1)}"
    reason = f": {run.reason}" if run.reason else ""
    return _short(f"  => {run.state} ({counts}){reason}")


def _story_lines(story: Story, descriptions: dict[str, str], origin: str = "") -> list[str]:
    run = story.run
    return [
        _short(f"{run.pipeline}: {descriptions.get(run.pipeline, '')}"),
        _short(f"  run {run.run_id}{origin}  input {_input(story)}"),
        *chain_lines(story.handoffs),
        _ending(story),
    ]


def _triggered_lines(told: Triggered, descriptions: dict[str, str]) -> list[str]:
    rule = told.trigger
    child = told.child.run
    return [
        *_story_lines(told.parent, descriptions),
        _short(
            f"  => its {rule.kind} has {rule.when} set: the {child.pipeline} trigger started "
            f"{child.run_id}"
        ),
        *_story_lines(told.child, descriptions, origin=f" (triggered by {told.artifact.id})"),
    ]


def _resolved_lines(resolved: Resolved) -> list[str]:
    escalation = resolved.escalation
    at = escalation.resolution.at if escalation.resolution else float("inf")
    before = [h for h in resolved.story.handoffs if h.created_at <= at]
    after = [h for h in resolved.story.handoffs if h.created_at > at]
    action = escalation.resolution.action if escalation.resolution else "?"
    feedback = escalation.resolution.feedback if escalation.resolution else None
    run = resolved.story.run
    return [
        _short(f"An escalation and its resolution: {run.pipeline} run {run.run_id}"),
        _short(f"  input {_input(resolved.story)}"),
        *chain_lines(before),
        *_wrap(f"  escalated {escalation.id} ({escalation.reason}): {escalation.summary}"),
        _short(f'  resolved: runtime.resolve(its id, "{action}", "{feedback or ""}")'),
        *chain_lines(after),
        _ending(resolved.story),
    ]


def summary_text(report: DemoReport) -> str:
    """The table, a row per pipeline then the total, and what the total adds up to."""
    headers = (
        "pipeline",
        "runs",
        "triggered",
        "completed",
        "escalated",
        "failed",
        "cancelled",
        "revisions",
        "handoffs",
        "wall s",
    )
    table: list[tuple[object, ...]] = [
        (
            r.pipeline,
            r.runs,
            r.triggered,
            r.completed,
            r.escalated,
            r.failed,
            r.cancelled,
            r.revisions,
            r.handoffs,
            f"{r.wall_seconds:.2f}",
        )
        for r in report.rows
    ]
    total = report.rows[-1]
    by = sorted(r.pipeline for r in report.rows[:-1] if r.triggered)
    started = f" ({', '.join(by)})" if by else ""
    note = (
        f"{total.runs} runs: {report.submitted} submitted + {total.triggered} started by a "
        f"trigger{started}"
    )
    if report.resolved is not None:
        note += "; 1 escalation approved above"
    if total.escalated:
        note += f"; {total.escalated} escalated, waiting for a person"
    return format_table(headers, table) + "\n" + note


def _look_further(report: DemoReport, config: Path) -> list[str]:
    directory = shlex.quote(str(report.directory))
    first = next((t.parent if isinstance(t, Triggered) else t for t in report.told), None)
    lines = [
        f"The store stays in {directory}. Look around with the daemon and its client:",
        f"  handoffs serve --config {shlex.quote(str(config))} --data {directory}",
    ]
    if first is not None:
        lines.append(
            f"  handoffs show {first.run.run_id}   "
            "(in another terminal; also handoffs runs, handoffs escalations)"
        )
    return lines


def report_text(report: DemoReport, config: Path) -> str:
    """The whole report: the told runs, the escalation, the table, where to look next."""
    sections: list[list[str]] = [
        _triggered_lines(told, report.descriptions)
        if isinstance(told, Triggered)
        else _story_lines(told, report.descriptions)
        for told in report.told
    ]
    if report.resolved is not None:
        sections.append(_resolved_lines(report.resolved))
    sections.append([summary_text(report)])
    sections.append(_look_further(report, config))
    return "\n\n".join("\n".join(lines) for lines in sections)
