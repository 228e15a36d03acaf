"""Sentence ranking: which sentences of a set of documents carry their key findings.

A sentence scores for sharing terms with sentences elsewhere in the set (centrality: the
sources agree on it), for covering the topic's own terms, and a little for stating a figure.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

from handoffs.examples.content.corpus import Document
from handoffs.examples.text import sentences, terms

__all__ = ["Scored", "pick", "rank"]

_DIGIT = re.compile(r"\d")


class Scored(NamedTuple):
    """A ranked sentence and the document it comes from."""

    score: float
    sentence: str
    url: str


def rank(docs: list[Document], topic: str) -> list[list[Scored]]:
    """Each document's sentences, best first; documents ordered by their best sentence."""
    topic_terms = set(terms(topic))
    split = [(doc, sentences(doc.text)) for doc in docs]
    df = Counter(t for _, sents in split for s in sents for t in set(terms(s)))
    ranked = []
    for doc, sents in split:
        scored = []
        for position, sentence in enumerate(sents):
            mine = set(terms(sentence))
            if not mine:
                continue
            others = mine - topic_terms
            centrality = sum(df[t] - 1 for t in others) / len(mine)
            topical = len(mine & topic_terms) / max(len(topic_terms), 1)
            figure = 0.5 if _DIGIT.search(sentence) else 0.0
            # Lead sentences usually state the point of a document: a small tie-breaker.
            lead = 0.1 * (len(sents) - position) / len(sents)
            score = round(centrality + 2 * topical + figure + lead, 4)
            scored.append(Scored(score, sentence, doc.url))
        scored.sort(key=lambda s: -s.score)
        if scored:
            ranked.append(scored)
    ranked.sort(key=lambda doc_sents: -doc_sents[0].score)
    return ranked


def pick(ranked: list[list[Scored]], limit: int) -> list[Scored]:
    """Up to ``limit`` findings, round-robin over documents so that every source counts once
    before any counts twice."""
    chosen: list[Scored] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(doc) for doc in ranked):
        for doc in ranked:
            if depth < len(doc) and len(chosen) < limit:
                chosen.append(doc[depth])
        depth += 1
    return chosen
