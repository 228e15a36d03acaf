"""Agents for the console's fan-out config (``fanout.toml``), imported by the daemon
subprocess (on PYTHONPATH).

The run's input steers them: ``findings`` are the key findings (one map item each);
``reject`` lists the stages whose reviewer rejects the first draft (``review``: the
article's; ``check``: every section's), ``stuck`` the item (0-based) whose sections the
reviewer always rejects, so that item's branch escalates.
"""

from __future__ import annotations

from typing import Any

from handoffs.messages import (
    DocPage,
    Draft,
    Feedback,
    QualityMarkers,
    ResearchFindings,
    Result,
    Source,
    Task,
    Verdict,
)


def research(task: Task) -> ResearchFindings:
    """Findings about the input's topic."""
    topic = str(task.input.get("topic", "untitled"))[:200]
    return ResearchFindings(
        topic=topic,
        summary=f"What we know about {topic}.",
        key_findings=[str(f) for f in task.input.get("findings", ["one finding"])],
        sources=[Source(url="https://example.org/source")],
        confidence=0.9,
    )


def write(task: Task) -> Result:
    """A draft: the article, or in a map branch the section on the task's item."""
    about = str(task.input.get("topic", "untitled"))[:200] if task.item is None else task.item
    draft = Draft(title=f"{about}", body=f"Revision {task.revision} about {about}.")
    return Result(draft, quality=QualityMarkers(confidence=0.8, completeness=1.0))


def review(task: Task) -> Verdict:
    """Rejects a first draft of the stages ``reject`` names, and every draft of ``stuck``."""
    stuck = task.input.get("stuck")
    if (task.stage in task.input.get("reject", []) and task.revision == 0) or (
        stuck is not None and task.item_index == stuck
    ):
        return Verdict(
            approved=False,
            feedback=[Feedback(source="reviewer", issue="too vague", suggestion="add a number")],
        )
    return Verdict(approved=True)


def editor(task: Task) -> DocPage:
    """An FAQ about the research, or the join: one page naming what each branch gave it."""
    titles: list[str] = []
    for name in sorted(task.inputs):
        value: Any = task.inputs[name]
        values = value if isinstance(value, list) else [value]
        titles.extend(f"{name}: {v.title}" for v in values if isinstance(v, Draft | DocPage))
    return DocPage(title=f"{task.stage} of {len(titles)}", body="\n".join(titles) or "FAQ")
