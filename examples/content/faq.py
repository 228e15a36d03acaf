"""The FAQ branch of the launch pattern: questions and answers from the research, and the
join that publishes the reviewed article with its FAQ.

One question per key finding, asked about the finding's most telling word (the first one that
is neither a stopword, a generic word nor part of the topic); the answer is the finding,
credited to the source that backs it.
"""

from __future__ import annotations

import msgspec
from handoffs.examples.content.claims import best_source
from handoffs.examples.content.contracts import Publication
from handoffs.examples.content.publisher import publish
from handoffs.examples.text import GENERIC, STOPWORDS, stem, terms, title_case, words
from handoffs.examples.upstream import upstream
from handoffs.messages import FAQEntry, KBArticle, QualityMarkers, ResearchFindings, Result, Task

__all__ = ["publish_with_faq", "question", "write_faq"]


def question(finding: str, topic: str) -> str:
    """``"Panels lose 0.5% a year."``, ``"solar panels"`` -> ``"What about panels ...?"``."""
    topic_terms = set(terms(topic))
    for word in words(finding):
        if word in STOPWORDS or word in GENERIC or len(word) < 4 or word.isdigit():
            continue
        if stem(word) not in topic_terms:
            return f"What do the sources say about {word} and {topic}?"
    return f"What do the sources say about {topic}?"


def write_faq(task: Task) -> Result:
    """An FAQ (a KBArticle with one entry per key finding) from the upstream research."""
    research = upstream(task, ResearchFindings)
    topic = str(task.input.get("topic") or research.topic)
    entries = []
    for finding in research.key_findings:
        index = best_source(finding, research.sources)
        credit = f" (source: {research.sources[index].title})" if index is not None else ""
        entries.append(FAQEntry(question=question(finding, topic), answer=finding + credit))
    body = "\n\n".join(f"**{e.question}**\n\n{e.answer}" for e in entries)
    article = KBArticle(
        title=f"{title_case(topic)}: questions and answers",
        body=body or f"No questions about {topic} yet.",
        product_area=topic,
        faq=entries,
    )
    credited = sum(" (source: " in e.answer for e in entries)
    quality = QualityMarkers(
        completeness=round(credited / len(entries), 2) if entries else 0.0,
        confidence=research.confidence,
        notes=f"{len(entries)} question(s), {credited} credited to a source",
    )
    return Result(article, quality=quality)


def publish_with_faq(task: Task) -> Result:
    """The join: publish the reviewed article (as ``publish`` does) with the FAQ appended."""
    published = publish(task)
    article = published.output
    assert isinstance(article, Publication)
    faq = upstream(task, KBArticle)
    section = "\n\n".join(f"### {e.question}\n\n{e.answer}" for e in faq.faq)
    body = f"{article.body}\n## Questions and answers\n\n{section}\n" if section else article.body
    output = msgspec.structs.replace(article, body=body)
    return Result(output, quality=published.quality)
