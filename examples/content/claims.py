"""Claims and citations: which sentences state research findings, and which source backs one.

Shared by the writer (to cite) and the reviewer (to check), so both read a draft the same way.
A citation is a marker such as ``[2]`` pointing into the draft's citation list (1-based).
"""

from __future__ import annotations

import re

from handoffs.examples.text import overlap, sentences, terms
from handoffs.messages import ResearchFindings, Source

__all__ = [
    "SUPPORT_THRESHOLD",
    "best_source",
    "evidence",
    "is_claim",
    "markers",
    "strip_markers",
    "support",
]

#: A sentence restating at least this share of a finding's terms is a claim; a source whose
#: excerpt holds at least this share of a sentence's terms supports it.
SUPPORT_THRESHOLD = 0.5

_MARKER = re.compile(r"\s*\[(\d+)\]")
_DIGIT = re.compile(r"\d")


def markers(sentence: str) -> list[int]:
    """The citation numbers in ``sentence``."""
    return [int(n) for n in _MARKER.findall(sentence)]


def strip_markers(sentence: str) -> str:
    """``sentence`` without its citation markers."""
    return _MARKER.sub("", sentence)


def evidence(research: ResearchFindings) -> list[list[str]]:
    """The terms of every finding and every excerpted sentence the research holds."""
    texts = [*research.key_findings]
    for source in research.sources:
        texts.extend(sentences(source.excerpt))
    return [terms(t) for t in texts]


def is_claim(sentence: str, known: list[list[str]]) -> bool:
    """Whether ``sentence`` states a fact: it has a figure, or restates a research finding."""
    text = strip_markers(sentence)
    if _DIGIT.search(text):
        return True
    mine = terms(text)
    return any(overlap(mine, ev) >= SUPPORT_THRESHOLD for ev in known)


def support(sentence: str, source: Source) -> float:
    """How much of ``sentence`` the source's excerpt and title back (0..1)."""
    return overlap(terms(strip_markers(sentence)), terms(f"{source.title} {source.excerpt}"))


def best_source(sentence: str, sources: list[Source]) -> int | None:
    """Index of the source that best supports ``sentence``, if any reaches the threshold."""
    scored = [(support(sentence, s), -i) for i, s in enumerate(sources)]
    if not scored:
        return None
    score, neg_index = max(scored)
    return -neg_index if score >= SUPPORT_THRESHOLD else None
