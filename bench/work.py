"""The work every system does: four stages, each returning a small contract instance.

research -> write -> review -> publish. Each stage's output carries a 2 KB text (the review's
verdict is the exception: a few fields). The stage functions are the same for handoffs, raw
pykka, AutoGen and LangGraph, so the systems differ only in how the outputs travel.
"""

from __future__ import annotations

import zlib

from handoffs.messages import (
    DocPage,
    Draft,
    Feedback,
    ResearchFindings,
    Source,
    Verdict,
)

__all__ = [
    "PAYLOAD_BYTES",
    "STAGES",
    "TEXT",
    "publish",
    "rejects_first_draft",
    "research",
    "review",
    "write",
]

PAYLOAD_BYTES = 2048
#: The stages in order; a review stage sits third so scenario (b) can reject drafts.
STAGES = ("research", "write", "review", "publish")
_WORDS = "agents hand work to each other through structured validated durable handoffs "
TEXT = (_WORDS * (PAYLOAD_BYTES // len(_WORDS) + 1))[:PAYLOAD_BYTES]
_SOURCES = [Source(url="https://example.org/handoffs", title="handoffs")]


def research(topic: str) -> ResearchFindings:
    """Stage 1: findings on ``topic`` with a 2 KB summary."""
    return ResearchFindings(
        topic=topic,
        summary=TEXT,
        key_findings=["handoffs are contracts", "the store is the truth"],
        sources=_SOURCES,
        confidence=0.9,
    )


def write(findings: ResearchFindings, revision: int = 0) -> Draft:
    """Stage 2: a 2 KB draft citing the findings' sources."""
    return Draft(
        title=f"{findings.topic} (rev {revision})",
        body=TEXT,
        citations=[source.url for source in findings.sources],
    )


def review(draft: Draft, reject: bool) -> Verdict:
    """Stage 3: approve the draft, or reject it with one feedback item."""
    if reject:
        return Verdict(
            approved=False,
            feedback=[Feedback(source="reviewer", issue="tighten the introduction")],
        )
    return Verdict(approved=True)


def publish(draft: Draft) -> DocPage:
    """Stage 4: the page as published, 2 KB."""
    return DocPage(title=draft.title, body=draft.body)


def rejects_first_draft(key: str, percent: int) -> bool:
    """Whether the review rejects the first draft of run ``key`` (deterministic, ~percent%)."""
    return zlib.crc32(key.encode()) % 100 < percent
