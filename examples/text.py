"""Plain-text helpers the example agents share: words, terms, sentences, titles, slugs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources

import msgspec

__all__ = [
    "GENERIC",
    "STOPWORDS",
    "number_word",
    "overlap",
    "sentences",
    "shorten",
    "slugify",
    "stem",
    "terms",
    "title_case",
    "words",
]


class _WordLists(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    stopwords: str
    generic: str
    small: str
    numbers: str


_LISTS = msgspec.toml.decode(
    resources.files("handoffs.examples").joinpath("wordlists.toml").read_bytes(), type=_WordLists
)

#: Function words that carry no topic.
STOPWORDS = frozenset(_LISTS.stopwords.split())
#: Words too general to be an article's keyword.
GENERIC = frozenset(_LISTS.generic.split())
_SMALL_WORDS = frozenset(_LISTS.small.split())
_DANGLING = _SMALL_WORDS | STOPWORDS
_NUMBER_WORDS = _LISTS.numbers.split()

_APOSTROPHE = "\u2019"
_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
# A sentence ends at . ! or ? (optionally after a closing quote or bracket) followed by
# whitespace and something that can start a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"\u201d\u2019)]?\s+(?=[A-Z0-9\"\u201c(\[])")


def words(text: str) -> list[str]:
    """Lowercase word tokens; hyphenated and apostrophe words stay whole."""
    return _WORD.findall(text.lower().replace(_APOSTROPHE, "'"))


def stem(word: str) -> str:
    """A light English stemmer: folds plurals so ``invoices`` meets ``invoice``."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Content terms of ``text``: stemmed words without stopwords, in order, with repeats."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 2 or w.isdigit())]


def sentences(text: str) -> list[str]:
    """Split prose into sentences (the corpora avoid abbreviations such as "e.g.")."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def overlap(part: Iterable[str], whole: Iterable[str]) -> float:
    """The share of the distinct terms of ``part`` that also occur in ``whole`` (0 if empty)."""
    mine = set(part)
    if not mine:
        return 0.0
    return len(mine & set(whole)) / len(mine)


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary to at most ``limit`` characters, without a dangling
    small word or punctuation at the end."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else text[:limit]
    kept = cut.split()
    while kept and kept[-1].lower().strip(",;:-") in _DANGLING:
        kept.pop()
    return " ".join(kept).rstrip(",;:- ") or text[:limit]


def slugify(text: str, limit: int = 80) -> str:
    """``"Solar Panels: What to Know"`` -> ``"solar-panels-what-to-know"``."""
    slug = "-".join(re.findall(r"[a-z0-9]+", text.lower()))
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0]
    return slug or "untitled"


def title_case(phrase: str) -> str:
    """Headline case: capitalise each word except small words after the first."""
    out = []
    for i, word in enumerate(phrase.split()):
        lower = word.lower()
        out.append(lower if i and lower in _SMALL_WORDS else word[:1].upper() + word[1:])
    return " ".join(out)


def number_word(n: int) -> str:
    """``3`` -> ``"three"`` up to twenty, digits beyond."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)
