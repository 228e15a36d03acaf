"""The writer's revisions: one edit per kind of review feedback, each a pure Draft -> Draft."""

from __future__ import annotations

import msgspec
from handoffs.examples.content.brand import BANNED, TITLE_LIMIT, banned_words, replace_word
from handoffs.examples.content.claims import (
    SUPPORT_THRESHOLD,
    best_source,
    evidence,
    is_claim,
    markers,
    strip_markers,
    support,
)
from handoffs.examples.content.drafting import cite
from handoffs.examples.text import sentences, shorten, title_case
from handoffs.messages import Draft, ResearchFindings

__all__ = ["add_keyword", "cite_claims", "replace_words", "retitle"]


def cite_claims(draft: Draft, research: ResearchFindings) -> Draft:
    """Cite every claim from the research it rests on.

    A sentence keeps its markers when each points to a research source that backs it; any
    other claim is re-cited to the research source that backs it best (or left uncited when
    none does, for the reviewer to flag). Citations are renumbered in order of first use.
    """
    known = evidence(research)
    by_url = {s.url: s for s in research.sources}
    old = draft.citations

    def backed(n: int, sentence: str) -> str | None:
        source = by_url.get(old[n - 1]) if 0 < n <= len(old) else None
        ok = source is not None and support(sentence, source) >= SUPPORT_THRESHOLD
        return source.url if source is not None and ok else None

    planned: list[list[tuple[str, list[str]]]] = []  # paragraph -> (plain sentence, its urls)
    for paragraph in draft.body.split("\n\n"):
        row = []
        for sentence in sentences(paragraph):
            plain, numbers = strip_markers(sentence), markers(sentence)
            kept = [u for u in (backed(n, plain) for n in numbers) if u is not None]
            if numbers and len(kept) == len(numbers):
                row.append((plain, kept))
            elif not numbers and not is_claim(plain, known):
                row.append((plain, []))
            else:
                index = best_source(plain, research.sources)
                row.append((plain, [] if index is None else [research.sources[index].url]))
        planned.append(row)
    citations: list[str] = []
    paragraphs = []
    for row in planned:
        out = []
        for plain, cited in row:
            text = plain
            for url in cited:
                if url not in citations:
                    citations.append(url)
                text = cite(text, citations.index(url) + 1)
            out.append(text)
        paragraphs.append(" ".join(out))
    return msgspec.structs.replace(draft, body="\n\n".join(paragraphs), citations=citations)


def replace_words(draft: Draft, pairs: dict[str, str] | None = None) -> Draft:
    """Replace words in title and body: ``pairs`` if given, else every banned brand word."""
    if pairs is None:
        pairs = {w: BANNED[w] for w in banned_words(f"{draft.title} {draft.body}")}
    title, body = draft.title, draft.body
    for old, new in pairs.items():
        title, body = replace_word(title, old, new), replace_word(body, old, new)
    return msgspec.structs.replace(draft, title=title, body=body)


def add_keyword(draft: Draft, keyword: str) -> Draft:
    """Put the topic keyword in front of the title if it is not in it."""
    if keyword.lower() in draft.title.lower():
        return draft
    return msgspec.structs.replace(draft, title=f"{title_case(keyword)}: {draft.title}")


def retitle(draft: Draft, keyword: str, limit: int = TITLE_LIMIT) -> Draft:
    """Shorten the title to ``limit`` characters, keeping (or adding) the topic keyword."""
    title = add_keyword(draft, keyword).title
    if len(title) <= limit:
        return msgspec.structs.replace(draft, title=title)
    short = shorten(title, limit)
    if keyword.lower() not in short.lower():
        head = f"{title_case(keyword)}: "
        short = head + shorten(title, limit - len(head))
    return msgspec.structs.replace(draft, title=short)
