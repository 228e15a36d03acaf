"""The changelog agent: a Keep-a-Changelog style entry from a CodeChange's diff."""

from __future__ import annotations

from handoffs.examples.coding.diffs import functions, parse
from handoffs.examples.upstream import upstream
from handoffs.messages import ChangelogEntry, CodeChange, QualityMarkers, Result, Task

__all__ = ["write_changelog"]

_VERB = {"added": "Added", "modified": "Changed", "deleted": "Removed"}


def write_changelog(task: Task) -> Result:
    """One entry for the upstream CodeChange, versioned by ``task.input["version"]``."""
    change = upstream(task, CodeChange)
    files = parse(change.diff)
    lines = [f"Added `{f.signature}`." for f in functions(files)]
    for f in files:
        if f.path.startswith("tests/"):
            continue
        delta = f"+{len(f.added)}/-{len(f.removed)} lines"
        lines.append(f"{_VERB[f.status]} `{f.path}` ({delta}).")
    tests = [f.path for f in files if f.path.startswith("tests/") and f.status != "deleted"]
    if tests:
        lines.append(f"Tests: {', '.join(f'`{t}`' for t in tests)}.")
    if not files:  # a change without a diff: say what the handoff says
        lines = [f"Changed `{path}`." for path in change.files_changed]
    entry = ChangelogEntry(
        version=str(task.input.get("version") or "Unreleased"),
        summary=change.summary,
        changes=lines,
    )
    return Result(entry, quality=QualityMarkers(completeness=1.0 if files else 0.5))
