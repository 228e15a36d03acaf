"""Contracts: the msgspec Structs that say what each kind of output holds, and their registry.

A contract is any frozen ``msgspec.Struct``. The registry maps a name (used in pipeline
configs and stored as a handoff's ``kind``) to the type. The bundled contracts carry the
fields the seed document names for its four handoff patterns.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from typing import Annotated

import msgspec
from handoffs.messages.errors import ContractError
from handoffs.messages.quality import Fraction, ShortText, Text, Verdict

__all__ = [
    "BUNDLED_CONTRACTS",
    "ChangelogEntry",
    "CodeChange",
    "ContractRegistry",
    "DocPage",
    "Draft",
    "FAQEntry",
    "KBArticle",
    "ResearchFindings",
    "Source",
    "SupportResolution",
    "import_object",
]

Url = Annotated[str, msgspec.Meta(max_length=2000)]
Items = Annotated[list[Text], msgspec.Meta(max_length=200)]


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """A source a finding rests on."""

    url: Url
    title: ShortText = ""
    excerpt: Text = ""


class ResearchFindings(msgspec.Struct, frozen=True, kw_only=True):
    """Research -> content: what the researcher found, and on what it rests."""

    topic: ShortText = ""
    summary: Text
    key_findings: Items
    sources: Annotated[list[Source], msgspec.Meta(max_length=200)]
    confidence: Fraction


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """Content -> review: a piece of writing and the sources it cites."""

    title: ShortText
    body: Annotated[str, msgspec.Meta(max_length=200_000)]
    citations: Annotated[list[Url], msgspec.Meta(max_length=200)] = []
    keywords: Annotated[list[ShortText], msgspec.Meta(max_length=50)] = []


class SupportResolution(msgspec.Struct, frozen=True, kw_only=True):
    """Customer service -> knowledge base: a resolved inquiry, flagged when it shows a gap."""

    question: Text
    answer: Text
    product_area: ShortText
    is_common: bool = False
    doc_gap: bool = False


class FAQEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A question and its answer, written for the help centre."""

    question: Text
    answer: Text
    product_area: ShortText = ""


class KBArticle(msgspec.Struct, frozen=True, kw_only=True):
    """A knowledge-base help article."""

    title: ShortText
    body: Annotated[str, msgspec.Meta(max_length=200_000)]
    product_area: ShortText = ""
    faq: Annotated[list[FAQEntry], msgspec.Meta(max_length=100)] = []


class CodeChange(msgspec.Struct, frozen=True, kw_only=True):
    """Coding -> documentation: what changed, how it works, and how its tests went."""

    summary: Text
    files_changed: Annotated[list[ShortText], msgspec.Meta(max_length=1000)]
    how_it_works: Text
    tests_passed: Annotated[int, msgspec.Meta(ge=0)] = 0
    tests_failed: Annotated[int, msgspec.Meta(ge=0)] = 0
    diff: Annotated[str, msgspec.Meta(max_length=200_000)] = ""


class DocPage(msgspec.Struct, frozen=True, kw_only=True):
    """A documentation page for a feature."""

    title: ShortText
    body: Annotated[str, msgspec.Meta(max_length=200_000)]
    sections: Annotated[list[ShortText], msgspec.Meta(max_length=100)] = []


class ChangelogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry in a changelog."""

    version: ShortText
    summary: Text
    changes: Items = []


BUNDLED_CONTRACTS: Mapping[str, type[msgspec.Struct]] = {
    t.__name__: t
    for t in (
        ResearchFindings,
        Draft,
        Verdict,
        SupportResolution,
        FAQEntry,
        KBArticle,
        CodeChange,
        DocPage,
        ChangelogEntry,
    )
}

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def import_object(path: str) -> object:
    """Import ``"package.module:attribute"`` and return the attribute.

    Raises:
        ContractError: the path is malformed or does not import; the message says which part.
    """
    if not _IMPORT_PATH.match(path):
        raise ContractError(f"import path {path!r} is not of the form 'package.module:name'")
    module_name, _, attr_path = path.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ContractError(f"cannot import module {module_name!r} ({exc})") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ContractError(f"module {module_name!r} has no attribute {attr_path!r}") from None
    return obj


class ContractRegistry:
    """Name -> contract type. Starts with the bundled contracts; users add their own.

    Not thread-safe for writes: register everything before a runtime starts.
    """

    def __init__(self, contracts: Mapping[str, type[msgspec.Struct]] | None = None) -> None:
        self._types: dict[str, type[msgspec.Struct]] = dict(BUNDLED_CONTRACTS)
        for name, tp in (contracts or {}).items():
            self.register(tp, name=name)

    def register(self, contract: type[msgspec.Struct] | str, *, name: str | None = None) -> str:
        """Add a contract by class or by import path; return the name it is known by.

        Raises:
            ContractError: not a Struct type, or the name is taken by another type.
        """
        tp = import_object(contract) if isinstance(contract, str) else contract
        if not (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
            raise ContractError(f"contract {contract!r} is not a msgspec.Struct type")
        key = name or tp.__name__
        existing = self._types.get(key)
        if existing is not None and existing is not tp:
            raise ContractError(f"contract name {key!r} is already registered to {existing!r}")
        self._types[key] = tp
        return key

    def get(self, name: str) -> type[msgspec.Struct]:
        """The contract registered as ``name``.

        Raises:
            ContractError: no contract has that name.
        """
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(sorted(self._types))
            raise ContractError(f"unknown contract {name!r} (known: {known})") from None

    def name_of(self, tp: type[msgspec.Struct]) -> str | None:
        """The name ``tp`` is registered under, if any."""
        for name, registered in self._types.items():
            if registered is tp:
                return name
        return None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._types))

    def __len__(self) -> int:
        return len(self._types)
