"""The publishing agent: turns the approved draft into a Publication with a source list."""

from __future__ import annotations

import re

from handoffs.examples.content.claims import strip_markers
from handoffs.examples.content.contracts import Publication
from handoffs.examples.text import sentences, slugify, words
from handoffs.examples.upstream import upstream
from handoffs.messages import Draft, QualityMarkers, ResearchFindings, Result, Source, Task

__all__ = ["publish"]

_MARKER = re.compile(r"\s*\[(\d+)\]")


def publish(task: Task) -> Result:
    """Render the upstream Draft as Markdown: footnote markers and a numbered source list."""
    draft = upstream(task, Draft)
    research = upstream(task, ResearchFindings)
    by_url = {s.url: s for s in research.sources}
    sources = [by_url.get(url, Source(url=url)) for url in draft.citations]
    body = _MARKER.sub(lambda m: f"[^{m.group(1)}]", draft.body)
    notes = [f"[^{n}]: [{s.title or s.url}]({s.url})" for n, s in enumerate(sources, 1)]
    markdown = f"# {draft.title}\n\n{body}\n\n" + "\n".join(notes) + "\n"
    paragraphs = draft.body.split("\n\n")
    lead = sentences(paragraphs[1] if len(paragraphs) > 1 else draft.body)
    output = Publication(
        slug=slugify(draft.title),
        title=draft.title,
        summary=strip_markers(lead[0]) if lead else draft.title,
        body=markdown,
        sources=sources,
        keywords=draft.keywords,
        word_count=len(words(strip_markers(draft.body))),
    )
    verified = all(url in by_url for url in draft.citations)
    return Result(output, quality=QualityMarkers(completeness=1.0, sources_verified=verified))
