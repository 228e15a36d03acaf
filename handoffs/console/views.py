"""What the console's pages show, computed from stored records (no HTTP here): a run's
timeline with each output decoded, the raw JSON beside it, and what changed between two
revisions of a stage (a line diff of its text fields).
"""

from __future__ import annotations

import difflib
from typing import Any, Final

import msgspec

from handoffs.messages import Handoff

__all__ = ["MAX_DIFF_LINES", "Change", "Entry", "decode_payload", "text_changes", "timeline"]

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
    previous_revision: int | None = None
    changes: list[Change] = []


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


def timeline(handoffs: list[Handoff]) -> list[Entry]:
    """Every handoff in order, each with the changes since its stage's previous output."""
    entries: list[Entry] = []
    last: dict[str, tuple[int, Any]] = {}
    for number, handoff in enumerate(handoffs, start=1):
        payload = decode_payload(handoff)
        previous = last.get(handoff.stage)
        entries.append(
            Entry(
                number=number,
                handoff=handoff,
                outcome=_OUTCOMES.get(handoff.outcome, handoff.outcome),
                payload=payload,
                raw=_raw(payload),
                previous_revision=previous[0] if previous else None,
                changes=text_changes(previous[1], payload) if previous else [],
            )
        )
        last[handoff.stage] = (handoff.revision, payload)
    return entries
