"""The writer's first draft: an article composed from research findings, one paragraph per source.

Like many people, the first draft cites once per paragraph, at its end; when a source gave two
findings, the first of them goes uncited until a reviewer asks for it. Its headline is the
title of the source the top finding came from, which may be long or miss the topic keyword.
"""

from __future__ import annotations

from collections import Counter

from handoffs.examples.content.claims import best_source
from handoffs.examples.text import GENERIC, STOPWORDS, number_word, stem, terms, words
from handoffs.messages import Draft, ResearchFindings

__all__ = ["cite", "compose", "keywords"]


def cite(sentence: str, number: int) -> str:
    """``"Text."`` -> ``"Text [2]."``: the marker goes before the closing punctuation."""
    body, end = (sentence[:-1], sentence[-1]) if sentence[-1:] in ".!?" else (sentence, "")
    return f"{body} [{number}]{end}"


def keywords(research: ResearchFindings, topic: str, limit: int = 5) -> list[str]:
    """The topic plus the most frequent other words of the findings (their commonest form)."""
    topic_terms = set(terms(topic))
    surface: dict[str, Counter[str]] = {}
    for finding in research.key_findings:
        for word in words(finding):
            if word in STOPWORDS or word in GENERIC or len(word) < 4 or word.isdigit():
                continue
            surface.setdefault(stem(word), Counter())[word] += 1
    counts = Counter({t: sum(c.values()) for t, c in surface.items() if t not in topic_terms})
    ranked = sorted(counts, key=lambda t: (-counts[t], t))
    return [topic, *(surface[t].most_common(1)[0][0] for t in ranked[: limit - 1])]


def compose(research: ResearchFindings, topic: str) -> Draft:
    """The first draft of an article on ``topic`` from ``research``."""
    groups: dict[int, list[str]] = {}
    for finding in research.key_findings:
        index = best_source(finding, research.sources)
        groups.setdefault(-1 if index is None else index, []).append(finding)
    citations: list[str] = []
    paragraphs = [
        f"This article gathers what {number_word(len(groups))} sources say about {topic}."
    ]
    for index, findings in groups.items():
        if index < 0:
            paragraphs.append(" ".join(findings))
            continue
        citations.append(research.sources[index].url)
        paragraphs.append(" ".join([*findings[:-1], cite(findings[-1], len(citations))]))
    tags = keywords(research, topic)
    themes = ", ".join(tags[1:-1]) + f" and {tags[-1]}" if len(tags) > 2 else tags[-1]
    paragraphs.append(f"The themes that recur across the sources: {themes}.")
    first = (
        best_source(research.key_findings[0], research.sources) if research.key_findings else None
    )
    title = research.sources[first].title if first is not None else f"Notes on {topic}"
    return Draft(title=title, body="\n\n".join(paragraphs), citations=citations, keywords=tags)
