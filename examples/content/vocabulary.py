"""The review vocabulary the reviewer writes and the writer reads: aspects and suggestions.

Any feedback source (reviewer, gate, human) can use it: a suggestion such as
``replace 'leverage' with 'use'`` is applied by the writer whatever its aspect.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "BRAND_VOICE",
    "CITATIONS",
    "TITLE_KEYWORD",
    "TITLE_LENGTH",
    "replacement",
    "replacements",
]

CITATIONS: Final = "citations"
BRAND_VOICE: Final = "brand_voice"
TITLE_LENGTH: Final = "title_length"
TITLE_KEYWORD: Final = "title_keyword"

_REPLACE = re.compile(r"replace '([^']+)' with '([^']*)'", re.IGNORECASE)


def replacement(old: str, new: str) -> str:
    """The suggestion text for replacing ``old`` with ``new``."""
    return f"replace '{old}' with '{new}'"


def replacements(text: str) -> dict[str, str]:
    """Every ``replace 'x' with 'y'`` pair in ``text``."""
    return dict(_REPLACE.findall(text))
