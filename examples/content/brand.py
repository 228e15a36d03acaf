"""The brand voice: words the house style bans (with their replacements) and the title rules."""

from __future__ import annotations

import re
from collections.abc import Mapping

from handoffs.examples.text import words

__all__ = ["BANNED", "TITLE_LIMIT", "banned_words", "replace_word"]

#: Maximum title length in characters (longer titles are cut off in search results).
TITLE_LIMIT = 70

#: Banned word -> the plain word to use instead.
BANNED: Mapping[str, str] = {
    "leverage": "use",
    "leverages": "uses",
    "leveraged": "used",
    "leveraging": "using",
    "utilize": "use",
    "utilizes": "uses",
    "utilized": "used",
    "utilizing": "using",
    "seamless": "smooth",
    "seamlessly": "smoothly",
    "synergy": "cooperation",
    "synergies": "shared benefits",
    "cutting-edge": "modern",
    "best-in-class": "leading",
    "world-class": "excellent",
    "game-changer": "big step forward",
    "game-changing": "significant",
    "revolutionary": "new",
    "disruptive": "new",
}


def banned_words(text: str) -> list[str]:
    """The distinct banned words in ``text``, lowercase, in order of first use."""
    return list(dict.fromkeys(w for w in words(text) if w in BANNED))


def replace_word(text: str, old: str, new: str) -> str:
    """Replace the whole word ``old`` (any case) with ``new``, keeping a leading capital."""
    pattern = re.compile(rf"(?<![\w-]){re.escape(old)}(?![\w-])", re.IGNORECASE)

    def keep_case(match: re.Match[str]) -> str:
        return new[:1].upper() + new[1:] if match.group(0)[:1].isupper() else new

    return pattern.sub(keep_case, text)
