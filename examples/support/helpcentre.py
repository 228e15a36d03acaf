"""The help centre: public articles, the support runbook, ticket frequencies, and matching."""

from __future__ import annotations

import functools
from importlib import resources
from typing import NamedTuple, TypeVar

import msgspec
from handoffs.examples.loading import LOADING
from handoffs.examples.text import terms

__all__ = [
    "MIN_COVERAGE",
    "MIN_HITS",
    "Article",
    "HelpCentre",
    "Match",
    "RunbookEntry",
    "best_match",
    "helpcentre",
]


class Article(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A public help-centre article."""

    id: str
    product_area: str
    title: str
    url: str
    keywords: list[str]
    body: str


class RunbookEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A resolution the support team knows but the help centre does not document."""

    id: str
    product_area: str
    keywords: list[str]
    resolution: str


class HelpCentre(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the support agent knows."""

    common_threshold: int
    articles: list[Article]
    runbook: list[RunbookEntry]
    frequency: dict[str, int] = {}

    def is_common(self, entry_id: str) -> bool:
        """Whether the question ``entry_id`` answers comes up often."""
        return self.frequency.get(entry_id, 0) >= self.common_threshold


class Match(NamedTuple):
    """How well an entry's keywords cover a question; compares best-last."""

    hits: int
    same_area: bool
    coverage: float


_E = TypeVar("_E", Article, RunbookEntry)


#: An entry covers a question when at least this many of its keyword terms occur in it...
MIN_HITS = 2
#: ...and they make up at least this share of the question's terms.
MIN_COVERAGE = 0.4


@functools.cache
def helpcentre() -> HelpCentre:
    """The bundled help centre, decoded (and validated) once per process."""
    data = resources.files("handoffs.examples.support").joinpath("helpcentre.toml").read_bytes()
    with LOADING:
        return msgspec.toml.decode(data, type=HelpCentre)


def best_match(question: str, area: str, entries: list[_E]) -> tuple[_E, Match] | None:
    """The entry whose keywords best cover ``question`` (same product area first), if any
    covers it well enough."""
    asked = set(terms(question))
    best: tuple[_E, Match] | None = None
    for entry in entries:
        known = set(terms(" ".join(entry.keywords)))
        if isinstance(entry, Article):
            known |= set(terms(entry.title))
        hits = len(asked & known)
        match = Match(hits, entry.product_area == area, hits / len(asked) if asked else 0.0)
        if (
            hits >= MIN_HITS
            and match.coverage >= MIN_COVERAGE
            and (best is None or match > best[1])
        ):
            best = (entry, match)
    return best
