"""The research library: a bundled corpus of short documents and topic search over it."""

from __future__ import annotations

import functools
from importlib import resources

import msgspec
from handoffs.examples.loading import LOADING
from handoffs.examples.text import terms

__all__ = ["Document", "corpus", "search"]


class Document(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One document of the corpus."""

    url: str
    title: str
    topics: list[str]
    text: str


class _Corpus(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    documents: list[Document]


@functools.cache
def corpus() -> tuple[Document, ...]:
    """The bundled corpus, decoded (and validated) once per process."""
    data = resources.files("handoffs.examples.content").joinpath("corpus.toml").read_bytes()
    with LOADING:
        return tuple(msgspec.toml.decode(data, type=_Corpus).documents)


def search(topic: str, *, broad: bool = False) -> list[Document]:
    """Documents filed under ``topic``, in corpus order.

    A document matches when one of its topic keywords equals the topic (case-insensitive).
    With ``broad``, a document also matches when every term of the topic occurs in its topic
    keywords or title, which catches "solar panel" for "solar panels" and similar near-misses.
    """
    wanted = " ".join(topic.lower().split())
    wanted_terms = set(terms(topic))
    found = []
    for doc in corpus():
        if wanted in (t.lower() for t in doc.topics):
            found.append(doc)
        elif broad and wanted_terms:
            filed = set(terms(" ".join([*doc.topics, doc.title])))
            if wanted_terms <= filed:
                found.append(doc)
    return found
