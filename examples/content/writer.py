"""The content agent: writes a Draft from the research and revises it from review feedback."""

from __future__ import annotations

from handoffs.examples.content.drafting import compose
from handoffs.examples.content.edits import add_keyword, cite_claims, replace_words, retitle
from handoffs.examples.content.vocabulary import (
    BRAND_VOICE,
    CITATIONS,
    TITLE_KEYWORD,
    TITLE_LENGTH,
    replacements,
)
from handoffs.examples.upstream import previous, upstream
from handoffs.messages import Draft, Feedback, QualityMarkers, ResearchFindings, Result, Task

__all__ = ["revise", "write"]


def revise(draft: Draft, feedback: list[Feedback], research: ResearchFindings, topic: str) -> Draft:
    """Apply every fix the feedback names: word replacements, then the title, then citations."""
    aspects = {fb.aspect for fb in feedback}
    pairs: dict[str, str] = {}
    for fb in feedback:
        pairs.update(replacements(f"{fb.issue}\n{fb.suggestion}"))
    if pairs:
        draft = replace_words(draft, pairs)
    elif BRAND_VOICE in aspects:
        draft = replace_words(draft)
    if TITLE_LENGTH in aspects:
        draft = retitle(draft, topic)
    elif TITLE_KEYWORD in aspects:
        draft = add_keyword(draft, topic)
    if CITATIONS in aspects:
        draft = cite_claims(draft, research)
    return draft


def write(task: Task) -> Result:
    """Write (or on a revision, fix) an article on the run's topic from the upstream research.

    A revision edits this stage's previous draft when the task carries it, else it redrafts
    from the research; either way it applies the fixes ``task.feedback`` names.
    """
    research = upstream(task, ResearchFindings)
    topic = str(task.input.get("topic") or research.topic)
    draft = previous(task, Draft) or compose(research, topic)
    if task.feedback:
        draft = revise(draft, task.feedback, research, topic)
    fixed = sorted({fb.aspect or fb.source for fb in task.feedback})
    quality = QualityMarkers(
        completeness=1.0 if draft.citations else 0.0,
        confidence=research.confidence,
        sources_verified=set(draft.citations) <= {s.url for s in research.sources},
        notes=f"revision {task.revision}: addressed {', '.join(fixed)}" if fixed else "first draft",
    )
    return Result(draft, quality=quality)
