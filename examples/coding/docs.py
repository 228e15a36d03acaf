"""The documentation agent: a reference page from a CodeChange (and its changelog entry)."""

from __future__ import annotations

from handoffs.examples.coding.diffs import functions, parse, usage_examples
from handoffs.examples.upstream import MissingInputError, upstream
from handoffs.messages import ChangelogEntry, CodeChange, DocPage, QualityMarkers, Result, Task

__all__ = ["write_docs"]


def write_docs(task: Task) -> Result:
    """Document the upstream CodeChange: overview, API, examples from its tests, how it works,
    testing status, and the changelog entry when there is one."""
    change = upstream(task, CodeChange)
    try:
        entry: ChangelogEntry | None = upstream(task, ChangelogEntry)
    except MissingInputError:
        entry = None
    files = parse(change.diff)
    api = functions(files)
    examples = usage_examples(files, {f.name for f in api})
    names = ", ".join(f"{f.name}()" for f in api)
    title = (
        f"{api[0].path.removesuffix('.py').replace('/', '.')}: {names}" if api else change.summary
    )
    sections: dict[str, list[str]] = {"Overview": [change.summary]}
    if api:
        sections["API"] = [
            f"### `{f.signature}`\n\n{f.doc or 'No docstring.'}\n\nDefined in `{f.path}`."
            for f in api
        ]
    if examples:
        sections["Examples"] = ["```python\n" + "\n".join(examples) + "\n```"]
    sections["How it works"] = [change.how_it_works]
    sections["Testing"] = [
        f"{change.tests_passed} tests pass and {change.tests_failed} fail after this change."
    ]
    if entry is not None:
        changes = "\n".join(f"- {c}" for c in entry.changes)
        sections["Changelog"] = [f"{entry.version}: {entry.summary}", changes]
    body = f"# {title}\n\n" + "\n\n".join(
        f"## {name}\n\n" + "\n\n".join(parts) for name, parts in sections.items()
    )
    page = DocPage(title=title[:200], body=body + "\n", sections=list(sections))
    quality = QualityMarkers(
        completeness=1.0 if api and examples else 0.6,
        tests_passed=change.tests_failed == 0,
        checks={"api_documented": all(f.doc for f in api), "has_examples": bool(examples)},
    )
    return Result(page, quality=quality)
