"""The content pattern's own contract: the published article."""

from __future__ import annotations

from typing import Annotated

import msgspec
from handoffs.messages import Source

__all__ = ["Publication"]

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]


class Publication(msgspec.Struct, frozen=True, kw_only=True):
    """A published article: Markdown body with numbered footnotes, and the sources they name."""

    slug: Slug
    title: ShortText
    summary: Text
    body: Annotated[str, msgspec.Meta(max_length=200_000)]
    sources: Annotated[list[Source], msgspec.Meta(max_length=200)] = []
    keywords: Annotated[list[ShortText], msgspec.Meta(max_length=50)] = []
    word_count: Annotated[int, msgspec.Meta(ge=0)] = 0
