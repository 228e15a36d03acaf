"""The join of the release pattern: the changelog entry and the reference docs, written in
parallel from one CodeChange, become one release page."""

from __future__ import annotations

import re

from handoffs.examples.upstream import upstream
from handoffs.messages import ChangelogEntry, CodeChange, DocPage, QualityMarkers, Result, Task

__all__ = ["write_release_notes"]

_HEADING = re.compile(r"^(#{1,5}) ", re.MULTILINE)


def write_release_notes(task: Task) -> Result:
    """One DocPage: the changelog entry, then the docs page one heading level down."""
    change = upstream(task, CodeChange)
    entry = upstream(task, ChangelogEntry)
    page = upstream(task, DocPage)
    title = f"Release {entry.version}: {change.summary}"[:200]
    changes = "\n".join(f"- {c}" for c in entry.changes)
    docs = _HEADING.sub(lambda m: "#" + m.group(1) + " ", page.body.strip())
    body = (
        f"# {title}\n\n## Changelog\n\n{entry.summary}\n\n{changes}\n\n## Documentation\n\n{docs}\n"
    )
    notes = DocPage(title=title, body=body, sections=["Changelog", "Documentation", *page.sections])
    quality = QualityMarkers(
        completeness=1.0 if entry.changes and page.sections else 0.5,
        tests_passed=change.tests_failed == 0 and change.tests_passed > 0,
    )
    return Result(notes, quality=quality)
