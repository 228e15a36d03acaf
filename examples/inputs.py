"""Demo run inputs spread over the four patterns, with known outcomes.

The cycle starts with a run that needs revisions and one that escalates, so any demo of two
or more runs shows both. Outcomes with the bundled agents and configs:

=================  ============================================  =============================
pipeline           input                                         outcome
=================  ============================================  =============================
content            solar panels                                  2 revisions (title keyword,
                                                                 then title length), published
content            electric bikes                                escalated (1 source < 2)
support            export invoices as CSV (customer email)       doc gap -> knowledge_base run:
                                                                 1 revision (personal data)
coding             slugify                                       1 revision (a test fails)
content            sourdough                                     published, no revision
support            reset a password                              resolved from the help centre
coding             reading_time                                  tests pass; changelog, docs
content            vector databases                              1 revision (citations, title)
support            pay with cryptocurrency                       doc gap -> knowledge_base run
                                                                 escalated (no answer known)
content            coffee roasting                               1 revision (citations, brand
                                                                 voice, title keyword)
support            refund webhook                                doc gap -> article approved
coding             title_case                                    escalated (tests never pass)
content            remote work                                   1 revision (brand voice,
                                                                 title keyword)
content            urban beekeeping                              escalated (1 source < 2)
support            merge two accounts (customer email)           doc gap -> 1 revision
=================  ============================================  =============================
"""

from __future__ import annotations

from typing import Any

__all__ = ["CYCLE", "demo_inputs"]

CYCLE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("content", {"topic": "solar panels"}),
    ("content", {"topic": "electric bikes"}),
    (
        "support",
        {
            "question": "How do I export all my invoices as a CSV file?",
            "product_area": "billing",
            "customer": "jane.doe@example.com",
        },
    ),
    ("coding", {"feature": "slugify", "version": "1.3.0"}),
    ("content", {"topic": "sourdough"}),
    (
        "support",
        {
            "question": "Hi! I forgot my password and can't log in. How do I reset it?",
            "product_area": "account",
            "customer": "sam@example.net",
        },
    ),
    ("coding", {"feature": "reading_time", "version": "1.4.0"}),
    ("content", {"topic": "vector databases"}),
    (
        "support",
        {
            "question": "Can I pay for my subscription with cryptocurrency?",
            "product_area": "billing",
        },
    ),
    ("content", {"topic": "coffee roasting"}),
    (
        "support",
        {
            "question": "Which webhook tells me that a refund was issued?",
            "product_area": "integrations",
        },
    ),
    ("coding", {"feature": "title_case", "version": "1.5.0"}),
    ("content", {"topic": "remote work"}),
    ("content", {"topic": "urban beekeeping"}),
    (
        "support",
        {
            "question": "Can I merge my two accounts into one?",
            "product_area": "account",
            "customer": "lee@example.org",
        },
    ),
)


def demo_inputs(runs: int) -> list[tuple[str, dict[str, Any]]]:
    """``runs`` (pipeline, input) pairs, cycling through :data:`CYCLE` (fresh dicts each time)."""
    if runs < 0:
        raise ValueError(f"runs must be >= 0, got {runs}")
    return [(CYCLE[i % len(CYCLE)][0], dict(CYCLE[i % len(CYCLE)][1])) for i in range(runs)]
