"""The map pattern: one section per key finding (``for_each = "research.key_findings"``), each
reviewed on its own, then an editor joins the sections into one Publication.

A section's first draft is its finding, cited to the source that backs it, under that source's
title; the reviewer's feedback (title length, topic keyword, brand voice, citations) is fixed
the way the article writer fixes it.
"""

from __future__ import annotations

import re

from handoffs.examples.content.claims import best_source
from handoffs.examples.content.contracts import Publication
from handoffs.examples.content.drafting import cite
from handoffs.examples.content.writer import revise
from handoffs.examples.text import number_word, slugify, title_case, words
from handoffs.examples.upstream import MissingInputError, previous, upstream
from handoffs.messages import Draft, QualityMarkers, ResearchFindings, Result, Source, Task

__all__ = ["edit_sections", "write_section"]

_MARKER = re.compile(r"\s*\[(\d+)\]")


def write_section(task: Task) -> Result:
    """Write (or revise) the section for this task's item: one key finding of the research."""
    research = upstream(task, ResearchFindings)
    topic = str(task.input.get("topic") or research.topic)
    if not isinstance(task.item, str) or not task.item.strip():
        raise MissingInputError(f"stage {task.stage!r} runs per finding; its item is {task.item!r}")
    finding = task.item.strip()
    draft = previous(task, Draft)
    if draft is None:
        index = best_source(finding, research.sources)
        if index is None:
            draft = Draft(title=f"Notes on {topic}", body=finding, keywords=[topic])
        else:
            source = research.sources[index]
            draft = Draft(
                title=source.title or f"Notes on {topic}",
                body=cite(finding, 1),
                citations=[source.url],
                keywords=[topic],
            )
    if task.feedback:
        draft = revise(draft, task.feedback, research, topic)
    number = (task.item_index or 0) + 1
    quality = QualityMarkers(
        completeness=1.0 if draft.citations else 0.0,
        confidence=research.confidence,
        sources_verified=set(draft.citations) <= {s.url for s in research.sources},
        notes=f"section {number} of {len(research.key_findings)}, revision {task.revision}",
    )
    return Result(draft, quality=quality)


def edit_sections(task: Task) -> Result:
    """The join: the reviewed sections, in finding order, as one article with one source list
    (each section's citation markers renumbered into it)."""
    research = upstream(task, ResearchFindings)
    topic = str(task.input.get("topic") or research.topic)
    sections = _sections(task)
    by_url = {s.url: s for s in research.sources}
    urls: list[str] = []
    parts: list[str] = []
    for draft in sections:

        def renumber(match: re.Match[str], draft: Draft = draft) -> str:
            n = int(match.group(1))
            if not 0 < n <= len(draft.citations):
                return ""
            url = draft.citations[n - 1]
            if url not in urls:
                urls.append(url)
            return f"[^{urls.index(url) + 1}]"

        parts.append(f"## {draft.title}\n\n{_MARKER.sub(renumber, draft.body)}")
    sources = [by_url.get(url, Source(url=url)) for url in urls]
    notes = "\n".join(f"[^{n}]: [{s.title or s.url}]({s.url})" for n, s in enumerate(sources, 1))
    title = f"{title_case(topic)}: {number_word(len(sections))} key findings"
    body = f"# {title}\n\n" + "\n\n".join(parts) + (f"\n\n{notes}\n" if notes else "\n")
    output = Publication(
        slug=slugify(title),
        title=title,
        summary=research.summary,
        body=body,
        sources=sources,
        keywords=[topic],
        word_count=sum(len(words(d.body)) for d in sections),
    )
    quality = QualityMarkers(
        completeness=1.0 if sections else 0.0,
        sources_verified=all(url in by_url for url in urls),
        notes=f"{len(sections)} section(s) joined",
    )
    return Result(output, quality=quality)


def _sections(task: Task) -> list[Draft]:
    """The upstream list of Drafts (the map branch's outputs, in item order)."""
    for stage, value in task.inputs.items():
        listed = isinstance(value, list) and value and all(isinstance(v, Draft) for v in value)
        if stage != task.stage and listed:
            return list(value)
    return []
